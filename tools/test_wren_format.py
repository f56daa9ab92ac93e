#!/usr/bin/env python3
"""Checks that the independent reader tools/wren_format.py computes the Swift runtime's logits bit for bit.

Run from the repository root, after building the CLI:
    swift build -c release --product wren
    python3 tools/test_wren_format.py [--wren .build/release/wren] [--digits-count 32]
Needs Python 3.9+ and NumPy only (made with numpy 2.4.6, tools/requirements.txt); it builds nothing.

For several fixtures/models/*.pth (calibrated on their own .input.npy) and for fixtures/digits
(calibrated on calib_x.npy, run on the first --digits-count images of test_x.npy) it runs
`wren convert`, then `wren run --logits` and tools/wren_format.py on the same file and inputs,
and requires np.array_equal on the float32 logits, also for files with int16 tensors (.wren 2.0,
`--keep-wider` and `--auto-keep-wider`, §7.6) and synthetic models with random int16 tensors; both
readers must refuse an unknown element type or an int16 zero point, naming the field. It also
checks the spec's compatibility rules
(§8) on both readers with files edited here: a higher minor version with an unknown optional
section is read as 1.0, an unknown required section or an unknown major version (3) is rejected; and
it compares both on random synthetic models with shapes the converter never writes. With
--fuzz-corpus DIR it also requires both readers to accept or reject every file of a wren-model
fuzz corpus alike (tools/fuzz.sh wren-model ...) and to agree on the logits of those accepted.
Ends with a line `N passed, M failed`; exits 1 if anything failed.
"""

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import traceback
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wren_format  # noqa: E402  (the reader under test, next to this file)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_FIXTURES = ["wrn10_1_c10", "wrn10_2_c3_bias", "wrn10_2_c10_module", "wrn16_1_c100_train", "wrn22_1_c10"]


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, function):
        try:
            function()
        except Exception:  # a failed check is reported and the others still run
            self.failed += 1
            print(f"FAIL {name}")
            traceback.print_exc()
        else:
            self.passed += 1
            print(f"ok   {name}")


def wren(binary, *arguments):
    result = subprocess.run([binary, *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"wren {' '.join(arguments)} failed ({result.returncode}):\n{result.stderr}")
    return result


def convert(binary, checkpoint, calibration, output, *options):
    wren(binary, "convert", checkpoint, "-o", output, "--calibration", calibration, *options)
    with open(output, "rb") as handle:
        return handle.read()


def swift_logits(binary, model_path, inputs_path, scratch):
    out = os.path.join(scratch, "swift_logits.npy")
    wren(binary, "run", model_path, inputs_path, "--logits", out, "--quiet")
    return np.load(out)


def assert_bit_exact(swift, python, what):
    assert swift.dtype == np.float32 and python.dtype == np.float32, (swift.dtype, python.dtype)
    if not np.array_equal(swift, python):
        differing = np.argwhere(swift != python)
        first = tuple(differing[0])
        raise AssertionError(f"{what}: {len(differing)} of {swift.size} logits differ; first at {first}: "
                             f"swift {swift[first]!r} python {python[first]!r}")


def check_fixture(binary, checkpoint, calibration, inputs_path, scratch, *options, int16=()):
    """`options` go to `wren convert`; `int16` names the tensors that must then be int16 (a 2.0 file)."""
    model_path = os.path.join(scratch, "model.wren")
    data = convert(binary, checkpoint, calibration, model_path, *options)
    expected = swift_logits(binary, model_path, inputs_path, scratch)
    model = wren_format.read_model(data)
    wide = [t.name for t in model.tensors if t.element_type == wren_format.ELEMENT_INT16]
    if int16:
        assert sorted(wide) == sorted(int16) and model.version == (2, 0), (wide, model.version)
    else:
        assert not wide and model.version == (1, 0), (wide, model.version)
    actual = wren_format.run_model(model, np.load(inputs_path))
    assert expected.shape == actual.shape, (expected.shape, actual.shape)
    assert_bit_exact(expected, actual, os.path.basename(checkpoint))


def synthetic_model(seed, int16_share=0.0):
    """A random valid model with shapes `wren convert` never writes: odd channel counts (packing
    padding), kernels 1-7, strides 1-4, non-zero zero points, negative multipliers, left shifts;
    with `int16_share` > 0, that share of its tensors int16 (zero point 0, §7.6), multipliers
    scaled so int16 values stay mostly unsaturated. Returns (.wren bytes, float32 inputs)."""
    rng = np.random.default_rng(seed)
    height, width = 32, 32  # `wren run` reads .npy inputs as [N, 3, 32, 32] only
    classes = int(rng.integers(1, 12))
    c1, c2 = int(rng.integers(1, 21)), int(rng.integers(1, 40))
    tensors = []
    layers = []

    def tensor(c, h, w, name, relu_floor=False):
        if rng.uniform() < int16_share:
            tensors.append((c, h, w, float(np.float32(rng.uniform(0.01, 0.2) / 200)), 0, name, wren_format.ELEMENT_INT16))
            return len(tensors) - 1
        zero_point = int(rng.integers(-128, -100)) if relu_floor else int(rng.integers(-30, 31))
        tensors.append((c, h, w, float(np.float32(rng.uniform(0.01, 0.2))), zero_point, name))
        return len(tensors) - 1

    def wide(index):
        return len(tensors[index]) > 6

    def gain(source, target):
        """What keeps int16 values in range: 1/200 reading an int16 tensor, 200 writing one."""
        return (1 / 200 if wide(source) else 1) * (200 if wide(target) else 1)

    def multipliers(count, low, high, allow_negative):
        reals = rng.uniform(low, high, count) * (rng.choice([-1, 1], count) if allow_negative else 1)
        pairs = [wren_format.quantize_multiplier(float(r)) for r in reals]
        return (np.array([m for m, _ in pairs], "<i4").tobytes(), np.array([s for _, s in pairs], "<i4").tobytes())

    def conv(source, kernel, stride, padding, out_channels, name, residual=None):
        c, h, w = tensors[source][:3]
        out_h, out_w = (h + 2 * padding - kernel) // stride + 1, (w + 2 * padding - kernel) // stride + 1
        target = tensor(out_channels, out_h, out_w, name, relu_floor=bool(rng.integers(0, 2)))
        depth = kernel * kernel * c
        weights = rng.integers(-127, 128, (out_channels, depth))
        bias = rng.integers(-(1 << 15), 1 << 15, out_channels).astype("<i4")
        g = gain(source, target)
        m, s = multipliers(out_channels, g * 0.2 / (np.sqrt(depth) * 60), g * 1.5 / (np.sqrt(depth) * 60), False)
        layer = dict(op=wren_format.OP_CONV2D, input=source, output=target, kernel=kernel, stride=stride,
                     padding=padding, relu=bool(rng.integers(0, 2)), out_channels=out_channels,
                     blobs=[wren_format.pack_conv_weights(weights), bias.tobytes(), m, s, b""])
        if residual is not None:
            layer["residual"] = residual
            layer["residual_multiplier"], layer["residual_shift"] = wren_format.quantize_multiplier(
                float(gain(residual, target) * rng.uniform(0.3, 3) * rng.choice([-1, 1])))
        layers.append(layer)
        return target

    def affine(source, name):
        c, h, w = tensors[source][:3]
        target = tensor(c, h, w, name)
        g = gain(source, target)
        m, s = multipliers(c, g * 0.05, g * 3, True)  # reals above 1 need left shifts (s < 0)
        offsets = (rng.integers(-300, 300, c) * (200 if wide(target) else 1)).astype("<i4")
        layers.append(dict(op=wren_format.OP_CHANNEL_AFFINE_RELU, input=source, output=target,
                           relu=bool(rng.integers(0, 2)), out_channels=c, blobs=[b"", offsets.tobytes(), m, s, b""]))
        return target

    source = tensor(3, height, width, "input")
    k1 = int(rng.choice([1, 3, 5, 7]))
    x = conv(source, k1, int(rng.integers(1, 3)), int(rng.integers(0, k1)), c1, "stem")
    x = affine(x, "stem.affine")
    k2, stride = int(rng.choice([3, 5])), int(rng.integers(1, 5))
    main = conv(x, k2, stride, (k2 - 1) // 2, c2, "block.conv1")
    shortcut = conv(x, 1, stride, 0, c2, "block.shortcut")
    k3 = int(rng.choice([1, 3, 5, 7]))
    x = conv(main, k3, 1, (k3 - 1) // 2, c2, "block.conv2", residual=shortcut)
    x = affine(x, "head.affine")
    pool_weights = rng.normal(0, 0.5, (classes, c2)).astype("<f4")
    pool_bias = rng.normal(0, 0.5, classes).astype("<f4")
    layers.append(dict(op=wren_format.OP_AVERAGE_POOL_LINEAR, input=x, out_channels=classes,
                       blobs=[pool_weights.tobytes(), pool_bias.tobytes(), b"", b"", b""]))
    spec = dict(metadata=[("architecture", f"synthetic seed {seed}")], input_height=height, input_width=width,
                classes=classes, mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25], input_tensor=source,
                tensors=tensors, layers=layers)
    inputs = rng.normal(0, 2, (3, 3, height, width)).astype(np.float32)
    inputs[0, 0, 0, 0] = 1e30  # saturates at 127
    inputs[0, 1, 0, 0] = -1e30
    return wren_format.write_model(spec), inputs


def check_synthetic(binary, seed, scratch, int16_share=0.0):
    data, inputs = synthetic_model(seed, int16_share)
    model_path = os.path.join(scratch, f"synthetic{seed}.wren")
    inputs_path = os.path.join(scratch, f"synthetic{seed}.input.npy")
    with open(model_path, "wb") as handle:
        handle.write(data)
    np.save(inputs_path, inputs)
    expected = swift_logits(binary, model_path, inputs_path, scratch)
    actual = wren_format.run_model(wren_format.read_model(data), inputs)
    assert_bit_exact(expected, actual, f"synthetic model {seed}")


def repair_fuzz_input(raw):
    """A wren-model fuzz input as Sources/FuzzWrenModel reads it: a mode byte (bit 0 repairs the
    file-length field, bit 1 the checksum), then the file."""
    mode, data = raw[0], bytearray(raw[1:])
    if mode & 1 and len(data) >= 24:
        struct.pack_into("<Q", data, 16, len(data))
    if mode & 2 and len(data) >= 36:
        data = with_checksum(data)
    return bytes(data)


def check_differential(binary, corpus, scratch):
    """Every file of a wren-model fuzz corpus: both readers accept it or both reject it, and
    accepted models give identical logits."""
    agreed = 0
    model_path = os.path.join(scratch, "differential.wren")
    inputs_path = os.path.join(scratch, "differential.input.npy")
    for name in sorted(os.listdir(corpus)):
        with open(os.path.join(corpus, name), "rb") as handle:
            raw = handle.read()
        if not raw:
            continue
        data = repair_fuzz_input(raw)
        with open(model_path, "wb") as handle:
            handle.write(data)
        swift_accepts = subprocess.run([binary, "inspect", model_path], capture_output=True).returncode == 0
        try:
            model = wren_format.read_model(data)
        except wren_format.WrenFormatError as error:
            model, reason = None, str(error)
        assert swift_accepts == (model is not None), (
            f"{name}: wren inspect {'accepts' if swift_accepts else 'rejects'} it, "
            f"the Python reader {'accepts' if model is not None else 'rejects'} it {'' if model else reason}")
        if model is not None and model.input_shape == (3, 32, 32):
            inputs = np.random.default_rng(0).normal(0, 2, (2, 3, 32, 32)).astype(np.float32)
            np.save(inputs_path, inputs)
            assert_bit_exact(swift_logits(binary, model_path, inputs_path, scratch),
                             wren_format.run_model(model, inputs), name)
        agreed += 1
    print(f"     {agreed} corpus files: same verdict, same logits")


def with_checksum(data):
    data = bytearray(data)
    data[32:36] = b"\0\0\0\0"
    data[32:36] = struct.pack("<I", zlib.crc32(bytes(data)) & 0xFFFFFFFF)
    return bytes(data)


def add_unknown_section(data, required):
    """Appends an `XTRA` section (and its table entry) to a converted file, minor version 1 (§8)."""
    data = bytearray(data)
    count, table = struct.unpack_from("<II", data, 24)
    entry_at = table + 32 * count
    first_section = min(struct.unpack_from("<Q", data, table + 32 * i + 8)[0] for i in range(count))
    assert entry_at + 32 <= first_section, "no room for another section table entry"
    struct.pack_into("<HH", data, 8, 1, 1)
    payload = b"future data"
    offset = (len(data) + 63) // 64 * 64
    data += bytes(offset - len(data)) + payload
    struct.pack_into("<IIQQQ", data, entry_at, wren_format.kind_code("XTRA"), 1 if required else 0,
                     offset, len(payload), 0)
    struct.pack_into("<I", data, 24, count + 1)
    struct.pack_into("<Q", data, 16, len(data))
    return with_checksum(data)


def check_compatibility(binary, scratch):
    checkpoint = os.path.join(REPO, "fixtures", "models", "wrn10_1_c10.pth")
    inputs_path = os.path.join(REPO, "fixtures", "models", "wrn10_1_c10.input.npy")
    base_path = os.path.join(scratch, "base.wren")
    base = convert(binary, checkpoint, inputs_path, base_path)
    expected = swift_logits(binary, base_path, inputs_path, scratch)

    newer_path = os.path.join(scratch, "newer_minor.wren")
    with open(newer_path, "wb") as handle:
        handle.write(add_unknown_section(base, required=False))
    assert_bit_exact(expected, swift_logits(binary, newer_path, inputs_path, scratch), "swift, minor 1 + XTRA")
    with open(newer_path, "rb") as handle:
        newer = wren_format.read_model(handle.read())
    assert newer.version == (1, 1)
    assert_bit_exact(expected, wren_format.run_model(newer, np.load(inputs_path)), "python, minor 1 + XTRA")

    rejected = {
        "required_unknown.wren": (add_unknown_section(base, required=True), "XTRA"),
        "major3.wren": (with_checksum(base[:8] + struct.pack("<H", 3) + base[10:]), "3"),
    }
    for name, (data, named) in rejected.items():
        expect_refused(binary, scratch, inputs_path, name, data, named)


def expect_refused(binary, scratch, inputs_path, name, data, *fragments):
    """Both readers refuse `data` (written to scratch/name), each message naming every fragment."""
    path = os.path.join(scratch, name)
    with open(path, "wb") as handle:
        handle.write(data)
    try:
        wren_format.read_model(data)
    except wren_format.WrenFormatError as error:
        assert all(f in str(error) for f in fragments), f"python reader's message for {name} does not name {fragments}: {error}"
    else:
        raise AssertionError(f"python reader accepted {name}")
    result = subprocess.run([binary, "run", path, inputs_path, "--quiet"], capture_output=True, text=True)
    assert result.returncode != 0, f"wren run accepted {name}"
    assert all(f in result.stderr for f in fragments), f"wren's message for {name} does not name {fragments}: {result.stderr}"


def tensor_record_offset(data, index):
    """File offset of tensor record `index` (TENS table, §6.1)."""
    count, table = struct.unpack_from("<II", data, 24)
    for i in range(count):
        kind, _, offset = struct.unpack_from("<IIQ", data, table + 32 * i)
        if kind == wren_format.kind_code("TENS"):
            return offset + 8 + 64 * index
    raise AssertionError("no TENS section")


def auto_kept(binary, scratch):
    """The tensors `--auto-keep-wider 2` keeps on wrn10_2_c3_bias, from the metadata it writes."""
    inputs = os.path.join(REPO, "fixtures", "models", "wrn10_2_c3_bias.input.npy")
    path = os.path.join(scratch, "auto.wren")
    data = convert(binary, os.path.join(REPO, "fixtures", "models", "wrn10_2_c3_bias.pth"), inputs, path,
                   "--auto-keep-wider", "2")
    names = wren_format.read_model(data).metadata["int16_activations"].split(",")
    assert len(names) == 2, names
    return names


def check_int16_refusals(binary, scratch):
    """A 2.0 file whose element type is unknown, or whose int16 tensor has a zero point, is refused
    by both readers naming the field (§6.1)."""
    checkpoint = os.path.join(REPO, "fixtures", "models", "wrn10_1_c10.pth")
    inputs_path = os.path.join(REPO, "fixtures", "models", "wrn10_1_c10.input.npy")
    wide_path = os.path.join(scratch, "wide.wren")
    base = convert(binary, checkpoint, inputs_path, wide_path, "--keep-wider", "block2.layer.0.relu1")
    model = wren_format.read_model(base)
    index = next(t.index for t in model.tensors if t.name == "block2.layer.0.relu1")
    at = tensor_record_offset(base, index)
    edited = {}
    data = bytearray(base)
    struct.pack_into("<I", data, at + 20, 2)
    edited["element_type.wren"] = (with_checksum(data), "element_type")
    data = bytearray(base)
    struct.pack_into("<i", data, at + 16, 3)
    edited["zero_point.wren"] = (with_checksum(data), "zero_point")
    for name, (data, named) in edited.items():
        expect_refused(binary, scratch, inputs_path, name, data, named, f"tensor[{index}]")


def check_rounding_primitives():
    """§7.1's worked ties and saturation, on the Python side (the Swift side has FixedPointTests)."""
    half = 1 << 30  # a·b = ±2^30 is ±0.5 in units of 2^31
    assert wren_format.srdhm(half, 1).item() == 1
    assert wren_format.srdhm(-half, 1).item() == 0
    assert wren_format.srdhm(-3 * half, 1).item() == -1
    assert wren_format.srdhm(-(1 << 31), -(1 << 31)).item() == (1 << 31) - 1
    assert wren_format.rdbpot(-3, 1).item() == -2  # −1.5 → −2 (away from zero)
    assert wren_format.rdbpot(3, 1).item() == 2
    assert wren_format.rdbpot(-5, 2).item() == -1
    # MBQM64 (§7.6) equals MBQM wherever x·2^left fits in int32, and is exact beyond: checked
    # against Python's unbounded integers.
    rng = np.random.default_rng(7)
    for _ in range(2000):
        m = int(rng.integers(1 << 30, 1 << 31)) * int(rng.choice([-1, 1]))
        s = int(rng.integers(-31, 32))
        x = int(rng.integers(-(1 << 46), 1 << 46)) >> int(rng.integers(0, 46))
        if abs(x << max(-s, 0)) < (1 << 31):
            assert wren_format.mbqm64(x, m, s).item() == wren_format.mbqm(x, m, s).item(), (x, m, s)
        a = max(-(1 << 47), min(1 << 47, x << max(-s, 0)))
        h = (a * m + (1 << 30)) >> 31  # floor, unbounded
        right = max(s, 0)
        expected = (h >> right) + (1 if (h & ((1 << right) - 1)) > (((1 << right) - 1) >> 1) + (1 if h < 0 else 0) else 0)
        assert wren_format.mbqm64(x, m, s).item() == expected, (x, m, s)
    # 9·640 taps of 32767·127 exceed int32; a ReLU-sized multiplier brings them back.
    acc = 9 * 640 * 32767 * 127
    assert acc > (1 << 31)
    assert wren_format.mbqm64(acc, 1 << 30, 20).item() == round(acc / 2 / (1 << 20))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wren", default=os.path.join(REPO, ".build", "release", "wren"), help="built wren CLI")
    parser.add_argument("--digits-count", type=int, default=32, help="digits test images to compare")
    parser.add_argument("--synthetic-count", type=int, default=12, help="random synthetic models to compare")
    parser.add_argument("--fuzz-corpus", action="append", default=[],
                        help="also compare both readers on every file of this wren-model fuzz corpus "
                             "(e.g. .build-fuzz/corpus/wren-model); repeatable")
    args = parser.parse_args()
    binary = os.path.abspath(args.wren)
    if not os.access(binary, os.X_OK):
        print(f"error: {binary} is not an executable; build it with `swift build -c release --product wren`",
              file=sys.stderr)
        return 2

    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="wren_format_test_") as scratch:
        checks.run("rounding primitives", check_rounding_primitives)
        for name in MODEL_FIXTURES:
            folder = os.path.join(REPO, "fixtures", "models")
            inputs_path = os.path.join(folder, f"{name}.input.npy")
            checks.run(f"bit-exact logits {name}", lambda: check_fixture(
                binary, os.path.join(folder, f"{name}.pth"), inputs_path, inputs_path, scratch))

        digits = os.path.join(REPO, "fixtures", "digits")
        subset = os.path.join(scratch, "digits_subset.npy")
        np.save(subset, np.load(os.path.join(digits, "test_x.npy"))[:args.digits_count])
        checks.run(f"bit-exact logits digits WRN-16-2 ({args.digits_count} test images)", lambda: check_fixture(
            binary, os.path.join(digits, "wrn16_2_digits.pth"), os.path.join(digits, "calib_x.npy"), subset, scratch))
        # int16 tensors (.wren 2.0): the model input (the stem reads int16), an affine output two
        # convolutions read, a residual block output (affine input and next residual), the pooled
        # features; then the converter's own pick.
        kept = ["input", "block2.layer.0.relu1", "block3.layer.0", "relu"]
        checks.run(f"bit-exact logits digits --keep-wider {','.join(kept)}", lambda: check_fixture(
            binary, os.path.join(digits, "wrn16_2_digits.pth"), os.path.join(digits, "calib_x.npy"), subset, scratch,
            "--keep-wider", ",".join(kept), int16=kept))
        checks.run("bit-exact logits wrn10_2_c3_bias --auto-keep-wider 2", lambda: check_fixture(
            binary, os.path.join(REPO, "fixtures", "models", "wrn10_2_c3_bias.pth"),
            os.path.join(REPO, "fixtures", "models", "wrn10_2_c3_bias.input.npy"),
            os.path.join(REPO, "fixtures", "models", "wrn10_2_c3_bias.input.npy"), scratch, "--auto-keep-wider", "2",
            int16=auto_kept(binary, scratch)))
        checks.run("compatibility: minor 1 + unknown sections, major 3", lambda: check_compatibility(binary, scratch))
        checks.run("int16 refusals: element type, zero point", lambda: check_int16_refusals(binary, scratch))
        for seed in range(args.synthetic_count):
            checks.run(f"bit-exact logits synthetic model {seed}", lambda: check_synthetic(binary, seed, scratch))
        for seed in range(args.synthetic_count):
            checks.run(f"bit-exact logits synthetic model {100 + seed}, 40% int16 tensors",
                       lambda: check_synthetic(binary, 100 + seed, scratch, int16_share=0.4))
        for corpus in args.fuzz_corpus:
            checks.run(f"differential: {corpus}", lambda: check_differential(binary, corpus, scratch))
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
