"""Writes the hostile / unsupported checkpoint fixtures in fixtures/hostile/.

Run from the repository root:   python3 tools/make_hostile_fixtures.py
                                python3 tools/make_hostile_fixtures.py --zip-only
Made with: Python 3, torch 2.15.0 (tools/requirements.txt). --zip-only writes just the hand-made
zip_*.pth / zip64_*.pth archives and the bomb_*.pth memory bombs, with the standard library alone
(and leaves legacy_format.pth, which changes on every run, alone).

The payloads would run `touch /tmp/wren_pwned` if unpickled naively. This script only
*builds* them (pickling calls __reduce__, which returns a callable without calling it) and
inspects them with pickletools, which never executes anything. It then checks that
torch.load(weights_only=True) refuses the .pth payload and that /tmp/wren_pwned was not created.

The zip_*.pth and zip64_*.pth archives are a torch.save-shaped checkpoint written byte by byte
(so its headers can lie), each with one structural fault in the zip container. Most make
ZIPFoundation 0.9.20 trap (SIGILL) instead of throwing, if it is handed the bytes unchecked; see
fixtures/hostile/README.md and Sources/WrenConvert/Import/ZipDirectoryCheck.swift.
"""

import builtins
import io
import os
import pickle
import pickletools
import struct
import sys
import zipfile
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "fixtures", "hostile")
MARKER = "/tmp/wren_pwned"
COMMAND = f"touch {MARKER}"


class OsSystemPayload:
    """Unpickles as os.system(COMMAND)."""

    def __reduce__(self):
        return (os.system, (COMMAND,))


class EvalPayload:
    """Unpickles as builtins.eval("__import__('os').system(COMMAND)")."""

    def __reduce__(self):
        return (builtins.eval, (f"__import__('os').system('{COMMAND}')",))


def globals_in(pickle_bytes):
    """(module, name) pairs named by GLOBAL opcodes, read without executing anything."""
    found = []
    for op, arg, _ in pickletools.genops(pickle_bytes):
        if op.name == "GLOBAL":
            module, name = arg.split(" ", 1)
            found.append((module, name))
    return found


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    print(f"{name:34s} {len(data):7d} bytes")


def write_pickle_fixtures():
    import torch

    from wrn_torch import WideResNet

    # os.system lives in the `posix` module on Linux, so the GLOBAL reads "posix system".
    os_pickle = pickle.dumps(OsSystemPayload(), protocol=2)
    assert ("posix", "system") in globals_in(os_pickle)
    write("os_system.pkl", os_pickle)

    # fix_imports=False keeps the Python 3 module name: GLOBAL "builtins eval"
    # (with the default it would be written as "__builtin__ eval").
    eval_pickle = pickle.dumps(EvalPayload(), protocol=2, fix_imports=False)
    assert ("builtins", "eval") in globals_in(eval_pickle)
    write("eval_builtin.pkl", eval_pickle)

    # A genuine torch.save archive (to a buffer, so the entry prefix is "archive/") whose
    # data.pkl holds a real tensor next to the os.system reduce.
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save({"conv1.weight": torch.randn(16, 3, 3, 3), "payload": OsSystemPayload()}, buffer)
    pth = buffer.getvalue()
    with zipfile.ZipFile(io.BytesIO(pth)) as z:
        names = z.namelist()
        assert "archive/data.pkl" in names and "archive/data/0" in names, names
        found = globals_in(z.read("archive/data.pkl"))
    assert ("posix", "system") in found and ("torch._utils", "_rebuild_tensor_v2") in found, found
    write("os_system.pth", pth)
    try:
        torch.load(io.BytesIO(pth), weights_only=True)
        raise AssertionError("torch.load(weights_only=True) accepted os_system.pth")
    except pickle.UnpicklingError as error:
        print("  torch.load(weights_only=True) refuses it:", str(error).splitlines()[0][:100])

    # The pre-1.6 non-zip format: a tiny WRN-10-1 state_dict. Importers must reject it clearly.
    torch.manual_seed(1)
    model = WideResNet(10, 10, widen_factor=1)
    legacy = io.BytesIO()
    torch.save(model.state_dict(), legacy, _use_new_zipfile_serialization=False)
    legacy_bytes = legacy.getvalue()
    assert not zipfile.is_zipfile(io.BytesIO(legacy_bytes))
    reloaded = torch.load(io.BytesIO(legacy_bytes), weights_only=True)
    assert all(torch.equal(reloaded[k], v) for k, v in model.state_dict().items())
    write("legacy_format.pth", legacy_bytes)


# MARK: Hand-made zip containers

def u16(value):
    return struct.pack("<H", value)


def u32(value):
    return struct.pack("<I", value)


def u64(value):
    return struct.pack("<Q", value)


def state_dict_pickle():
    """Protocol-2 pickle of {"w": <float32 [2, 3] view of storage "0">}, written opcode by opcode
    (pickling a real tensor would need torch); the same bytes HostileImportTests builds."""
    def text(value):
        data = value.encode()
        return b"X" + u32(len(data)) + data  # BINUNICODE

    def integer(value):
        return b"J" + struct.pack("<i", value)  # BININT

    def global_(module, name):
        return b"c" + f"{module}\n{name}\n".encode()  # GLOBAL

    def tuple_(*items):
        return b"(" + b"".join(items) + b"t"  # MARK ... TUPLE

    storage = tuple_(text("storage"), global_("torch", "FloatStorage"), text("0"), text("cpu"), integer(6)) + b"Q"
    hooks = global_("collections", "OrderedDict") + b")R"
    tensor = global_("torch._utils", "_rebuild_tensor_v2") + tuple_(
        storage, integer(0), tuple_(integer(2), integer(3)), tuple_(integer(3), integer(1)), b"\x89", hooks) + b"R"
    return b"\x80\x02}(" + text("w") + tensor + b"u."


STORAGE = struct.pack("<6f", -1, -0.5, 0, 0.5, 1, 1.5)


def checkpoint_entries():
    return [
        {"name": "archive/data.pkl", "data": state_dict_pickle()},
        {"name": "archive/byteorder", "data": b"little"},
        {"name": "archive/data/0", "data": STORAGE},
        {"name": "archive/version", "data": b"3\n"},
    ]


def torch_shaped_zip(entries, comment=b"", locator_offset=None):
    """A zip laid out as torch.save (PyTorchStreamWriter) lays it out: stored entries, flags 0x0808
    (UTF-8 names, data descriptor), zero sizes in the local header and an "FB" extra field padding the
    data to 64 bytes, a 16-byte data descriptor with its signature, then the central directory, a
    ZIP64 end record, its locator and the end record.

    Each entry may override what the central directory says: "compressed", "uncompressed",
    "offset" (of the local header), "version" (needed), "extra" (bytes), "comment_length" (the
    field only, no bytes); and what the data descriptor says: "descriptor_uncompressed".
    `locator_offset` overrides where the ZIP64 locator says the ZIP64 end record is."""
    body = b""
    directory = b""
    for entry in entries:
        name = entry["name"].encode()
        data = entry["data"]
        crc = zlib.crc32(data)
        offset = len(body)
        padding = (-(offset + 30 + len(name) + 4)) % 64
        extra = b"FB" + u16(padding) + b"\0" * padding
        body += b"PK\3\4" + u16(20) + u16(0x0808) + u16(0) + u16(0) + u16(0x21) + u32(0) + u32(0) + u32(0)
        body += u16(len(name)) + u16(len(extra)) + name + extra + data
        body += b"PK\7\x08" + u32(crc) + u32(len(data)) + u32(entry.get("descriptor_uncompressed", len(data)))
        central_extra = entry.get("extra", b"")
        directory += b"PK\1\2" + u16(20) + u16(entry.get("version", 20)) + u16(0x0808) + u16(0) + u16(0) + u16(0x21)
        directory += u32(crc) + u32(entry.get("compressed", len(data)))
        directory += u32(entry.get("uncompressed", len(data))) + u16(len(name)) + u16(len(central_extra))
        directory += u16(entry.get("comment_length", 0)) + u16(0) + u16(0) + u32(0)
        directory += u32(entry.get("offset", offset)) + name + central_extra
    directory_offset = len(body)
    record_offset = directory_offset + len(directory)
    count = len(entries)
    zip64_record = (b"PK\6\6" + u64(44) + u16(45) + u16(45) + u32(0) + u32(0)
                    + u64(count) + u64(count) + u64(len(directory)) + u64(directory_offset))
    locator = b"PK\6\7" + u32(0) + u64(record_offset if locator_offset is None else locator_offset) + u32(1)
    end = (b"PK\5\6" + u16(0) + u16(0) + u16(count) + u16(count)
           + u32(len(directory)) + u32(directory_offset) + u16(len(comment)) + comment)
    return body + directory + zip64_record + locator + end


def zip64_extra(*values):
    """A ZIP64 extended-information extra field (id 1) holding `values` as u64s."""
    return u16(1) + u16(8 * len(values)) + b"".join(u64(v) for v in values)


def write_zip_fixtures():
    control = torch_shaped_zip(checkpoint_entries())
    # The control really is a zip with the expected entries and a pickle pickletools can walk.
    with zipfile.ZipFile(io.BytesIO(control)) as z:
        assert z.testzip() is None
        assert z.namelist() == [e["name"] for e in checkpoint_entries()], z.namelist()
        assert z.read("archive/data/0") == STORAGE
        assert ("torch._utils", "_rebuild_tensor_v2") in globals_in(z.read("archive/data.pkl"))
    write("zip_control.pth", control)

    def variant(change, **archive):
        entries = checkpoint_entries()
        change(entries)
        return torch_shaped_zip(entries, **archive)

    # The central directory sends data.pkl's local header to offset 65536, far past the end.
    write("zip_local_header_past_end.pth", variant(lambda e: e[0].update(offset=0x10000)))

    # A valid end record whose 23-byte comment is a second end record (directory at offset 65536,
    # past the end) and an "X". ZIPFoundation takes the last signature in the file, so it reads the
    # second record, although its empty comment ends one byte before the end of the file.
    fake_end = b"PK\5\6" + u16(0) + u16(0) + u16(1) + u16(1) + u32(46) + u32(0x10000) + u16(0)
    write("zip_end_record_in_comment.pth", variant(lambda e: None, comment=fake_end + b"X"))

    # data.pkl's local header offset is all ones and its ZIP64 extra field says 2^63.
    write("zip64_extra_offset_2_63.pth",
          variant(lambda e: e[0].update(offset=0xFFFFFFFF, version=45, extra=zip64_extra(1 << 63))))

    # Storage "0" declares 2^63 bytes (uncompressed and compressed) through its ZIP64 extra field.
    write("zip64_extra_size_2_63.pth", variant(lambda e: e[2].update(
        compressed=0xFFFFFFFF, uncompressed=0xFFFFFFFF, version=45, extra=zip64_extra(1 << 63, 1 << 63))))

    # Storage "0" declares 2 GiB - 64 KiB in the central directory: its data descriptor would be far
    # past the end of the file.
    write("zip_data_past_end.pth", variant(lambda e: e[2].update(compressed=0x7FFF0000, uncompressed=0x7FFF0000)))

    # The last central directory entry claims a 20-byte comment that is not there: it would take the
    # first 20 bytes of the ZIP64 end record.
    write("zip_entry_runs_past_directory.pth", variant(lambda e: e[3].update(comment_length=20)))

    # Storage "0"'s data descriptor says 1 MiB while the central directory says 24 bytes.
    write("zip_descriptor_disagrees.pth", variant(lambda e: e[2].update(descriptor_uncompressed=1 << 20)))

    # The ZIP64 locator points 8 bytes before the ZIP64 end record.
    control_record = len(control) - 22 - 20 - 56
    write("zip64_locator_disagrees.pth", variant(lambda e: None, locator_offset=control_record - 8))


# MARK: Memory bombs

# Deflate's best ratio is about 1030:1, so 64 MiB of one repeated byte is a 64 KB entry.
FLOOD_BYTES = 64 << 20


def deflated_zip(entries):
    """A zip of (name, bytes or (length, fill byte)) entries, each deflated at level 9 and streamed,
    so a gigabyte of zeros never sits in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in entries:
            with z.open(name, "w", force_zip64=not isinstance(data, bytes)) as entry:
                if isinstance(data, bytes):
                    entry.write(data)
                    continue
                length, fill = data
                chunk = bytes([fill]) * (1 << 20)
                for _ in range(length // len(chunk)):
                    entry.write(chunk)
                entry.write(bytes([fill]) * (length % len(chunk)))
    return buffer.getvalue()


def tensor_dict_pickle(tensors):
    """Protocol-2 pickle of a state dict, written opcode by opcode as torch.save writes it: for each
    (name, storage type, storage key, numel, shape, strides) a _rebuild_tensor_v2 of that storage."""
    def text(value):
        data = value.encode()
        return b"X" + u32(len(data)) + data

    def integer(value):
        return b"J" + struct.pack("<i", value)

    def global_(module, name):
        return b"c" + f"{module}\n{name}\n".encode()

    def tuple_(*items):
        return b"(" + b"".join(items) + b"t"

    body = b""
    for name, storage_type, key, numel, shape, strides in tensors:
        storage = tuple_(text("storage"), global_("torch", storage_type), text(key), text("cpu"), integer(numel)) + b"Q"
        hooks = global_("collections", "OrderedDict") + b")R"
        body += text(name) + global_("torch._utils", "_rebuild_tensor_v2") + tuple_(
            storage, integer(0), tuple_(*map(integer, shape)), tuple_(*map(integer, strides)), b"\x89", hooks) + b"R"
    return b"\x80\x02}(" + body + b"u."


def big_tensor_pickle(tensors):
    """Protocol-2 pickle of {name: float32 [numel] tensor in storage `key`} for (name, key, numel)."""
    return tensor_dict_pickle([(name, "FloatStorage", key, numel, (numel,), (1,)) for name, key, numel in tensors])


def write_bomb_fixtures():
    """Small files that cost gigabytes to a reader that trusts them (issue 15, item 6). Each is a
    torch.save-shaped zip whose entries are deflated, which torch.save never writes but any zip
    reader accepts."""
    # data.pkl: PROTO 2, then 64 Mi NONE opcodes (each one value for the unpickler to hold), STOP.
    flood = b"\x80\x02" + b"N" * FLOOD_BYTES + b"."
    write("bomb_pickle_flood.pth", deflated_zip([("archive/data.pkl", flood), ("archive/byteorder", b"little")]))

    # data.pkl: PROTO 4, one NONE, then 64 Mi MEMOIZE opcodes (each a new memo entry for it), STOP.
    memoize = b"\x80\x04N" + b"\x94" * FLOOD_BYTES + b"."
    write("bomb_memoize_flood.pth", deflated_zip([("archive/data.pkl", memoize), ("archive/byteorder", b"little")]))

    # A well-formed state dict of two float32 [2^27] tensors whose storages are 512 MiB of zeros
    # each, deflated: 1 GiB of storage (and 1 GiB of floats) from a 1 MB file.
    numel = 1 << 27
    pickle_bytes = big_tensor_pickle([("a", "0", numel), ("b", "1", numel)])
    write("bomb_storage_inflation.pth", deflated_zip([
        ("archive/data.pkl", pickle_bytes), ("archive/byteorder", b"little"),
        ("archive/data/0", (4 * numel, 0)), ("archive/data/1", (4 * numel, 0)), ("archive/version", b"3\n")]))


def main():
    os.makedirs(OUT, exist_ok=True)
    marker_existed = os.path.exists(MARKER)
    if sys.argv[1:] not in ([], ["--zip-only"]):
        sys.exit(f"usage: {sys.argv[0]} [--zip-only]")
    if sys.argv[1:] == []:
        write_pickle_fixtures()
    write_zip_fixtures()
    write_bomb_fixtures()
    assert os.path.exists(MARKER) == marker_existed, f"{MARKER} appeared: something unpickled a payload"
    print(f"{MARKER} not created: ok")


if __name__ == "__main__":
    main()
