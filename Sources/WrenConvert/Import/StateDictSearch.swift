/// Finds a checkpoint's parameter dictionary in an unpickled value tree: at the top level or under
/// `state_dict` / `model` (which may hold `state_dict` / `model` once more), as training scripts of
/// every framework save it. `isStateDict` says what a parameter dict looks like in that format.
enum StateDictSearch {
    static func find(
        in root: PickleValue, fileName: String, isStateDict: ([PickleDictEntry]) -> Bool
    ) throws(ImportError) -> [PickleDictEntry] {
        func search(_ value: PickleValue, depth: Int) -> [PickleDictEntry]? {
            guard case .dict(let entries) = value.withoutBuild else { return nil }
            if isStateDict(entries) { return entries }
            guard depth < 2 else { return nil }
            for container in ["state_dict", "model"] {
                if let inner = value[container], let found = search(inner, depth: depth + 1) { return found }
            }
            return nil
        }
        if let found = search(root, depth: 0) { return found }
        var keys: [String] = []
        if case .dict(let entries) = root.withoutBuild {
            keys = entries.map { entry in
                if case .string(let text) = entry.key { return text }
                return entry.key.summary
            }
        }
        throw .noStateDict(file: fileName, topLevelKeys: keys)
    }
}
