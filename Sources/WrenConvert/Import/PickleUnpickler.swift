/// A restricted unpickler: turns pickle bytes (protocols 2 to 5) into an inert `PickleValue` tree.
///
/// How it stays safe:
/// - Nothing is imported or called. GLOBAL / STACK_GLOBAL names are checked against
///   `PickleAllowlist` the moment they are read; REDUCE, NEWOBJ, BUILD and BINPERSID only record
///   what would have been called. The single exception is `collections.OrderedDict()` with no
///   arguments, which becomes an empty dict, because SETITEMS then fills it like any dict.
/// - Every length and index is checked against the bytes left or the memo before use; every error
///   names the byte offset of the opcode that failed.
/// - Containers live in an arena while parsing (pickle mutates them after memoizing them: an
///   OrderedDict is memoized, then filled by SETITEMS, then BUILD gives it `_metadata`), and become
///   a value tree at STOP. That step bounds nesting depth (which also catches self-containing
///   containers) and the total number of values (memo sharing could otherwise expand exponentially).
/// - What the machine holds while parsing is bounded too: arena nodes, the references containers
///   keep to them, stack and memo slots count against `maxValues` before each one is added, so a
///   flood of one-byte opcodes (NONE, DUP, MEMOIZE, BINGET + APPEND) stops at a few tens of MB
///   instead of costing ~40 bytes per pickle byte.
public enum Unpickler {
    /// Deepest container nesting accepted. Torch checkpoints nest about 10 levels.
    public static let maxNesting = 100
    /// Memo sharing may expand the tree to at most this many values beyond twice the parsed ones.
    public static let expansionAllowance = 1 << 20

    /// - Parameter maxValues: how many values the machine may hold at once (`ImportLimits.maxParsedValues`).
    public static func parse(_ bytes: [UInt8], maxValues: Int = ImportLimits.default.maxParsedValues) throws(ImportError) -> PickleValue {
        var machine = PickleMachine(bytes: bytes, maxValues: maxValues)
        return try machine.run()
    }
}

/// A container or leaf under construction. Children are arena indices.
private enum PickleNode {
    case leaf(PickleValue)
    case tuple([Int])
    case list([Int])
    case dict([(key: Int, value: Int)])
    case reduce(callable: Int, arguments: Int)
    case persistentID(Int)
    case build(object: Int, state: Int)
}

extension PickleNode {
    /// The arena indices the node refers to.
    var referenceCount: Int {
        switch self {
        case .leaf: return 0
        case .tuple(let items), .list(let items): return items.count
        case .dict(let entries): return 2 * entries.count
        case .reduce, .build: return 2
        case .persistentID: return 1
        }
    }
}

private struct PickleMachine {
    let bytes: [UInt8]
    var position = 0
    /// Offset of the opcode being executed, for error messages.
    var opcodeOffset = 0
    var nodes: [PickleNode] = []
    var nodeOffsets: [Int] = []
    var stack: [Int] = []
    /// Stack heights at each MARK; items above the last one are the only ones an opcode may pop.
    var marks: [Int] = []
    var memo: [Int: Int] = [:]
    let maxValues: Int
    /// Child references stored in containers, calls and BUILD records (never decreases).
    var references = 0

    init(bytes: [UInt8], maxValues: Int) {
        self.bytes = bytes
        self.maxValues = maxValues
    }

    /// Refuses to grow past `maxValues` values held at once; called before each node, stack slot,
    /// memo entry or reference is added.
    func reserve(_ count: Int = 1) throws(ImportError) {
        let held = nodes.count + stack.count + memo.count + references
        guard count <= maxValues - held else { throw .pickleTooManyValues(limit: maxValues, offset: opcodeOffset) }
    }

    // MARK: Reading operands

    mutating func take(_ count: Int) throws(ImportError) -> Range<Int> {
        guard count >= 0, count <= bytes.count - position else { throw .pickleTruncated(offset: opcodeOffset) }
        defer { position += count }
        return position..<(position + count)
    }

    mutating func readByte() throws(ImportError) -> UInt8 {
        bytes[try take(1).lowerBound]
    }

    /// An unsigned little-endian integer of `width` bytes (at most 8).
    mutating func readLittleEndian(width: Int) throws(ImportError) -> UInt64 {
        let range = try take(width)
        var value: UInt64 = 0
        for index in range.reversed() { value = value << 8 | UInt64(bytes[index]) }
        return value
    }

    /// A byte count read from the stream, checked against the bytes left before it becomes an Int.
    mutating func readLength(width: Int) throws(ImportError) -> Int {
        let length = try readLittleEndian(width: width)
        guard length <= UInt64(bytes.count - position) else { throw .pickleTruncated(offset: opcodeOffset) }
        return Int(length)
    }

    mutating func readText(count: Int) throws(ImportError) -> String {
        let range = try take(count)
        guard let text = String(validating: bytes[range], as: UTF8.self) else {
            throw .pickleInvalidText(offset: opcodeOffset)
        }
        return text
    }

    /// A newline-terminated line (GLOBAL's operands).
    mutating func readLine() throws(ImportError) -> String {
        guard let newline = bytes[position...].firstIndex(of: 0x0A) else { throw .pickleTruncated(offset: opcodeOffset) }
        let text = try readText(count: newline - position)
        position += 1
        return text
    }

    // MARK: Stack, marks, memo

    mutating func push(_ node: PickleNode) throws(ImportError) {
        try reserve(2 + node.referenceCount)  // the node, its stack slot and its children
        references += node.referenceCount
        nodes.append(node)
        nodeOffsets.append(opcodeOffset)
        stack.append(nodes.count - 1)
    }

    mutating func pop(_ opcode: PickleOpcode) throws(ImportError) -> Int {
        guard stack.count > (marks.last ?? 0) else { throw .pickleStackUnderflow(opcode: opcode.name, offset: opcodeOffset) }
        return stack.removeLast()
    }

    func top(_ opcode: PickleOpcode) throws(ImportError) -> Int {
        guard stack.count > (marks.last ?? 0), let last = stack.last else {
            throw .pickleStackUnderflow(opcode: opcode.name, offset: opcodeOffset)
        }
        return last
    }

    /// The items pushed since the last MARK, removing them and the mark.
    mutating func popToMark(_ opcode: PickleOpcode) throws(ImportError) -> [Int] {
        guard let mark = marks.popLast() else { throw .pickleMissingMark(opcode: opcode.name, offset: opcodeOffset) }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    mutating func memoGet(_ index: Int) throws(ImportError) {
        guard let node = memo[index] else { throw .pickleBadMemoIndex(index: index, offset: opcodeOffset) }
        try reserve()
        stack.append(node)
    }

    mutating func memoPut(_ index: Int, _ opcode: PickleOpcode) throws(ImportError) {
        let node = try top(opcode)
        if memo[index] == nil { try reserve() }
        memo[index] = node
    }

    func leafString(_ node: Int, _ opcode: PickleOpcode) throws(ImportError) -> String {
        guard case .leaf(.string(let text)) = nodes[node] else {
            throw .pickleTypeMismatch(opcode: opcode.name, expected: "a string", offset: opcodeOffset)
        }
        return text
    }

    // MARK: Mutating containers in place

    /// The container a SETITEM / APPEND acts on: BUILD wrappers are looked through because pickle
    /// may fill an object after giving it state.
    func containerTarget(_ node: Int) -> Int {
        if case .build(let object, _) = nodes[node] { return containerTarget(object) }
        return node
    }

    mutating func append(_ items: [Int], to target: Int, _ opcode: PickleOpcode) throws(ImportError) {
        let container = containerTarget(target)
        guard case .list(var elements) = nodes[container] else {
            throw .pickleTypeMismatch(opcode: opcode.name, expected: "a list to append to", offset: opcodeOffset)
        }
        try reserve(items.count)
        references += items.count
        nodes[container] = .leaf(.none)  // drop the arena's reference so `elements` is appended in place
        elements.append(contentsOf: items)
        nodes[container] = .list(elements)
    }

    mutating func setItems(_ items: [Int], in target: Int, _ opcode: PickleOpcode) throws(ImportError) {
        guard items.count % 2 == 0 else {
            throw .pickleTypeMismatch(opcode: opcode.name, expected: "key/value pairs", offset: opcodeOffset)
        }
        let container = containerTarget(target)
        guard case .dict(var entries) = nodes[container] else {
            throw .pickleTypeMismatch(opcode: opcode.name, expected: "a dict to set items in", offset: opcodeOffset)
        }
        try reserve(items.count)
        references += items.count
        nodes[container] = .leaf(.none)
        for pair in stride(from: 0, to: items.count, by: 2) {
            entries.append((key: items[pair], value: items[pair + 1]))
        }
        nodes[container] = .dict(entries)
    }

    // MARK: Globals and calls

    mutating func pushGlobal(module: String, name: String) throws(ImportError) {
        guard PickleAllowlist.allows(module: module, name: name) else {
            throw .pickleGlobalNotAllowed(module: module, name: name, offset: opcodeOffset)
        }
        try push(.leaf(.global(module: module, name: name)))
    }

    mutating func pushCall(_ opcode: PickleOpcode) throws(ImportError) {
        let arguments = try pop(opcode)
        let callable = try pop(opcode)
        guard case .tuple(let argumentItems) = nodes[arguments] else {
            throw .pickleTypeMismatch(opcode: opcode.name, expected: "a tuple of arguments", offset: opcodeOffset)
        }
        if case .leaf(.global("collections", "OrderedDict")) = nodes[callable], argumentItems.isEmpty {
            try push(.dict([]))
        } else {
            try push(.reduce(callable: callable, arguments: arguments))
        }
    }

    /// BUILD keeps the object's arena identity (memo entries point at it) and moves its old
    /// content to a fresh node that the build record wraps.
    mutating func build() throws(ImportError) {
        let state = try pop(.BUILD)
        let object = try top(.BUILD)
        try reserve(3)  // the moved content and the record's two references
        references += 2
        nodes.append(nodes[object])
        nodeOffsets.append(nodeOffsets[object])
        nodes[object] = .build(object: nodes.count - 1, state: state)
    }

    // MARK: The loop

    mutating func run() throws(ImportError) -> PickleValue {
        while true {
            opcodeOffset = position
            let code = try readByte()
            guard let opcode = PickleOpcode(rawValue: code) else {
                throw .pickleUnknownOpcode(opcode: code, offset: opcodeOffset)
            }
            switch opcode {
            case .PROTO:
                let version = Int(try readByte())
                guard version <= 5 else { throw .pickleUnsupportedProtocol(version: version, offset: opcodeOffset) }
            case .FRAME:
                _ = try readLength(width: 8)  // frames are a buffering hint; only check the length fits
            case .STOP:
                guard stack.count == 1, marks.isEmpty else {
                    throw .pickleMalformedEnd(stackCount: stack.count, offset: opcodeOffset)
                }
                return try resolveTree(stack[0])

            case .NONE: try push(.leaf(.none))
            case .NEWTRUE: try push(.leaf(.bool(true)))
            case .NEWFALSE: try push(.leaf(.bool(false)))
            case .BININT: try push(.leaf(.int(Int64(Int32(truncatingIfNeeded: try readLittleEndian(width: 4))))))
            case .BININT1: try push(.leaf(.int(Int64(try readLittleEndian(width: 1)))))
            case .BININT2: try push(.leaf(.int(Int64(try readLittleEndian(width: 2)))))
            case .LONG1:
                let count = Int(try readByte())
                guard count <= 8 else { throw .pickleIntegerTooLarge(byteCount: count, offset: opcodeOffset) }
                let raw = try readLittleEndian(width: count)
                // Sign-extend from the top bit of the last byte.
                let shift = UInt64(64 - 8 * count)
                try push(.leaf(.int(count == 0 ? 0 : Int64(bitPattern: raw << shift) >> shift)))
            case .BINFLOAT:
                let range = try take(8)
                var raw: UInt64 = 0
                for index in range { raw = raw << 8 | UInt64(bytes[index]) }  // big-endian
                try push(.leaf(.float(Double(bitPattern: raw))))
            case .BINUNICODE: try push(.leaf(.string(try readText(count: try readLength(width: 4)))))
            case .SHORT_BINUNICODE: try push(.leaf(.string(try readText(count: try readLength(width: 1)))))
            case .BINUNICODE8: try push(.leaf(.string(try readText(count: try readLength(width: 8)))))
            case .BINBYTES: try push(.leaf(.bytes(Array(bytes[try take(try readLength(width: 4))]))))
            case .SHORT_BINBYTES: try push(.leaf(.bytes(Array(bytes[try take(try readLength(width: 1))]))))
            case .BINBYTES8: try push(.leaf(.bytes(Array(bytes[try take(try readLength(width: 8))]))))

            case .EMPTY_DICT: try push(.dict([]))
            case .EMPTY_LIST: try push(.list([]))
            case .EMPTY_TUPLE: try push(.tuple([]))
            case .TUPLE: try push(.tuple(try popToMark(opcode)))
            case .TUPLE1:
                let first = try pop(opcode)
                try push(.tuple([first]))
            case .TUPLE2:
                let second = try pop(opcode)
                let first = try pop(opcode)
                try push(.tuple([first, second]))
            case .TUPLE3:
                let third = try pop(opcode)
                let second = try pop(opcode)
                let first = try pop(opcode)
                try push(.tuple([first, second, third]))
            case .LIST: try push(.list(try popToMark(opcode)))
            case .DICT:
                let items = try popToMark(opcode)
                try push(.dict([]))
                try setItems(items, in: stack[stack.count - 1], opcode)
            case .APPEND:
                let item = try pop(opcode)
                try append([item], to: try top(opcode), opcode)
            case .APPENDS:
                let items = try popToMark(opcode)
                try append(items, to: try top(opcode), opcode)
            case .SETITEM:
                let value = try pop(opcode)
                let key = try pop(opcode)
                try setItems([key, value], in: try top(opcode), opcode)
            case .SETITEMS:
                let items = try popToMark(opcode)
                try setItems(items, in: try top(opcode), opcode)

            case .MARK:
                guard marks.count < Unpickler.maxNesting else {
                    throw .pickleNestingTooDeep(limit: Unpickler.maxNesting, offset: opcodeOffset)
                }
                marks.append(stack.count)
            case .POP:
                if stack.count > (marks.last ?? 0) {
                    stack.removeLast()
                } else {
                    _ = try popToMark(opcode)
                }
            case .POP_MARK: _ = try popToMark(opcode)
            case .DUP:
                let node = try top(opcode)
                try reserve()
                stack.append(node)
            case .BINPUT: try memoPut(Int(try readLittleEndian(width: 1)), opcode)
            case .LONG_BINPUT: try memoPut(Int(try readLittleEndian(width: 4)), opcode)
            case .MEMOIZE: try memoPut(memo.count, opcode)
            case .BINGET: try memoGet(Int(try readLittleEndian(width: 1)))
            case .LONG_BINGET: try memoGet(Int(try readLittleEndian(width: 4)))

            case .GLOBAL:
                let module = try readLine()
                let name = try readLine()
                try pushGlobal(module: module, name: name)
            case .STACK_GLOBAL:
                let name = try leafString(try pop(opcode), opcode)
                let module = try leafString(try pop(opcode), opcode)
                try pushGlobal(module: module, name: name)
            case .REDUCE, .NEWOBJ: try pushCall(opcode)
            case .BUILD: try build()
            case .BINPERSID:
                let identifier = try pop(opcode)
                try push(.persistentID(identifier))
            }
        }
    }

    // MARK: Arena → tree

    func resolveTree(_ root: Int) throws(ImportError) -> PickleValue {
        let limit = 2 * nodes.count + Unpickler.expansionAllowance
        var budget = limit
        return try resolve(root, depth: 0, budget: &budget, limit: limit)
    }

    func resolve(_ node: Int, depth: Int, budget: inout Int, limit: Int) throws(ImportError) -> PickleValue {
        guard depth <= Unpickler.maxNesting else {
            throw .pickleNestingTooDeep(limit: Unpickler.maxNesting, offset: nodeOffsets[node])
        }
        budget -= 1
        guard budget >= 0 else { throw .pickleExpansionTooLarge(limit: limit) }
        switch nodes[node] {
        case .leaf(let value):
            return value
        case .tuple(let items):
            var values: [PickleValue] = []
            values.reserveCapacity(items.count)
            for item in items { values.append(try resolve(item, depth: depth + 1, budget: &budget, limit: limit)) }
            return .tuple(values)
        case .list(let items):
            var values: [PickleValue] = []
            values.reserveCapacity(items.count)
            for item in items { values.append(try resolve(item, depth: depth + 1, budget: &budget, limit: limit)) }
            return .list(values)
        case .dict(let entries):
            var values: [PickleDictEntry] = []
            values.reserveCapacity(entries.count)
            for entry in entries {
                values.append(PickleDictEntry(
                    key: try resolve(entry.key, depth: depth + 1, budget: &budget, limit: limit),
                    value: try resolve(entry.value, depth: depth + 1, budget: &budget, limit: limit)))
            }
            return .dict(values)
        case .reduce(let callable, let arguments):
            return .reduce(
                callable: try resolve(callable, depth: depth + 1, budget: &budget, limit: limit),
                arguments: try resolve(arguments, depth: depth + 1, budget: &budget, limit: limit))
        case .persistentID(let identifier):
            return .persistentID(try resolve(identifier, depth: depth + 1, budget: &budget, limit: limit))
        case .build(let object, let state):
            return .build(
                object: try resolve(object, depth: depth + 1, budget: &budget, limit: limit),
                state: try resolve(state, depth: depth + 1, budget: &budget, limit: limit))
        }
    }
}
