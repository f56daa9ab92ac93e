#!/usr/bin/env python3
"""An independent `.wren` v1/v2 reader and integer interpreter, written from formats/wren-v1.md alone.

Run from the repository root:
    python3 tools/wren_format.py MODEL.wren INPUT.npy [--logits OUT.npy]
INPUT.npy is float32 [N, C, H, W], already normalized. Prints the top-1 class of each input and,
with --logits, writes the float32 logits [N, classes].
Needs Python 3.9+ and NumPy only (made with numpy 2.4.6, tools/requirements.txt).

Why it exists: it proves the spec is complete. It shares no code with the Swift reader, and
tools/test_wren_format.py checks that its logits equal `wren run --logits` bit for bit.
Every `§` below points at the section of formats/wren-v1.md a rule comes from.

Bit-exactness notes:
- Requantization (§7.1) is done in int64 NumPy arrays, exactly as the spec's formulas read; an
  int16-input convolution's MBQM64 (§7.6) splits its 78-bit product as the spec does.
- A conv accumulator is an integer sum of products |w| <= 127, |x - zx| <= 255 (32767 for an
  int16 input) over at most kernel^2 * 32768 terms; here it is computed with a float64 matrix
  product, which is exact because every partial sum is an integer below 2^53
  (127 * 32767 * 7 * 7 * 32768 < 2^43), so the summation order BLAS picks cannot change the result.
- The classifier (§7.5) is accumulated one channel at a time in float32 arrays (one multiply
  ufunc, one add ufunc per step: no FMA, no pairwise summation), vectorized over images and classes.
"""

import argparse
import struct
import sys
import zlib

import numpy as np

MAGIC = b"\x89WREN\r\n\x1a"
SUPPORTED_MAJOR = 2  # reads 1.x and 2.x (§8); 2.0 gives the tensor record's offset 20 a meaning
SUPPORTED_MINOR = 0
ELEMENT_TYPE_MAJOR = 2  # first major version with per-tensor element types (§6.1)
ELEMENT_INT8 = 0
ELEMENT_INT16 = 1
ELEMENT_NAMES = {ELEMENT_INT8: "int8", ELEMENT_INT16: "int16"}
# [min, max] a layer writes into a tensor of each type; int16 stays symmetric (§6.1, §7.6).
ELEMENT_RANGE = {ELEMENT_INT8: (-128, 127), ELEMENT_INT16: (-32767, 32767)}
# The largest |q − zero point| a tensor of each type holds (accumulator and pooling bounds).
ELEMENT_CENTERED = {ELEMENT_INT8: 255, ELEMENT_INT16: 32767}
HEADER_SIZE = 64
SECTION_ENTRY_SIZE = 32
MODEL_RECORD_SIZE = 64
TENSOR_RECORD_SIZE = 64
LAYER_RECORD_SIZE = 128
TABLE_PREFIX_SIZE = 8
BLOB_SLOTS = 5
NO_TENSOR = 0xFFFFFFFF
SECTION_REQUIRED = 1

MAX_SECTIONS = 64
MAX_TENSORS = 4096
MAX_LAYERS = 4096
MAX_META_ENTRIES = 1024
MAX_DIMENSION = 32768
MAX_ELEMENTS = 1 << 28
MAX_CLASSES = 1 << 20
INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

OP_CONV2D = 1
OP_CHANNEL_AFFINE_RELU = 2
OP_AVERAGE_POOL_LINEAR = 3
OP_NAMES = {OP_CONV2D: "conv2d", OP_CHANNEL_AFFINE_RELU: "channel_affine_relu",
            OP_AVERAGE_POOL_LINEAR: "average_pool_linear"}
LAYER_FLAG_RELU = 1


def kind_code(text):
    """Section kind as the u32 the file stores: first character in the lowest byte (§3)."""
    return struct.unpack("<I", text.encode("ascii"))[0]


KIND_META, KIND_MODL, KIND_TENS, KIND_LAYR, KIND_DATA = (
    kind_code(k) for k in ("META", "MODL", "TENS", "LAYR", "DATA"))
KNOWN_KINDS = {KIND_META: "META", KIND_MODL: "MODL", KIND_TENS: "TENS", KIND_LAYR: "LAYR",
               KIND_DATA: "DATA"}


class WrenFormatError(Exception):
    """A file the spec does not allow; the message names the field and the byte offset."""

    def __init__(self, field, offset, problem):
        super().__init__(f"{field} at offset {offset}: {problem}")
        self.field = field
        self.offset = offset
        self.problem = problem


class WrenInputError(Exception):
    """An input batch the model cannot run (§7.2)."""


def kind_name(code):
    raw = struct.pack("<I", code)
    return raw.decode("ascii") if all(32 <= b < 127 for b in raw) else f"0x{code:08X}"


def round_up(value, multiple):
    return (value + multiple - 1) // multiple * multiple


class Fields:
    """Little-endian reads inside [start, start + length) of the file; never past its end."""

    def __init__(self, data, start, length, name):
        if start < 0 or length < 0 or start + length > len(data):
            raise WrenFormatError(name, start, f"{length} bytes do not fit in a {len(data)}-byte file")
        self.data, self.start, self.length, self.name = data, start, length, name

    def need(self, relative, size, field):
        if relative < 0 or relative + size > self.length:
            raise WrenFormatError(f"{self.name}.{field}", self.start + relative,
                                  f"needs {size} bytes but the {self.name} section has "
                                  f"{max(self.length - relative, 0)} left")
        return self.start + relative

    def u32(self, relative, field):
        return struct.unpack_from("<I", self.data, self.need(relative, 4, field))[0]

    def i32(self, relative, field):
        return struct.unpack_from("<i", self.data, self.need(relative, 4, field))[0]

    def u64(self, relative, field):
        return struct.unpack_from("<Q", self.data, self.need(relative, 8, field))[0]

    def f32(self, relative, field):
        return np.frombuffer(self.data, dtype="<f4", count=1, offset=self.need(relative, 4, field))[0]

    def raw(self, relative, size, field):
        at = self.need(relative, size, field)
        return self.data[at:at + size]


# ---------------------------------------------------------------------------------------------
# Parsed records


class Tensor:
    def __init__(self, index, channels, height, width, scale, zero_point, name, element_type=ELEMENT_INT8):
        self.index, self.channels, self.height, self.width = index, channels, height, width
        self.scale, self.zero_point, self.name = scale, zero_point, name
        self.element_type = element_type

    @property
    def shape(self):
        return (self.channels, self.height, self.width)


class Layer:
    def __init__(self, index, offset):
        self.index, self.offset = index, offset
        self.blobs = []  # (offset within DATA, length)
        self.arrays = {}

    @property
    def name(self):
        return f"layer {self.index} ({OP_NAMES.get(self.op, self.op)})"


class Model:
    """Everything a .wren file says, validated (§2-§6)."""

    def __init__(self):
        self.version = (0, 0)
        self.metadata = {}
        self.tensors = []
        self.layers = []


# ---------------------------------------------------------------------------------------------
# Reading


def read_model(data):
    data = bytes(data)
    model = Model()
    header = Fields(data, 0, len(data), "header")
    if len(data) < HEADER_SIZE:
        raise WrenFormatError("header", 0, f"file is {len(data)} bytes, shorter than the 64-byte header")
    magic = data[:8]
    if magic != MAGIC:
        raise WrenFormatError("header.magic", 0, f"bytes {magic.hex(' ')} are not the .wren magic {MAGIC.hex(' ')}")
    major = struct.unpack_from("<H", data, 8)[0]
    minor = struct.unpack_from("<H", data, 10)[0]
    if not 1 <= major <= SUPPORTED_MAJOR:
        raise WrenFormatError("header.major_version", 8,
                              f"file is version {major}.{minor}, this reader reads major versions "
                              f"1 to {SUPPORTED_MAJOR}")
    model.version = (major, minor)
    header_size = header.u32(12, "header_size")
    if header_size < HEADER_SIZE or header_size % 8:
        raise WrenFormatError("header.header_size", 12, f"{header_size} is not >= 64 and a multiple of 8")
    file_length = header.u64(16, "file_length")
    if file_length != len(data):
        raise WrenFormatError("header.file_length", 16, f"says {file_length} bytes, the file has {len(data)}")
    section_count = header.u32(24, "section_count")
    if section_count > MAX_SECTIONS:
        raise WrenFormatError("header.section_count", 24, f"{section_count} > {MAX_SECTIONS}")
    table_offset = header.u32(28, "section_table_offset")
    if table_offset < header_size or table_offset % 8:
        raise WrenFormatError("header.section_table_offset", 28,
                              f"{table_offset} is not >= header size {header_size} and a multiple of 8")
    if header_size > len(data):
        raise WrenFormatError("header.header_size", 12, f"{header_size} is past the end of the file")
    stored_crc = header.u32(32, "checksum")
    computed_crc = zlib.crc32(data[:32] + b"\0\0\0\0" + data[36:]) & 0xFFFFFFFF
    if stored_crc != computed_crc:
        raise WrenFormatError("header.checksum", 32,
                              f"stored 0x{stored_crc:08X}, computed 0x{computed_crc:08X}")
    flags = header.u32(36, "flags")
    if flags != 0:
        raise WrenFormatError("header.flags", 36, f"unknown flag bits 0x{flags:08X}")

    table_end = table_offset + section_count * SECTION_ENTRY_SIZE
    if table_end > len(data):
        raise WrenFormatError("header.section_count", 24,
                              f"{section_count} entries at offset {table_offset} run past the end of the file")
    sections = read_section_table(data, table_offset, section_count, table_end)
    for kind in (KIND_META, KIND_MODL, KIND_TENS, KIND_LAYR, KIND_DATA):
        if kind not in sections:
            raise WrenFormatError("section_table", table_offset, f"the mandatory {KNOWN_KINDS[kind]} section is missing")

    model.metadata = read_metadata(Fields(data, *sections[KIND_META], "META"))
    model.tensors = read_tensors(Fields(data, *sections[KIND_TENS], "TENS"), major)
    read_model_record(Fields(data, *sections[KIND_MODL], "MODL"), model)
    model.layers = read_layers(Fields(data, *sections[KIND_LAYR], "LAYR"))
    model.layer_table_offset = sections[KIND_LAYR][0]
    validate_graph(model, Fields(data, *sections[KIND_DATA], "DATA"))
    return model


def read_section_table(data, table_offset, count, table_end):
    sections = {}
    ranges = []
    for i in range(count):
        entry_at = table_offset + i * SECTION_ENTRY_SIZE
        entry = Fields(data, entry_at, SECTION_ENTRY_SIZE, f"section[{i}]")
        kind = entry.u32(0, "kind")
        flags = entry.u32(4, "flags")
        offset = entry.u64(8, "offset")
        length = entry.u64(16, "length")
        label = f"section[{i}] ({kind_name(kind)})"
        if flags & ~SECTION_REQUIRED:
            raise WrenFormatError(f"{label}.flags", entry_at + 4, f"unknown flag bits 0x{flags:08X}")
        if offset % 64 or offset < table_end:
            raise WrenFormatError(f"{label}.offset", entry_at + 8,
                                  f"{offset} is not a multiple of 64 at or after the section table end {table_end}")
        if offset + length > len(data):  # Python integers cannot overflow
            raise WrenFormatError(f"{label}.length", entry_at + 16,
                                  f"offset {offset} + length {length} is past the file end {len(data)}")
        if kind in sections or any(k == kind for k, _, _ in ranges):
            raise WrenFormatError(f"{label}.kind", entry_at, f"{kind_name(kind)} appears twice")
        for other_kind, other_offset, other_length in ranges:
            if offset < other_offset + other_length and other_offset < offset + length:
                raise WrenFormatError(f"{label}.offset", entry_at + 8,
                                      f"[{offset}, {offset + length}) overlaps {kind_name(other_kind)} "
                                      f"[{other_offset}, {other_offset + other_length})")
        ranges.append((kind, offset, length))
        if kind in KNOWN_KINDS:
            sections[kind] = (offset, length)
        elif flags & SECTION_REQUIRED:
            raise WrenFormatError(f"{label}.kind", entry_at,
                                  f"unknown section kind {kind_name(kind)} is marked required")
        # else: an unknown optional section from a later minor version: skipped (§8).
    return sections


def decode_utf8(raw, field, offset):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise WrenFormatError(field, offset, f"not valid UTF-8 ({error.reason})") from None


def read_metadata(meta):
    count = meta.u32(0, "entry_count")
    if count > MAX_META_ENTRIES:
        raise WrenFormatError("META.entry_count", meta.start, f"{count} > {MAX_META_ENTRIES}")
    entries = {}
    cursor = 4
    for i in range(count):
        key_length = meta.u32(cursor, f"entry[{i}].key_length")
        key = decode_utf8(meta.raw(cursor + 4, key_length, f"entry[{i}].key"),
                          f"META.entry[{i}].key", meta.start + cursor + 4)
        cursor += 4 + key_length
        value_length = meta.u32(cursor, f"entry[{i}].value_length")
        value = decode_utf8(meta.raw(cursor + 4, value_length, f"entry[{i}].value"),
                            f"META.entry[{i}].value", meta.start + cursor + 4)
        cursor += 4 + value_length
        entries.setdefault(key, value)  # a repeated key: the first entry wins (§4)
    return entries


def read_table_count(section, limit, record_size, what):
    count = section.u32(0, "count")
    if count > limit:
        raise WrenFormatError(f"{section.name}.count", section.start, f"{count} {what} > {limit}")
    needed = TABLE_PREFIX_SIZE + count * record_size
    if needed > section.length:
        raise WrenFormatError(f"{section.name}.count", section.start,
                              f"{count} {what} need {needed} bytes, the section has {section.length}")
    return count


def check_dimension(value, field, offset):
    if not 1 <= value <= MAX_DIMENSION:
        raise WrenFormatError(field, offset, f"{value} is not in 1...{MAX_DIMENSION}")


def read_tensors(tens, major=1):
    count = read_table_count(tens, MAX_TENSORS, TENSOR_RECORD_SIZE, "tensors")
    tensors = []
    for t in range(count):
        base = TABLE_PREFIX_SIZE + t * TENSOR_RECORD_SIZE
        at = tens.start + base
        label = f"TENS.tensor[{t}]"
        channels = tens.u32(base, "channels")
        height = tens.u32(base + 4, "height")
        width = tens.u32(base + 8, "width")
        check_dimension(channels, f"{label}.channels", at)
        check_dimension(height, f"{label}.height", at + 4)
        check_dimension(width, f"{label}.width", at + 8)
        if channels * height * width > MAX_ELEMENTS:
            raise WrenFormatError(f"{label}.width", at + 8,
                                  f"{channels}x{height}x{width} elements > 2^28")
        scale = tens.f32(base + 12, "scale")
        if not (np.isfinite(scale) and scale > 0):
            raise WrenFormatError(f"{label}.scale", at + 12, f"{scale} is not finite and > 0")
        zero_point = tens.i32(base + 16, "zero_point")
        if not -128 <= zero_point <= 127:
            raise WrenFormatError(f"{label}.zero_point", at + 16, f"{zero_point} is not in -128...127")
        element_type = ELEMENT_INT8  # offset 20 is reserved, and ignored, before version 2 (§6.1)
        if major >= ELEMENT_TYPE_MAJOR:
            element_type = tens.u32(base + 20, "element_type")
            if element_type not in ELEMENT_NAMES:
                raise WrenFormatError(f"{label}.element_type", at + 20,
                                      f"{element_type} is not 0 (int8) or 1 (int16)")
            if element_type == ELEMENT_INT16 and zero_point != 0:
                raise WrenFormatError(f"{label}.zero_point", at + 16,
                                      f"{zero_point} in an int16 tensor, whose zero point must be 0")
        raw_name = tens.raw(base + 24, 40, "name")
        end = raw_name.find(b"\0")
        if end >= 0 and any(raw_name[end:]):
            raise WrenFormatError(f"{label}.name", at + 24, "non-zero bytes after the first NUL")
        name = decode_utf8(raw_name if end < 0 else raw_name[:end], f"{label}.name", at + 24)
        tensors.append(Tensor(t, channels, height, width, np.float32(scale), zero_point, name, element_type))
    return tensors


def read_model_record(modl, model):
    if modl.length < MODEL_RECORD_SIZE:
        raise WrenFormatError("MODL", modl.start, f"{modl.length} bytes, the model record needs {MODEL_RECORD_SIZE}")
    at = modl.start
    channels = modl.u32(0, "input_channels")
    if channels != 3:
        raise WrenFormatError("MODL.input_channels", at, f"{channels} is not 3")
    height = modl.u32(4, "input_height")
    width = modl.u32(8, "input_width")
    check_dimension(height, "MODL.input_height", at + 4)
    check_dimension(width, "MODL.input_width", at + 8)
    classes = modl.u32(12, "class_count")
    if not 1 <= classes <= MAX_CLASSES:
        raise WrenFormatError("MODL.class_count", at + 12, f"{classes} is not in 1...{MAX_CLASSES}")
    mean = [modl.f32(16 + 4 * c, f"mean[{c}]") for c in range(3)]
    std = [modl.f32(28 + 4 * c, f"std[{c}]") for c in range(3)]
    for c in range(3):
        if not np.isfinite(mean[c]):
            raise WrenFormatError(f"MODL.mean[{c}]", at + 16 + 4 * c, f"{mean[c]} is not finite")
        if not (np.isfinite(std[c]) and std[c] > 0):
            raise WrenFormatError(f"MODL.std[{c}]", at + 28 + 4 * c, f"{std[c]} is not finite and > 0")
    input_tensor = modl.u32(40, "input_tensor")
    if input_tensor >= len(model.tensors):
        raise WrenFormatError("MODL.input_tensor", at + 40,
                              f"{input_tensor} is not an index into the {len(model.tensors)} tensors")
    if model.tensors[input_tensor].shape != (channels, height, width):
        raise WrenFormatError("MODL.input_tensor", at + 40,
                              f"tensor {input_tensor} has shape {model.tensors[input_tensor].shape}, "
                              f"the input is {(channels, height, width)}")
    rounding = modl.u32(44, "rounding_rule")
    if rounding not in (1, 2):
        raise WrenFormatError("MODL.rounding_rule", at + 44,
                              f"{rounding} is not 1 (gemmlowp double rounding) or 2 (sums rounded once)")
    model.rounding_rule = rounding
    model.input_shape = (channels, height, width)
    model.class_count = classes
    model.mean, model.std = mean, std
    model.input_tensor = input_tensor


def read_layers(layr):
    count = read_table_count(layr, MAX_LAYERS, LAYER_RECORD_SIZE, "layers")
    layers = []
    for i in range(count):
        base = TABLE_PREFIX_SIZE + i * LAYER_RECORD_SIZE
        layer = Layer(i, layr.start + base)
        layer.op = layr.u32(base, "op")
        if layer.op not in OP_NAMES:
            raise WrenFormatError(f"LAYR.layer[{i}].op", layer.offset, f"unknown op {layer.op}")
        layer.input = layr.u32(base + 4, "input")
        layer.output = layr.u32(base + 8, "output")
        layer.residual = layr.u32(base + 12, "residual")
        layer.kernel = layr.u32(base + 16, "kernel_size")
        layer.stride = layr.u32(base + 20, "stride")
        layer.padding = layr.u32(base + 24, "padding")
        layer.flags = layr.u32(base + 28, "flags")
        layer.residual_multiplier = layr.i32(base + 32, "residual_multiplier")
        layer.residual_shift = layr.i32(base + 36, "residual_shift")
        layer.out_channels = layr.u32(base + 40, "out_channels")
        for slot in range(BLOB_SLOTS):
            layer.blobs.append((layr.u64(base + 48 + 16 * slot, f"slot[{slot}].offset"),
                                layr.u64(base + 56 + 16 * slot, f"slot[{slot}].length")))
        layers.append(layer)
    return layers


# ---------------------------------------------------------------------------------------------
# Graph and blob validation (§6.2, §6.3)


def is_normalized(multiplier, shift):
    """§7.1: |m| in [2^30, 2^31) with s in -31...31, or exactly (0, 0)."""
    if multiplier == 0 and shift == 0:
        return True
    return (1 << 30) <= abs(multiplier) < (1 << 31) and -31 <= shift <= 31


def check_normalized_vectors(layer, multipliers, shifts):
    for c in range(len(multipliers)):
        if not is_normalized(int(multipliers[c]), int(shifts[c])):
            raise WrenFormatError(f"{layer.name}.multipliers[{c}]", layer.offset + 48 + 16 * 2,
                                  f"(m={int(multipliers[c])}, s={int(shifts[c])}) is not a normalized multiplier")


class BlobReader:
    """Blob slots: inside DATA, 64-aligned, exact length, no overlaps across the whole file (§6.2)."""

    def __init__(self, data_section):
        self.section = data_section
        self.used = []  # (start, end, who)

    def read(self, layer, slot, expected_length, dtype):
        offset, length = layer.blobs[slot]
        where = layer.offset + 48 + 16 * slot
        field = f"{layer.name}.slot[{slot}]"
        if expected_length == 0:
            if length != 0 or offset != 0:
                raise WrenFormatError(field, where, f"must be unused (offset 0, length 0), has offset {offset} length {length}")
            return None
        if length != expected_length:
            raise WrenFormatError(f"{field}.length", where + 8, f"{length} bytes, the layer needs {expected_length}")
        if offset % 64:
            raise WrenFormatError(f"{field}.offset", where, f"{offset} is not a multiple of 64")
        if offset + length > self.section.length:
            raise WrenFormatError(f"{field}.offset", where,
                                  f"[{offset}, {offset + length}) is outside DATA (length {self.section.length})")
        for start, end, who in self.used:
            if offset < end and start < offset + length:
                raise WrenFormatError(f"{field}.offset", where,
                                      f"[{offset}, {offset + length}) overlaps {who} [{start}, {end})")
        self.used.append((offset, offset + length, field))
        at = self.section.start + offset
        return np.frombuffer(self.section.data, dtype=dtype, count=length // np.dtype(dtype).itemsize, offset=at)


def tensor_at(model, index, layer, field, field_offset):
    if index >= len(model.tensors):
        raise WrenFormatError(f"{layer.name}.{field}", layer.offset + field_offset,
                              f"{index} is not an index into the {len(model.tensors)} tensors")
    return model.tensors[index]


def validate_graph(model, data_section):
    blobs = BlobReader(data_section)
    available = {model.input_tensor}
    written = set()
    pools = 0
    for layer in model.layers:
        if pools:
            raise WrenFormatError(f"{layer.name}.op", layer.offset,
                                  "average_pool_linear must be the last layer")
        if layer.flags & ~LAYER_FLAG_RELU:
            raise WrenFormatError(f"{layer.name}.flags", layer.offset + 28, f"unknown flag bits 0x{layer.flags:08X}")
        source = tensor_at(model, layer.input, layer, "input", 4)
        if layer.input not in available:
            raise WrenFormatError(f"{layer.name}.input", layer.offset + 4,
                                  f"tensor {layer.input} is neither the model input nor written by an earlier layer")
        residual = None
        if layer.residual != NO_TENSOR:
            residual = tensor_at(model, layer.residual, layer, "residual", 12)
            if layer.residual not in available:
                raise WrenFormatError(f"{layer.name}.residual", layer.offset + 12,
                                      f"tensor {layer.residual} is neither the model input nor written by an earlier layer")

        if layer.op == OP_AVERAGE_POOL_LINEAR:
            pools += 1
            validate_pool(model, layer, source, residual, blobs)
            continue

        target = tensor_at(model, layer.output, layer, "output", 8)
        if layer.output == model.input_tensor:
            raise WrenFormatError(f"{layer.name}.output", layer.offset + 8, "writes the model input")
        if layer.output in written:
            raise WrenFormatError(f"{layer.name}.output", layer.offset + 8, f"tensor {layer.output} is written twice")
        if layer.op == OP_CONV2D:
            validate_conv(layer, source, target, residual, blobs)
        else:
            validate_affine(layer, source, target, residual, blobs)
        written.add(layer.output)
        available.add(layer.output)
    if pools != 1:
        raise WrenFormatError("LAYR.count", model.layer_table_offset,
                              f"{pools} average_pool_linear layers, exactly one is required")


def validate_conv(layer, source, target, residual, blobs):
    k, stride, padding = layer.kernel, layer.stride, layer.padding
    if k % 2 == 0 or not 1 <= k <= 7:
        raise WrenFormatError(f"{layer.name}.kernel_size", layer.offset + 16, f"{k} is not odd in 1...7")
    if not 1 <= stride <= 4:
        raise WrenFormatError(f"{layer.name}.stride", layer.offset + 20, f"{stride} is not in 1...4")
    if padding >= k:
        raise WrenFormatError(f"{layer.name}.padding", layer.offset + 24, f"{padding} is not < kernel size {k}")
    if layer.out_channels != target.channels:
        raise WrenFormatError(f"{layer.name}.out_channels", layer.offset + 40,
                              f"{layer.out_channels}, the output tensor has {target.channels} channels")
    for axis, size_in, size_out, field_offset in (("height", source.height, target.height, 8),
                                                  ("width", source.width, target.width, 8)):
        padded = size_in + 2 * padding
        expected = (padded - k) // stride + 1 if padded >= k else 0
        if size_out != expected:
            raise WrenFormatError(f"{layer.name}.output", layer.offset + field_offset,
                                  f"output {axis} {size_out}, a {k}x{k} stride-{stride} padding-{padding} conv "
                                  f"over {size_in} gives {expected}")
    if residual is not None:
        if residual.shape != target.shape:
            raise WrenFormatError(f"{layer.name}.residual", layer.offset + 12,
                                  f"shape {residual.shape} differs from the output's {target.shape}")
        if not is_normalized(layer.residual_multiplier, layer.residual_shift):
            raise WrenFormatError(f"{layer.name}.residual_multiplier", layer.offset + 32,
                                  f"(m={layer.residual_multiplier}, s={layer.residual_shift}) is not normalized")
    elif layer.residual_multiplier != 0 or layer.residual_shift != 0:
        raise WrenFormatError(f"{layer.name}.residual_multiplier", layer.offset + 32,
                              "must be 0 with shift 0 when there is no residual")

    out_channels, in_channels = target.channels, source.channels
    depth = k * k * in_channels
    padded_out, padded_depth = round_up(out_channels, 16), round_up(depth, 4)
    packed = blobs.read(layer, 0, padded_out * padded_depth, "i1")
    bias = blobs.read(layer, 1, 4 * out_channels, "<i4")
    multipliers = blobs.read(layer, 2, 4 * out_channels, "<i4")
    shifts = blobs.read(layer, 3, 4 * out_channels, "<i4")
    blobs.read(layer, 4, 0, "i1")
    # Byte ((o/16)·(K'/4) + k/4)·64 + (o%16)·4 + k%4 holds w[o][k] (§6.3).
    matrix = (packed.reshape(padded_out // 16, padded_depth // 4, 16, 4)
              .transpose(0, 2, 1, 3).reshape(padded_out, padded_depth))
    if matrix[out_channels:].any() or matrix[:, depth:].any():
        raise WrenFormatError(f"{layer.name}.slot[0]", layer.offset + 48, "packing padding bytes are not zero")
    weights = matrix[:out_channels, :depth].astype(np.int64)
    if (weights == -128).any():
        o = int(np.argwhere(weights == -128)[0][0])
        raise WrenFormatError(f"{layer.name}.weights", layer.offset + 48, f"output channel {o} holds -128")
    check_normalized_vectors(layer, multipliers, shifts)
    centered = ELEMENT_CENTERED[source.element_type]
    bound = np.abs(bias.astype(np.int64)) + centered * np.abs(weights).sum(axis=1)
    # An int16 input accumulates in int64 (§7.6): the bound is 2^47, not int32.
    limit = (1 << 47) - 1 if source.element_type == ELEMENT_INT16 else INT32_MAX
    if (bound > limit).any():
        o = int(np.argmax(bound > limit))
        raise WrenFormatError(f"{layer.name}.bias", layer.offset + 64,
                              f"output channel {o}: |bias| + {centered}·Σ|w| = {int(bound[o])} > {limit}")
    layer.arrays = dict(weights=weights, bias=bias.astype(np.int64),
                        multipliers=multipliers.astype(np.int64), shifts=shifts.astype(np.int64))


def validate_affine(layer, source, target, residual, blobs):
    if target.shape != source.shape:
        raise WrenFormatError(f"{layer.name}.output", layer.offset + 8,
                              f"shape {target.shape} differs from the input's {source.shape}")
    if layer.out_channels != source.channels:
        raise WrenFormatError(f"{layer.name}.out_channels", layer.offset + 40,
                              f"{layer.out_channels}, the tensor has {source.channels} channels")
    for field, value, expected, at in (("kernel_size", layer.kernel, 1, 16), ("stride", layer.stride, 1, 20),
                                       ("padding", layer.padding, 0, 24)):
        if value != expected:
            raise WrenFormatError(f"{layer.name}.{field}", layer.offset + at, f"{value}, must be {expected}")
    if residual is not None:
        raise WrenFormatError(f"{layer.name}.residual", layer.offset + 12, "channel_affine_relu takes no residual")
    # The residual multiplier and shift are unused here: written as 0, ignored (§6.3).
    channels = source.channels
    blobs.read(layer, 0, 0, "i1")
    offsets = blobs.read(layer, 1, 4 * channels, "<i4")
    multipliers = blobs.read(layer, 2, 4 * channels, "<i4")
    shifts = blobs.read(layer, 3, 4 * channels, "<i4")
    blobs.read(layer, 4, 0, "i1")
    check_normalized_vectors(layer, multipliers, shifts)
    bits = 30 if target.element_type == ELEMENT_INT16 else 24  # an int16 output allows ±2^30 (§6.2)
    if (np.abs(offsets.astype(np.int64)) > (1 << bits)).any():
        c = int(np.argmax(np.abs(offsets.astype(np.int64)) > (1 << bits)))
        raise WrenFormatError(f"{layer.name}.offsets[{c}]", layer.offset + 64, f"|{int(offsets[c])}| > 2^{bits}")
    layer.arrays = dict(offsets=offsets.astype(np.int64), multipliers=multipliers.astype(np.int64),
                        shifts=shifts.astype(np.int64))


def validate_pool(model, layer, source, residual, blobs):
    if layer.output != NO_TENSOR:
        raise WrenFormatError(f"{layer.name}.output", layer.offset + 8, f"{layer.output}, must be 0xFFFFFFFF (logits)")
    if residual is not None:
        raise WrenFormatError(f"{layer.name}.residual", layer.offset + 12, "average_pool_linear takes no residual")
    # Kernel size, stride, padding, the ReLU flag and the residual multiplier are unused here:
    # written as 1, 1, 0, 0, (0, 0) and ignored (§6.3).
    if layer.out_channels != model.class_count:
        raise WrenFormatError(f"{layer.name}.out_channels", layer.offset + 40,
                              f"{layer.out_channels}, the model has {model.class_count} classes")
    centered = ELEMENT_CENTERED[source.element_type]
    if source.height * source.width > INT32_MAX // centered:
        raise WrenFormatError(f"{layer.name}.input", layer.offset + 4,
                              f"H·W = {source.height * source.width} > ⌊(2^31 − 1) / {centered}⌋")
    classes, channels = model.class_count, source.channels
    weights = blobs.read(layer, 0, 4 * classes * channels, "<f4")
    bias = blobs.read(layer, 1, 4 * classes, "<f4")
    for slot in (2, 3, 4):
        blobs.read(layer, slot, 0, "i1")
    if not np.isfinite(weights).all():
        raise WrenFormatError(f"{layer.name}.weights", layer.offset + 48, "not all finite")
    if not np.isfinite(bias).all():
        raise WrenFormatError(f"{layer.name}.bias", layer.offset + 64, "not all finite")
    layer.arrays = dict(weights=weights.reshape(classes, channels).astype(np.float32),
                        bias=bias.astype(np.float32))


def labels(model):
    """Class labels when the `labels` entry has exactly one line per class; otherwise None (§4)."""
    text = model.metadata.get("labels")
    lines = text.split("\n") if text is not None else []
    return lines if len(lines) == model.class_count else None


# ---------------------------------------------------------------------------------------------
# Arithmetic (§7), int64 throughout


def srdhm(a, b):
    """SaturatingRoundingDoublingHighMul on int64 arrays holding int32 values (§7.1)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    product = a * b
    nudge = np.where(product >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    total = product + nudge
    # Division by 2^31 truncating toward zero.
    quotient = np.where(total >= 0, total >> 31, -((-total) >> 31))
    saturated = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(saturated, np.int64(INT32_MAX), quotient)


def rdbpot(x, exponent):
    """RoundingDivideByPOT (§7.1); `>>` on int64 NumPy arrays is arithmetic."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0).astype(np.int64)
    return (x >> exponent) + (remainder > threshold).astype(np.int64)


def mbqm(x, multiplier, shift):
    """MultiplyByQuantizedMultiplier: RDBPOT(SRDHM(clamp_i32(x·2^max(−s,0)), m), max(s,0))."""
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(-shift, 0)
    right = np.maximum(shift, 0)
    scaled = np.clip(np.asarray(x, dtype=np.int64) << left, INT32_MIN, INT32_MAX)
    return rdbpot(srdhm(scaled, multiplier), right)


def mbqm64(x, multiplier, shift):
    """§7.6: MBQM64 = RDBPOT(⌊(a·m + 2^30) / 2^31⌋, max(s,0)), a = clamp(x·2^max(−s,0), ±2^47).
    a·m reaches 2^78, so it is split: a = hi·2^31 + lo with 0 ≤ lo < 2^31, and
    ⌊(a·m + 2^30) / 2^31⌋ = hi·m + ⌊(lo·m + 2^30) / 2^31⌋, every term within int64."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    multiplier = np.asarray(multiplier, dtype=np.int64)
    left = np.maximum(-shift, 0)
    right = np.maximum(shift, 0)
    limit = np.int64(1 << 47)
    reach = limit >> left
    a = np.where(x > reach, limit, np.where(x < -reach, -limit, x << left))
    hi, lo = a >> 31, a & np.int64((1 << 31) - 1)
    return rdbpot(hi * multiplier + ((lo * multiplier + (1 << 30)) >> 31), right)


def quantize_input(x, tensor):
    """§7.2: q = clamp(round_half_even(x / scale) + zero_point, min, max), division in f32;
    [min, max] = [−128, 127] for int8, [−32767, 32767] for int16 (zero point 0)."""
    scaled = np.rint(x / np.float32(tensor.scale))  # float32 / float32 stays float32
    # Clipping before the integer conversion keeps huge values from overflowing; results clamp anyway.
    q = np.clip(scaled, -65536, 65536).astype(np.int64) + tensor.zero_point
    return np.clip(q, *ELEMENT_RANGE[tensor.element_type])


# §7.1, rule 2: residual sums and affine outputs keep this many fraction bits until their one rounding.
SINGLE_ROUNDING_FRACTION_BITS = 8


def run_conv(layer, x, source, target, residual_values, residual, rounding_rule=1):
    """x: int64 [N, H, W, C] (NHWC); returns int64 [N, OH, OW, O] (§7.3)."""
    k, stride, pad = layer.kernel, layer.stride, layer.padding
    batch = x.shape[0]
    centered = (x - source.zero_point).astype(np.float64)
    padded = np.zeros((batch, source.height + 2 * pad, source.width + 2 * pad, source.channels))
    padded[:, pad:pad + source.height, pad:pad + source.width, :] = centered  # padding taps are 0 after centering
    oh, ow = target.height, target.width
    patches = np.empty((batch, oh, ow, k, k, source.channels))
    for ky in range(k):
        for kx in range(k):
            patches[:, :, :, ky, kx, :] = padded[:, ky:ky + stride * (oh - 1) + 1:stride,
                                                 kx:kx + stride * (ow - 1) + 1:stride, :]
    columns = patches.reshape(batch * oh * ow, k * k * source.channels)  # depth index (ky·k + kx)·I + i
    exact = columns @ layer.arrays["weights"].T.astype(np.float64)  # integers < 2^53: exact
    acc = exact.astype(np.int64).reshape(batch, oh, ow, target.channels) + layer.arrays["bias"]
    # An int16 input's accumulator exceeds int32: it is requantized by MBQM64 (§7.6).
    requantize = mbqm64 if source.element_type == ELEMENT_INT16 else mbqm
    value = requantize(acc, layer.arrays["multipliers"], layer.arrays["shifts"])
    if residual is not None:
        value = value + mbqm(residual_values - residual.zero_point, layer.residual_multiplier, layer.residual_shift)
        if rounding_rule == 2:  # §7.1: the sum carries 8 fraction bits, rounded once
            value = rdbpot(np.clip(value, INT32_MIN, INT32_MAX), SINGLE_ROUNDING_FRACTION_BITS)
    return clamp_output(value + target.zero_point, target, layer.flags & LAYER_FLAG_RELU)


def run_affine(layer, x, source, target, rounding_rule=1):
    """§7.4, per channel on the last (C) axis."""
    value = mbqm(x - source.zero_point, layer.arrays["multipliers"], layer.arrays["shifts"])
    value = value + layer.arrays["offsets"]
    if rounding_rule == 2:
        value = rdbpot(np.clip(value, INT32_MIN, INT32_MAX), SINGLE_ROUNDING_FRACTION_BITS)
    value = value + target.zero_point
    return clamp_output(value, target, layer.flags & LAYER_FLAG_RELU)


def clamp_output(value, target, relu):
    """Clamp to the output type's range (§7.3, §7.6), at the zero point under a ReLU."""
    low, high = ELEMENT_RANGE[target.element_type]
    return np.clip(value, max(target.zero_point, low) if relu else low, high)


def run_pool_linear(layer, x, source):
    """§7.5: i32 sums, f32 features, then a strictly sequential f32 dot product per class."""
    batch = x.shape[0]
    sums = (x - source.zero_point).reshape(batch, -1, source.channels).sum(axis=1)  # exact in int64
    assert np.abs(sums).max(initial=0) <= INT32_MAX  # guaranteed by the H·W bound
    features = (sums.astype(np.float32) * np.float32(source.scale)) / np.float32(source.height * source.width)
    weights, bias = layer.arrays["weights"], layer.arrays["bias"]
    acc = np.zeros((batch, weights.shape[0]), dtype=np.float32)
    for c in range(source.channels):
        product = np.multiply(weights[None, :, c], features[:, c:c + 1], dtype=np.float32)
        acc = np.add(acc, product, dtype=np.float32)
    return np.add(acc, bias[None, :], dtype=np.float32)


def run_model(model, inputs):
    """inputs: float32 [N, C, H, W], normalized. Returns float32 logits [N, classes]."""
    inputs = np.asarray(inputs)
    if inputs.dtype != np.float32:
        raise WrenInputError(f"input dtype is {inputs.dtype}, expected float32")
    if inputs.ndim != 4 or tuple(inputs.shape[1:]) != model.input_shape:
        raise WrenInputError(f"input shape {inputs.shape}, expected [N, {', '.join(map(str, model.input_shape))}]")
    if inputs.shape[0] == 0:
        raise WrenInputError("empty batch")
    if not np.isfinite(inputs).all():
        raise WrenInputError("input holds NaN or infinity")
    tensors = model.tensors
    values = {model.input_tensor: quantize_input(inputs.transpose(0, 2, 3, 1), tensors[model.input_tensor])}
    for layer in model.layers:
        source = tensors[layer.input]
        x = values[layer.input]
        if layer.op == OP_AVERAGE_POOL_LINEAR:
            return run_pool_linear(layer, x, source)
        target = tensors[layer.output]
        if layer.op == OP_CONV2D:
            residual = tensors[layer.residual] if layer.residual != NO_TENSOR else None
            residual_values = values[layer.residual] if residual is not None else None
            values[layer.output] = run_conv(layer, x, source, target, residual_values, residual, model.rounding_rule)
        else:
            values[layer.output] = run_affine(layer, x, source, target, model.rounding_rule)
    raise AssertionError("validated models end with average_pool_linear")


# ---------------------------------------------------------------------------------------------
# Writing (for tests and fuzz seeds: models with shapes `wren convert` never produces)


def quantize_multiplier(real):
    """A positive or negative real multiplier as the normalized pair (m, s) of §7.1."""
    if real == 0:
        return 0, 0
    fraction, exponent = np.frexp(abs(real))  # abs(real) = fraction · 2^exponent, fraction in [0.5, 1)
    m = int(round(float(fraction) * (1 << 31)))
    if m == 1 << 31:
        m //= 2
        exponent += 1
    shift = -int(exponent)
    if not -31 <= shift <= 31:
        raise ValueError(f"multiplier {real} needs shift {shift}, outside -31...31")
    return (-m if real < 0 else m), shift


def pack_conv_weights(weights):
    """int weights [O][K] (depth index (ky·k + kx)·I + i) into the §6.3 byte layout."""
    out_channels, depth = weights.shape
    padded = np.zeros((round_up(out_channels, 16), round_up(depth, 4)), dtype=np.int8)
    padded[:out_channels, :depth] = weights
    blocks = padded.reshape(padded.shape[0] // 16, 16, padded.shape[1] // 4, 4).transpose(0, 2, 1, 3)
    return blocks.tobytes()


def write_model(spec):
    """Bytes of a .wren v1 file from a plain description:
    spec = {"metadata": [(key, value)], "input_height", "input_width", "classes", "mean", "std",
            "input_tensor", "tensors": [(c, h, w, scale, zero_point, name[, element_type])],
            "layers": [{"op", "input", "output", "residual", "kernel", "stride", "padding", "relu",
                        "residual_multiplier", "residual_shift", "out_channels", "blobs": [bytes × 5]}]}
    Sections go META, MODL, TENS, LAYR, DATA, each at a multiple of 64 (§1)."""
    meta = struct.pack("<I", len(spec["metadata"]))
    for key, value in spec["metadata"]:
        for text in (key.encode(), value.encode()):
            meta += struct.pack("<I", len(text)) + text
    modl = struct.pack("<4I3f3f2I", 3, spec["input_height"], spec["input_width"], spec["classes"],
                       *spec["mean"], *spec["std"], spec["input_tensor"], 1) + bytes(16)
    tens = struct.pack("<II", len(spec["tensors"]), 0)
    element_types = [t[6] if len(t) > 6 else ELEMENT_INT8 for t in spec["tensors"]]
    for (c, h, w, scale, zero_point, name, *_), element_type in zip(spec["tensors"], element_types):
        tens += struct.pack("<3IfiI", c, h, w, scale, zero_point, element_type) + name.encode().ljust(40, b"\0")
    # Version 2 only when some tensor is int16 (§8), as wren convert writes.
    major = ELEMENT_TYPE_MAJOR if any(t != ELEMENT_INT8 for t in element_types) else 1
    data = b""
    layr = struct.pack("<II", len(spec["layers"]), 0)
    for layer in spec["layers"]:
        slots = b""
        for blob in layer["blobs"]:
            if not blob:
                slots += struct.pack("<QQ", 0, 0)
                continue
            data += bytes(round_up(len(data), 64) - len(data))
            slots += struct.pack("<QQ", len(data), len(blob))
            data += blob
        layr += struct.pack("<8I2i2I", layer["op"], layer["input"], layer.get("output", NO_TENSOR),
                            layer.get("residual", NO_TENSOR), layer.get("kernel", 1), layer.get("stride", 1),
                            layer.get("padding", 0), 1 if layer.get("relu") else 0,
                            layer.get("residual_multiplier", 0), layer.get("residual_shift", 0),
                            layer["out_channels"], 0) + slots
    sections = [("META", meta), ("MODL", modl), ("TENS", tens), ("LAYR", layr), ("DATA", data)]
    table_offset = HEADER_SIZE
    offset = round_up(table_offset + SECTION_ENTRY_SIZE * len(sections), 64)
    table = b""
    body = b""
    for kind, payload in sections:
        table += struct.pack("<IIQQQ", kind_code(kind), SECTION_REQUIRED, offset, len(payload), 0)
        body += payload + bytes(round_up(len(payload), 64) - len(payload))
        offset += round_up(len(payload), 64)
    start = round_up(table_offset + len(table), 64)
    file_length = start + len(body)
    header = MAGIC + struct.pack("<HHIQIIII", major, SUPPORTED_MINOR, HEADER_SIZE, file_length,
                                 len(sections), table_offset, 0, 0) + bytes(24)
    image = bytearray(header + table + bytes(start - HEADER_SIZE - len(table)) + body)
    struct.pack_into("<I", image, 32, zlib.crc32(bytes(image)) & 0xFFFFFFFF)  # bytes 32-35 were zero
    return bytes(image)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Read a .wren v1 file and run it in NumPy (independent of Wren).")
    parser.add_argument("model", help=".wren file")
    parser.add_argument("input", help="float32 .npy [N, 3, H, W], normalized")
    parser.add_argument("--logits", help="write the float32 logits [N, classes] here")
    args = parser.parse_args(argv)
    with open(args.model, "rb") as handle:
        data = handle.read()
    try:
        model = read_model(data)
        logits = run_model(model, np.load(args.input, allow_pickle=False))
    except (WrenFormatError, WrenInputError) as error:
        print(f"error: {args.model}: {error}", file=sys.stderr)
        return 1
    names = labels(model)
    for n, row in enumerate(logits):
        best = int(np.argmax(row))
        name = f" ({names[best]})" if names else ""
        print(f"input {n}: class {best}{name}, logit {row[best]:.6g}")
    if args.logits:
        np.save(args.logits, logits.astype(np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main())
