import Foundation

extension ValidationReport {
    /// The report as pretty-printed JSON with sorted keys (stable for diffs and scripts). Derived
    /// values that scripts want directly (accuracies, agreement) are included beside the counts.
    public func jsonBytes() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return [UInt8](try encoder.encode(Document(report: self)))
    }

    /// Decodes what `jsonBytes()` wrote.
    public static func decode(json bytes: [UInt8]) throws -> ValidationReport {
        try JSONDecoder().decode(Document.self, from: Data(bytes)).report
    }

    private struct Document: Codable {
        var report: ValidationReport
        var floatAccuracy: Double?
        var int8Accuracy: Double?
        var agreement: Double
        var version = 1

        init(report: ValidationReport) {
            self.report = report
            floatAccuracy = report.floatAccuracy
            int8Accuracy = report.int8Accuracy
            agreement = report.agreement
        }
    }
}
