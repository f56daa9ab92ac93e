import Testing
import WrenConvert

// Expected digests are the FIPS 180-2 / NIST CSRC example vectors for SHA-256.

/// SHA-256 against published vectors.
@Suite struct SHA256Tests {
    @Test(arguments: [
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func nistVectors(message: String, digest: String) {
        #expect(sha256Hex(Array(message.utf8)) == digest)
    }

    @Test func millionAs() {
        #expect(sha256Hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func streamingInUnevenPiecesMatchesOneShot() {
        // Lengths around the 55/56/64-byte padding boundaries, fed in pieces of 1, 7 and 63 bytes.
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 120, 200] {
            let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            for piece in [1, 7, 63] {
                var hasher = SHA256()
                for start in stride(from: 0, to: length, by: piece) {
                    hasher.update(Array(message[start..<min(start + piece, length)]))
                }
                let hex = hasher.finalize().map { String($0, radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined()
                #expect(hex == sha256Hex(message), "length \(length), pieces of \(piece)")
            }
        }
    }
}
