/// Labels for an image folder laid out one subfolder per class (the seeds' dataset layout:
/// `data/<class name>/*.jpg`). Folder names are sorted; when the model's file carries labels, each
/// folder is matched to the label of the same name (so the order of the folders does not matter),
/// otherwise the i-th folder in sorted order is class i.
public enum ClassFolders {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case unknownClass(folder: String, labels: [String])
        case tooManyFolders(count: Int, classes: Int)
        case noFolders

        public var description: String {
            switch self {
            case .unknownClass(let folder, let labels):
                let shown = labels.prefix(12).joined(separator: ", ") + (labels.count > 12 ? ", …" : "")
                return "class folder '\(folder)' matches none of the model's labels (\(shown)); rename the folder or convert with --labels"
            case .tooManyFolders(let count, let classes):
                return "\(count) class folders but the model has \(classes) classes"
            case .noFolders:
                return "the folder has no class subfolders"
            }
        }
    }

    /// The class index of each folder name, in sorted folder order.
    public static func classIndices(folders: [String], modelLabels: [String]?, numClasses: Int) throws(Failure) -> [(folder: String, classIndex: Int)] {
        let sorted = folders.sorted()
        guard !sorted.isEmpty else { throw .noFolders }
        if let modelLabels {
            var result: [(folder: String, classIndex: Int)] = []
            for folder in sorted {
                guard let index = modelLabels.firstIndex(of: folder) else {
                    throw .unknownClass(folder: folder, labels: modelLabels)
                }
                result.append((folder, index))
            }
            return result
        }
        guard sorted.count <= numClasses else { throw .tooManyFolders(count: sorted.count, classes: numClasses) }
        return sorted.enumerated().map { ($0.element, $0.offset) }
    }
}
