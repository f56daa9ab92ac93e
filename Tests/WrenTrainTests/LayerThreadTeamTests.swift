import Testing
import WrenTrain

@Suite struct LayerThreadTeamTests {
    @Test(arguments: [1, 2, 4])
    func everyMemberRunsOncePerCall(_ threads: Int) throws {
        let team = try ThreadTeam(count: threads)
        let counts = TrainingBuffer(count: threads)
        for _ in 0..<200 {
            team.run({ counts, member in
                counts.assumingMemoryBound(to: UnsafeMutablePointer<Float>.self).pointee[member] += 1
            }, with: counts.values.baseAddress!)
        }
        #expect(counts.array == [Float](repeating: 200, count: threads))
    }

    @Test func sharesPartitionTheRangeInOrder() throws {
        let team = try ThreadTeam(count: 3)
        for total in [0, 1, 2, 3, 10, 64] {
            let shares = (0..<3).map { team.share(of: total, member: $0) }
            #expect(shares.first!.lowerBound == 0 && shares.last!.upperBound == total)
            #expect(zip(shares, shares.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(shares.map(\.count).max()! - shares.map(\.count).min()! <= 1, "\(total) split as \(shares)")
        }
    }

    @Test func invalidSizesAreRejected() {
        #expect(throws: TrainingError.self) { try ThreadTeam(count: 0) }
        #expect(ThreadTeam.single.count == 1)
    }
}
