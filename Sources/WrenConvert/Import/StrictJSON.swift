/// A small strict JSON parser (RFC 8259) for headers Wren must not take on trust (safetensors):
/// it keeps object members in order, refuses duplicate keys, keeps integers exact, bounds nesting,
/// and reports the byte offset of every error. Foundation's `JSONSerialization` silently keeps one
/// of two duplicate keys and turns integers into doubles, which is why it is not used here.
enum StrictJSON {
    indirect enum Value: Equatable {
        case object([Member])
        case array([Value])
        case string(String)
        /// A number written without fraction or exponent that fits in 64 bits.
        case integer(Int64)
        /// Any other number.
        case number(Double)
        case bool(Bool)
        case null

        /// The member named `key` of an object.
        subscript(key: String) -> Value? {
            guard case .object(let members) = self else { return nil }
            return members.first { $0.key == key }?.value
        }

        var kind: String {
            switch self {
            case .object: return "an object"
            case .array: return "an array"
            case .string: return "a string"
            case .integer, .number: return "a number"
            case .bool: return "a boolean"
            case .null: return "null"
            }
        }
    }

    struct Member: Equatable {
        var key: String
        var value: Value
    }

    struct ParseError: Error, Equatable {
        var offset: Int
        var reason: String
        /// The input holds more than the `maxValues` the parse was given (a limit, not bad JSON).
        var exceedsValueLimit = false
    }

    static let maxDepth = 64

    /// Parses one JSON value from UTF-8 `bytes`; only whitespace may follow it. At most `maxValues`
    /// values (object members count as one each) are parsed: a `Value` costs about 20 times the
    /// byte (`0,`) it may be written in.
    static func parse(_ bytes: [UInt8], maxValues: Int = ImportLimits.default.maxParsedValues) throws(ParseError) -> Value {
        var parser = Parser(bytes: bytes, maxValues: maxValues)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw ParseError(offset: parser.position, reason: "unexpected data after the JSON value") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var position = 0
        let maxValues: Int
        var valueCount = 0

        init(bytes: [UInt8], maxValues: Int) {
            self.bytes = bytes
            self.maxValues = maxValues
        }

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
        }

        func error(_ reason: String) -> ParseError { ParseError(offset: position, reason: reason) }

        mutating func expect(_ literal: String, _ value: Value) throws(ParseError) -> Value {
            let expected = Array(literal.utf8)
            guard bytes.count - position >= expected.count, Array(bytes[position..<(position + expected.count)]) == expected else {
                throw error("expected '\(literal)'")
            }
            position += expected.count
            return value
        }

        mutating func value(depth: Int) throws(ParseError) -> Value {
            guard depth < StrictJSON.maxDepth else { throw error("nesting deeper than \(StrictJSON.maxDepth) levels") }
            valueCount += 1
            guard valueCount <= maxValues else {
                throw ParseError(offset: position, reason: "more than \(maxValues) values", exceedsValueLimit: true)
            }
            guard let byte = current else { throw error("unexpected end of input") }
            switch byte {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw error("unexpected character '\(Character(Unicode.Scalar(byte)))'")
            }
        }

        mutating func object(depth: Int) throws(ParseError) -> Value {
            position += 1
            var members: [Member] = []
            var keys: Set<String> = []
            skipWhitespace()
            if current == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let keyOffset = position
                let key = try string()
                guard keys.insert(key).inserted else { throw ParseError(offset: keyOffset, reason: "duplicate key '\(key)'") }
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':' after key '\(key)'") }
                position += 1
                skipWhitespace()
                members.append(Member(key: key, value: try value(depth: depth + 1)))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"):
                    position += 1
                    return .object(members)
                default: throw error("expected ',' or '}' in an object")
                }
            }
        }

        mutating func array(depth: Int) throws(ParseError) -> Value {
            position += 1
            var items: [Value] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") {
                position += 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"):
                    position += 1
                    return .array(items)
                default: throw error("expected ',' or ']' in an array")
                }
            }
        }

        mutating func hexQuad() throws(ParseError) -> UInt32 {
            guard bytes.count - position >= 4 else { throw error("truncated \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw error("invalid hex digit in \\u escape")
                }
                value = value << 4 | digit
                position += 1
            }
            return value
        }

        /// A string; the input is already known to be valid UTF-8.
        mutating func string() throws(ParseError) -> String {
            position += 1
            var scalars = String.UnicodeScalarView()
            var runStart = position
            func flush(_ end: Int) {
                scalars.append(contentsOf: String(decoding: bytes[runStart..<end], as: UTF8.self).unicodeScalars)
            }
            while true {
                guard let byte = current else { throw error("unterminated string") }
                switch byte {
                case UInt8(ascii: "\""):
                    flush(position)
                    position += 1
                    return String(scalars)
                case UInt8(ascii: "\\"):
                    flush(position)
                    position += 1
                    guard let escape = current else { throw error("unterminated escape") }
                    position += 1
                    switch escape {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{08}")
                    case UInt8(ascii: "f"): scalars.append("\u{0C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        var code = try hexQuad()
                        if (0xD800...0xDBFF).contains(code) {
                            guard bytes.count - position >= 2, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                                throw error("unpaired surrogate in \\u escape")
                            }
                            position += 2
                            let low = try hexQuad()
                            guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate in \\u escape") }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let scalar = Unicode.Scalar(code) else { throw error("\\u escape names no character") }
                        scalars.append(scalar)
                    default:
                        throw error("invalid escape '\\\(Character(Unicode.Scalar(escape)))'")
                    }
                    runStart = position
                case 0x00..<0x20:
                    throw error("control character in a string")
                default:
                    position += 1
                }
            }
        }

        mutating func number() throws(ParseError) -> Value {
            let start = position
            if current == UInt8(ascii: "-") { position += 1 }
            func digits() -> Int {
                let first = position
                while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { position += 1 }
                return position - first
            }
            let integerStart = position
            let integerDigits = digits()
            guard integerDigits > 0 else { throw error("expected digits") }
            guard integerDigits == 1 || bytes[integerStart] != UInt8(ascii: "0") else {
                throw ParseError(offset: integerStart, reason: "leading zero in a number")
            }
            var isInteger = true
            if current == UInt8(ascii: ".") {
                isInteger = false
                position += 1
                guard digits() > 0 else { throw error("expected digits after '.'") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                isInteger = false
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                guard digits() > 0 else { throw error("expected digits in the exponent") }
            }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            if isInteger, let integer = Int64(text) { return .integer(integer) }
            guard let double = Double(text) else { throw ParseError(offset: start, reason: "number '\(text)' out of range") }
            return .number(double)
        }
    }
}
