/// The pickle opcodes the restricted unpickler understands (protocols 2 to 5, binary forms only).
/// Case names are spelled exactly as CPython's `pickletools` spells them, so error messages and
/// `pickletools.dis` output can be read side by side.
enum PickleOpcode: UInt8, CaseIterable {
    // Framing and protocol.
    case PROTO = 0x80
    case FRAME = 0x95
    case STOP = 0x2E  // '.'

    // Scalars.
    case NONE = 0x4E  // 'N'
    case NEWTRUE = 0x88
    case NEWFALSE = 0x89
    case BININT = 0x4A  // 'J'  signed 32-bit
    case BININT1 = 0x4B  // 'K'  unsigned 8-bit
    case BININT2 = 0x4D  // 'M'  unsigned 16-bit
    case LONG1 = 0x8A  // length byte, then two's-complement little-endian
    case BINFLOAT = 0x47  // 'G'  big-endian IEEE double
    case BINUNICODE = 0x58  // 'X'  u32 length
    case SHORT_BINUNICODE = 0x8C  // u8 length
    case BINUNICODE8 = 0x8D  // u64 length
    case BINBYTES = 0x42  // 'B'  u32 length
    case SHORT_BINBYTES = 0x43  // 'C'  u8 length
    case BINBYTES8 = 0x8E  // u64 length

    // Containers.
    case EMPTY_DICT = 0x7D  // '}'
    case EMPTY_LIST = 0x5D  // ']'
    case EMPTY_TUPLE = 0x29  // ')'
    case DICT = 0x64  // 'd'
    case LIST = 0x6C  // 'l'
    case TUPLE = 0x74  // 't'
    case TUPLE1 = 0x85
    case TUPLE2 = 0x86
    case TUPLE3 = 0x87
    case APPEND = 0x61  // 'a'
    case APPENDS = 0x65  // 'e'
    case SETITEM = 0x73  // 's'
    case SETITEMS = 0x75  // 'u'

    // Stack and memo.
    case MARK = 0x28  // '('
    case POP = 0x30  // '0'
    case POP_MARK = 0x31  // '1'
    case DUP = 0x32  // '2'
    case BINPUT = 0x71  // 'q'
    case LONG_BINPUT = 0x72  // 'r'
    case MEMOIZE = 0x94
    case BINGET = 0x68  // 'h'
    case LONG_BINGET = 0x6A  // 'j'

    // Objects: recorded, never executed.
    case GLOBAL = 0x63  // 'c'  "module\nname\n"
    case STACK_GLOBAL = 0x93
    case REDUCE = 0x52  // 'R'
    case NEWOBJ = 0x81
    case BUILD = 0x62  // 'b'
    case BINPERSID = 0x51  // 'Q'

    var name: String { String(describing: self) }
}
