/// The element type of a torch storage, named by the class `torch.save` writes (`torch.FloatStorage`, ...).
enum TorchStorageType: String, Sendable, CaseIterable {
    case float = "FloatStorage"
    case double = "DoubleStorage"
    case half = "HalfStorage"
    case bfloat16 = "BFloat16Storage"
    case long = "LongStorage"
    case int = "IntStorage"
    case short = "ShortStorage"
    case char = "CharStorage"
    case byte = "ByteStorage"
    case bool = "BoolStorage"

    var elementSize: Int {
        switch self {
        case .double, .long: return 8
        case .float, .int: return 4
        case .half, .bfloat16, .short: return 2
        case .char, .byte, .bool: return 1
        }
    }

    /// Only floating-point tensors become `FloatTensor`s; integer ones (`num_batches_tracked`) are left out.
    var isFloatingPoint: Bool {
        switch self {
        case .float, .double, .half, .bfloat16: return true
        case .long, .int, .short, .char, .byte, .bool: return false
        }
    }

    /// Reads element `index` of `storage` as a Float. `bigEndian` reflects the archive's `byteorder`.
    /// The caller has bounds-checked `index` against the storage's element count.
    @inline(__always)
    func floatValue(in storage: UnsafeRawBufferPointer, at index: Int, bigEndian: Bool) -> Float {
        switch self {
        case .float:
            let raw = storage.loadUnaligned(fromByteOffset: index &* 4, as: UInt32.self)
            return Float(bitPattern: bigEndian ? raw.byteSwapped : raw)
        case .double:
            let raw = storage.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self)
            return Float(Double(bitPattern: bigEndian ? raw.byteSwapped : raw))
        case .half:
            let raw = storage.loadUnaligned(fromByteOffset: index &* 2, as: UInt16.self)
            return Self.floatFromHalf(bigEndian ? raw.byteSwapped : raw)
        case .bfloat16:
            let raw = storage.loadUnaligned(fromByteOffset: index &* 2, as: UInt16.self)
            return Float(bitPattern: UInt32(bigEndian ? raw.byteSwapped : raw) << 16)
        case .long, .int, .short, .char, .byte, .bool:
            preconditionFailure("integer storages are never converted to Float")
        }
    }

    /// IEEE binary16 → binary32, exact (every half value is a float value). Written out rather than
    /// using `Float16` so it does not depend on the platform having that type.
    static func floatFromHalf(_ bits: UInt16) -> Float {
        let sign = UInt32(bits >> 15) << 31
        let exponent = Int(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x3FF)
        switch exponent {
        case 0:
            // Zero or subnormal: mantissa × 2^-24, exact in Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)  // inf or NaN
        default:
            return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | mantissa << 13)
        }
    }
}
