import Testing
import WrenConvert

// Pickle bytes below were produced by CPython 3.11's `pickle.dumps` (the command is given next to
// each); the expected trees are the Python objects that were pickled. Error cases are built by hand
// from the opcode table so that each one exercises exactly one failure.

private func pickleBytes(hex: String) -> [UInt8] { ImportFixtures.bytes(fromHex: hex) }
private func pickleError(_ bytes: [UInt8]) -> ImportError? {
    do {
        _ = try Unpickler.parse(bytes)
        return nil
    } catch {
        return error
    }
}

/// {'a': [1, -2, 3.5, None, True, False], 'b': (1, 2, 3), 'big': 2**40, 'neg': -2**63, 's': 'héllo',
///  'i32': -100000, 'u16': 65535}
private let scalarEntries: [PickleDictEntry] = [
    PickleDictEntry(key: .string("a"), value: .list([.int(1), .int(-2), .float(3.5), .none, .bool(true), .bool(false)])),
    PickleDictEntry(key: .string("b"), value: .tuple([.int(1), .int(2), .int(3)])),
    PickleDictEntry(key: .string("big"), value: .int(1 << 40)),
    PickleDictEntry(key: .string("neg"), value: .int(Int64.min)),
    PickleDictEntry(key: .string("s"), value: .string("héllo")),
    PickleDictEntry(key: .string("i32"), value: .int(-100_000)),
    PickleDictEntry(key: .string("u16"), value: .int(65535)),
]

/// The restricted unpickler on its own: what it builds, what it refuses.
@Suite struct PickleTests {
    @Test func parsesProtocol2Scalars() throws {
        // pickle.dumps(scalars, protocol=2)
        let bytes = pickleBytes(hex: "80027d71002858010000006171015d7102284b014afeffffff47400c0000000000004e88896558010000006271034b014b024b03877104580300000062696771058a0600000000000158030000006e656771068a0800000000000000805801000000737107580600000068c3a96c6c6f7108580300000069333271094a6079feff5803000000753136710a4dffff752e")
        #expect(try Unpickler.parse(bytes) == .dict(scalarEntries))
    }

    @Test func parsesProtocol5WithFramesMemoizeAndBytes() throws {
        // pickle.dumps(dict(scalars, by=b'\x00\x01\xff'), protocol=5)
        let bytes = pickleBytes(hex: "80059576000000000000007d94288c0161945d94284b014afeffffff47400c0000000000004e8889658c0162944b014b024b0387948c03626967948a060000000000018c036e6567948a0800000000000000808c0173948c0668c3a96c6c6f948c03693332944a6079feff8c03753136944dffff8c0262799443030001ff94752e")
        #expect(try Unpickler.parse(bytes) == .dict(scalarEntries + [PickleDictEntry(key: .string("by"), value: .bytes([0, 1, 255]))]))
    }

    @Test func memoSharedContainerSeesLaterMutation() throws {
        // x = []; obj = [x, x]; x.append(1); pickle.dumps(obj, protocol=2): the second x is a BINGET
        // of the list memoized while still empty, filled by APPEND afterwards.
        let bytes = pickleBytes(hex: "80025d7100285d71014b01616801652e")
        #expect(try Unpickler.parse(bytes) == .list([.list([.int(1)]), .list([.int(1)])]))
    }

    @Test(arguments: [
        // pickle.dumps(OrderedDict([('k', 1), ('j', (2,))]), protocol=2): GLOBAL, REDUCE, SETITEMS
        "800263636f6c6c656374696f6e730a4f726465726564446963740a7100295271012858010000006b71024b0158010000006a71034b02857104752e",
        // the same with protocol=4: STACK_GLOBAL
        "80049532000000000000008c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c016b944b018c016a944b028594752e",
    ])
    func orderedDictBecomesDict(hex: String) throws {
        #expect(try Unpickler.parse(pickleBytes(hex: hex)) == .dict([
            PickleDictEntry(key: .string("k"), value: .int(1)),
            PickleDictEntry(key: .string("j"), value: .tuple([.int(2)])),
        ]))
    }

    @Test func hostileGlobalsAreRefusedByName() {
        // GLOBAL 'posix system' at offset 2, then a string, TUPLE1, REDUCE, STOP.
        let system = [0x80, 0x02, 0x63] + Array("posix\nsystem\n".utf8) + [0x58, 1, 0, 0, 0, 0x78, 0x85, 0x52, 0x2E]
        #expect(pickleError(system) == .pickleGlobalNotAllowed(module: "posix", name: "system", offset: 2))
        // STACK_GLOBAL 'builtins' 'eval': the offset is that of STACK_GLOBAL.
        let eval = [0x80, 0x04, 0x8C, 8] + Array("builtins".utf8) + [0x8C, 4] + Array("eval".utf8) + [0x93, 0x2E]
        #expect(pickleError(eval) == .pickleGlobalNotAllowed(module: "builtins", name: "eval", offset: 18))
        #expect(pickleError(system)?.description == "global 'posix.system' is not allowed (offset 2)")
        // A whole pickled nn.Module gets a hint to save the state dict instead.
        let module = [0x80, 0x02, 0x63] + Array("torch.nn.modules.conv\nConv2d\n".utf8) + [0x2E]
        #expect(pickleError(module)?.description.contains("save model.state_dict() instead") == true)
    }

    @Test func allowlistedGlobalsAreRecordedNotCalled() throws {
        // GLOBAL torch FloatStorage; GLOBAL torch._utils _rebuild_tensor_v2 would be equally inert.
        let bytes = [0x80, 0x02, 0x63] + Array("torch\nFloatStorage\n".utf8) + [0x2E]
        #expect(try Unpickler.parse(bytes) == .global(module: "torch", name: "FloatStorage"))
    }

    @Test func structuralErrorsNameTheOffset() {
        // BINGET 7 with an empty memo.
        #expect(pickleError([0x80, 0x02, 0x68, 7, 0x2E]) == .pickleBadMemoIndex(index: 7, offset: 2))
        // APPEND with nothing on the stack.
        #expect(pickleError([0x80, 0x02, 0x61, 0x2E]) == .pickleStackUnderflow(opcode: "APPEND", offset: 2))
        // TUPLE1 may not reach below the last MARK.
        #expect(pickleError([0x80, 0x02, 0x4E, 0x28, 0x85, 0x2E]) == .pickleStackUnderflow(opcode: "TUPLE1", offset: 4))
        // TUPLE without a MARK.
        #expect(pickleError([0x80, 0x02, 0x4E, 0x74, 0x2E]) == .pickleMissingMark(opcode: "TUPLE", offset: 3))
        // 0xFF is no opcode.
        #expect(pickleError([0x80, 0x02, 0xFF]) == .pickleUnknownOpcode(opcode: 0xFF, offset: 2))
        // Protocol 6 does not exist yet.
        #expect(pickleError([0x80, 0x06, 0x4E, 0x2E]) == .pickleUnsupportedProtocol(version: 6, offset: 0))
        // LONG1 of 9 bytes (2**64) does not fit Int64.
        #expect(pickleError([0x80, 0x02, 0x8A, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x2E]) == .pickleIntegerTooLarge(byteCount: 9, offset: 2))
        // SHORT_BINUNICODE with an invalid UTF-8 byte.
        #expect(pickleError([0x80, 0x02, 0x8C, 1, 0xFF, 0x2E]) == .pickleInvalidText(offset: 2))
        // APPEND onto an int.
        #expect(pickleError([0x80, 0x02, 0x4B, 1, 0x4E, 0x61, 0x2E]) == .pickleTypeMismatch(opcode: "APPEND", expected: "a list to append to", offset: 5))
        // REDUCE whose arguments are not a tuple.
        let reduceOnInt = [0x80, 0x02, 0x63] + Array("torch\ndevice\n".utf8) + [0x4B, 1, 0x52, 0x2E]
        #expect(pickleError(reduceOnInt) == .pickleTypeMismatch(opcode: "REDUCE", expected: "a tuple of arguments", offset: 18))
        // STOP with two values on the stack.
        #expect(pickleError([0x80, 0x02, 0x4E, 0x4E, 0x2E]) == .pickleMalformedEnd(stackCount: 2, offset: 4))
        // BINUNICODE claiming 2**32-1 bytes.
        #expect(pickleError([0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0xFF, 0x61]) == .pickleTruncated(offset: 2))
        // FRAME longer than the stream.
        #expect(pickleError([0x80, 0x04, 0x95, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0x4E, 0x2E]) == .pickleTruncated(offset: 2))
    }

    @Test func everyTruncationOfAValidPickleIsAnError() throws {
        let bytes = pickleBytes(hex: "80059576000000000000007d94288c0161945d94284b014afeffffff47400c0000000000004e8889658c0162944b014b024b0387948c03626967948a060000000000018c036e6567948a0800000000000000808c0173948c0668c3a96c6c6f948c03693332944a6079feff8c03753136944dffff8c0262799443030001ff94752e")
        for length in 0..<bytes.count {
            let error = pickleError(Array(bytes[..<length]))
            // Cut mid-operand or before STOP: truncated; cut after a MARK-collecting opcode is missing.
            #expect(error != nil, "prefix of \(length) bytes parsed")
            if length > 0, let error {
                switch error {
                case .pickleTruncated, .pickleMalformedEnd: break
                default: Issue.record("prefix of \(length) bytes gave \(error)")
                }
            }
        }
    }

    @Test func selfContainingListIsRejected() {
        // a = []; a.append(a); pickle.dumps(a, protocol=2)
        #expect(pickleError(pickleBytes(hex: "80025d71006800612e")) == .pickleNestingTooDeep(limit: Unpickler.maxNesting, offset: 2))
    }

    @Test func deepNestingIsRejected() {
        // 150 nested lists built with EMPTY_LIST ... APPEND, and 150 nested MARKs.
        let lists = [0x80, 0x02] + [UInt8](repeating: 0x5D, count: 150) + [UInt8](repeating: 0x61, count: 149) + [0x2E]
        guard case .pickleNestingTooDeep(let limit, _) = pickleError(lists) else {
            Issue.record("150 nested lists were accepted")
            return
        }
        #expect(limit == Unpickler.maxNesting)
        let marks = [0x80, 0x02] + [UInt8](repeating: 0x28, count: 150)
        #expect(pickleError(marks) == .pickleNestingTooDeep(limit: Unpickler.maxNesting, offset: 2 + Unpickler.maxNesting))
        // 90 levels is fine.
        let shallow = [0x80, 0x02] + [UInt8](repeating: 0x5D, count: 90) + [UInt8](repeating: 0x61, count: 89) + [0x2E]
        #expect(pickleError(shallow) == nil)
    }

    @Test func memoSharingBombIsRejected() {
        // L0 = []; L(i) = [L(i-1), L(i-1)] for i in 1...40 through the memo: 2^40 values as a tree.
        var bytes: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0]
        for level in 1...40 {
            bytes += [0x30, 0x5D, 0x28, 0x68, UInt8(level - 1), 0x68, UInt8(level - 1), 0x65, 0x71, UInt8(level)]
        }
        bytes.append(0x2E)
        guard case .pickleExpansionTooLarge = pickleError(bytes) else {
            Issue.record("memo bomb was not rejected: \(String(describing: pickleError(bytes)))")
            return
        }
    }
}
