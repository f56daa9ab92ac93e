"""A new user's trial of the `wren` CLI on checkpoints that are NOT in fixtures/.

Run from the repository root, after building the CLI in release mode:
    swift build -c release --scratch-path .build-cli
    python3 tools/try_new_checkpoints.py [--wren .build-cli/release/wren] [--out /tmp/wren-trial]
Made with: Python 3.11, torch 2.15.0, numpy 2.4.6 (tools/requirements.txt). About 1-2 minutes.

It makes, in --out (default /tmp/wren-trial), four WRN checkpoints with tools/wrn_torch.py
(batch-norm parameters and statistics randomized as tools/make_fixtures.py does, eval mode):
  wrn28_2_c7             WRN-28-2, 7 classes, bare state_dict
  wrn40_1_c5             WRN-40-1, 5 classes, bare state_dict
  wrn16_3_c4_bias        WRN-16-3, 4 classes, a bias on every conv (PaddlePaddle-port style)
  wrn10_8_c10_sd_module  WRN-10-8, 10 classes, {"epoch": 3, "state_dict": DataParallel "module."-keys}
each with <name>.input.npy (float32 [8,3,32,32], N(0,1)) and <name>.logits.npy (PyTorch eval logits).
Then, per checkpoint, as a user would:
  float    wren run CKPT input.npy --logits F.npy   F must equal PyTorch within 1e-4 relative:
           max|F - torch| <= 1e-4 * max|torch|
  convert  wren convert CKPT -o X.wren --calibration input.npy          exit 0, file written
  inspect  wren inspect X.wren                  names "WRN-d-k, C classes" and one row per layer
  int8     wren run X.wren input.npy --reference CKPT --top 3 --logits I.npy
           exit 0, 8 prediction lines of min(3, C) classes, finite [8, C] logits, agreement printed
           (random-weight models: agreement is reported, not judged; see domain-facts.md)
  images   wren run X.wren fixtures/digits/images/*.jpg --top 3 --logits J.npy    12 lines, [12, C]
plus the trained digits model (fixtures/digits, WRN-16-2) converted with calib_x.npy, where int8
accuracy on test_x.npy and on the 12 JPEGs is meaningful.
Finally it tries the error paths a new user hits (missing files, wrong shapes, non-checkpoints,
-o equal to an input, a corrupt .wren, a PNG, --labels of the wrong count, no arguments) and
every --help. An error must exit non-zero (not by a signal), print no Swift trap or backtrace,
and its first stderr line must be "Error: ..." naming the problem; extra stderr lines (the
argument parser's usage block) are counted and listed.

Prints summary tables and exits 1 on any mismatch or failed expectation.
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wrn_torch import WideResNet, randomize_for_testing  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = sorted(glob.glob(os.path.join(REPO, "fixtures", "digits", "images", "*.jpg")))
DIGITS = os.path.join(REPO, "fixtures", "digits")

# name, depth, widen_factor, num_classes, conv_bias, container, seed
VARIANTS = [
    ("wrn28_2_c7", 28, 2, 7, False, "state_dict", 201),
    ("wrn40_1_c5", 40, 1, 5, False, "state_dict", 202),
    ("wrn16_3_c4_bias", 16, 3, 4, True, "state_dict", 203),
    ("wrn10_8_c10_sd_module", 10, 8, 10, False, "training_module", 204),
]
BATCH = 8
FLOAT_RELATIVE_TOLERANCE = 1e-4
TRAP_MARKERS = ["Fatal error", "Stack dump", "backtrace", "Backtrace", "Crash", "Swift runtime failure",
                "Illegal instruction", "Segmentation fault", "💣"]

failures = []


def fail(what):
    failures.append(what)


def make_checkpoint(out, name, depth, widen, classes, conv_bias, container, seed):
    torch.manual_seed(seed)
    model = WideResNet(depth, classes, widen_factor=widen, conv_bias=conv_bias)
    randomize_for_testing(model)
    model.eval()
    inputs = torch.randn(BATCH, 3, 32, 32)
    with torch.no_grad():
        logits = model(inputs)
    if container == "training_module":
        payload = {"epoch": 3, "state_dict": nn.DataParallel(model).state_dict()}
        assert all(k.startswith("module.") for k in payload["state_dict"])
    else:
        payload = model.state_dict()
    paths = {
        "ckpt": os.path.join(out, name + ".pth"),
        "input": os.path.join(out, name + ".input.npy"),
        "logits": os.path.join(out, name + ".logits.npy"),
    }
    torch.save(payload, paths["ckpt"])
    np.save(paths["input"], inputs.numpy().astype(np.float32))
    np.save(paths["logits"], logits.numpy().astype(np.float32))
    # Reload through the restricted unpickler so the file is known good before wren sees it.
    loaded = torch.load(paths["ckpt"], weights_only=True)
    sd = loaded["state_dict"] if container == "training_module" else loaded
    sd = OrderedDict((k[len("module."):] if k.startswith("module.") else k, v) for k, v in sd.items())
    check = WideResNet(depth, classes, widen_factor=widen, conv_bias=conv_bias)
    check.load_state_dict(sd, strict=True)
    check.eval()
    with torch.no_grad():
        assert torch.equal(check(inputs), logits), name
    return paths


def wren(binary, *args, timeout=600):
    start = time.monotonic()
    proc = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - start


def trapped(proc):
    return proc.returncode < 0 or proc.returncode >= 128 or any(m in proc.stderr for m in TRAP_MARKERS)


def describe_failure(step, proc, command):
    tail = (proc.stderr.strip().splitlines() or ["<no stderr>"])[-1]
    return f"{step}: exit {proc.returncode}: {tail}  [{' '.join(command)}]"


def relative_error(got, expected):
    return float(np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-12))


def prediction_lines(stdout, count):
    """Per-input lines look like 'NAME: label (p%), label (p%), ...'."""
    return [line for line in stdout.splitlines() if re.search(r": \S+ \([0-9.]+%\)", line)][:count]


def try_variant(binary, out, variant):
    name, depth, widen, classes, conv_bias, container, seed = variant
    arch = f"WRN-{depth}-{widen}"
    paths = make_checkpoint(out, name, depth, widen, classes, conv_bias, container, seed)
    row = {"name": name, "arch": arch, "classes": classes}
    torch_logits = np.load(paths["logits"])

    # float reference
    float_npy = os.path.join(out, name + ".wren-float.npy")
    command = ["run", paths["ckpt"], paths["input"], "--logits", float_npy]
    proc, row["t_float"] = wren(binary, *command)
    if proc.returncode != 0:
        fail(describe_failure(f"{name} float run", proc, command))
        row["float_rel"] = float("nan")
    else:
        got = np.load(float_npy)
        if got.shape != torch_logits.shape or got.dtype != np.float32:
            fail(f"{name} float logits: shape {got.shape} {got.dtype}, expected {torch_logits.shape} float32")
            row["float_rel"] = float("nan")
        else:
            row["float_rel"] = relative_error(got, torch_logits)
            if not row["float_rel"] <= FLOAT_RELATIVE_TOLERANCE:
                fail(f"{name} float logits differ from PyTorch: relative {row['float_rel']:.2e}")

    # convert
    model = os.path.join(out, name + ".wren")
    if os.path.exists(model):
        os.remove(model)
    command = ["convert", paths["ckpt"], "-o", model, "--calibration", paths["input"]]
    proc, row["t_convert"] = wren(binary, *command)
    row["size"] = os.path.getsize(model) if os.path.exists(model) else 0
    if proc.returncode != 0 or not os.path.exists(model):
        fail(describe_failure(f"{name} convert", proc, command))
        row.update(inspect="-", agree="-", int8_rel=float("nan"), images="-")
        return row
    if f"{arch}, {classes} classes" not in proc.stdout:
        fail(f"{name} convert: stdout does not say '{arch}, {classes} classes': {proc.stdout.strip()}")

    # inspect
    command = ["inspect", model]
    proc, _ = wren(binary, *command)
    expected = f"architecture: {arch}, {classes} classes"
    if proc.returncode != 0 or expected not in proc.stdout:
        fail(describe_failure(f"{name} inspect (want '{expected}')", proc, command))
        row["inspect"] = "FAIL"
    else:
        layer_rows = [l for l in proc.stdout.splitlines() if re.match(r"^\d+\s", l)]
        row["inspect"] = f"ok, {len(layer_rows)} layers"

    # int8 against the float reference
    int8_npy = os.path.join(out, name + ".wren-int8.npy")
    command = ["run", model, paths["input"], "--reference", paths["ckpt"], "--top", "3", "--logits", int8_npy]
    proc, row["t_int8"] = wren(binary, *command)
    if proc.returncode != 0:
        fail(describe_failure(f"{name} int8 run", proc, command))
        row.update(agree="-", int8_rel=float("nan"))
    else:
        lines = prediction_lines(proc.stdout, BATCH)
        want = min(3, classes)
        if len(lines) != BATCH or any(l.count("%)") != want for l in lines):
            fail(f"{name} int8 run: expected {BATCH} lines of {want} classes, got: {proc.stdout.strip()}")
        match = re.search(r"top-1 agreement int8 vs float: (\d+)/(\d+)", proc.stdout)
        row["agree"] = f"{match.group(1)}/{match.group(2)}" if match else "?"
        if not match:
            fail(f"{name} int8 run: no agreement line in output")
        got = np.load(int8_npy)
        if got.shape != torch_logits.shape or not np.isfinite(got).all():
            fail(f"{name} int8 logits: shape {got.shape}, finite={np.isfinite(got).all()}")
            row["int8_rel"] = float("nan")
        else:
            row["int8_rel"] = relative_error(got, torch_logits)

    # JPEG inputs
    images_npy = os.path.join(out, name + ".wren-images.npy")
    command = ["run", model, *IMAGES, "--top", "3", "--logits", images_npy]
    proc, _ = wren(binary, *command)
    if proc.returncode != 0:
        fail(describe_failure(f"{name} images run", proc, command[:3] + ["..."]))
        row["images"] = "FAIL"
    else:
        lines = prediction_lines(proc.stdout, len(IMAGES))
        got = np.load(images_npy)
        ok = len(lines) == len(IMAGES) and got.shape == (len(IMAGES), classes) and np.isfinite(got).all()
        row["images"] = f"{len(lines)} lines" if ok else "FAIL"
        if not ok:
            fail(f"{name} images: {len(lines)} lines, logits {got.shape}")
    return row


def try_digits(binary, out):
    """The trained model: here int8 accuracy means something."""
    model = os.path.join(out, "digits.wren")
    row = {"name": "digits (trained)", "arch": "WRN-16-2", "classes": 10}
    if os.path.exists(model):
        os.remove(model)
    command = ["convert", os.path.join(DIGITS, "wrn16_2_digits.pth"), "-o", model,
               "--calibration", os.path.join(DIGITS, "calib_x.npy"), "--class-names", os.path.join(DIGITS, "labels.txt")]
    proc, row["t_convert"] = wren(binary, *command)
    if proc.returncode != 0:
        fail(describe_failure("digits convert", proc, command))
        return row
    row["size"] = os.path.getsize(model)
    command = ["run", model, os.path.join(DIGITS, "test_x.npy"), "--reference", os.path.join(DIGITS, "wrn16_2_digits.pth"),
               "--labels", os.path.join(DIGITS, "test_y.npy"), "--quiet"]
    proc, row["t_int8"] = wren(binary, *command)
    if proc.returncode != 0:
        fail(describe_failure("digits run", proc, command))
        return row
    int8 = re.search(r"int8 accuracy: (\d+)/(\d+)", proc.stdout)
    flt = re.search(r"float accuracy: (\d+)/(\d+)", proc.stdout)
    agree = re.search(r"top-1 agreement int8 vs float: (\d+)/(\d+)", proc.stdout)
    if not (int8 and flt and agree):
        fail(f"digits run: missing accuracy lines: {proc.stdout.strip()}")
        return row
    row["accuracy"] = f"int8 {int8.group(1)}/{int8.group(2)}, float {flt.group(1)}/{flt.group(2)}"
    row["agree"] = f"{agree.group(1)}/{agree.group(2)}"
    if int(int8.group(1)) < 0.97 * int(int8.group(2)):
        fail(f"digits int8 accuracy {row['accuracy']} is below 97%")
    proc, _ = wren(binary, "run", model, *IMAGES, "--top", "2")
    lines = prediction_lines(proc.stdout, len(IMAGES))
    hits = 0
    for line in lines:
        label = re.search(r"_label(\d)\.jpg:", line)
        top1 = re.search(r": (\S+) \(", line)
        hits += bool(label and top1 and label.group(1) == top1.group(1))
    row["images"] = f"{hits}/{len(IMAGES)} correct"
    if proc.returncode != 0 or hits < 10:
        fail(f"digits JPEGs: {hits}/{len(IMAGES)} top-1 correct (exit {proc.returncode})")
    return row


def error_cases(out, model, ckpt, inputs, classes):
    """(title, argv, substrings the stderr must contain). Files are made here as a user would."""
    wrong_hw = os.path.join(out, "wrong_hw.npy")
    np.save(wrong_hw, np.zeros((2, 3, 28, 28), np.float32))
    wrong_c = os.path.join(out, "wrong_channels.npy")
    np.save(wrong_c, np.zeros((2, 1, 32, 32), np.float32))
    three_d = os.path.join(out, "one_image_3d.npy")
    np.save(three_d, np.zeros((3, 32, 32), np.float32))
    int_inputs = os.path.join(out, "uint8_inputs.npy")
    np.save(int_inputs, np.zeros((2, 3, 32, 32), np.uint8))
    text = os.path.join(out, "notes.txt")
    with open(text, "w") as f:
        f.write("not a checkpoint\n")
    pickle_ckpt = os.path.join(out, "plain_pickle.pth")
    torch.save({"a": 1}, pickle_ckpt)
    empty = os.path.join(out, "empty.pth")
    open(empty, "wb").close()
    ckpt_named_wren = os.path.join(out, "checkpoint_named.wren")
    shutil.copyfile(ckpt, ckpt_named_wren)
    corrupt = os.path.join(out, "corrupt.wren")
    data = bytearray(open(model, "rb").read())
    data[len(data) // 2] ^= 0x40
    open(corrupt, "wb").write(bytes(data))
    truncated = os.path.join(out, "truncated.wren")
    open(truncated, "wb").write(bytes(data[: len(data) // 3]))
    wrong_labels = os.path.join(out, "labels_wrong_count.npy")
    np.save(wrong_labels, np.zeros(3, np.int64))
    float_labels = os.path.join(out, "labels_float.npy")
    np.save(float_labels, np.zeros(BATCH, np.float32))
    empty_dir = os.path.join(out, "empty_dir")
    os.makedirs(empty_dir, exist_ok=True)
    png = os.path.join(REPO, "fixtures", "images", "not_a_jpeg.png")
    other_classes = os.path.join(REPO, "fixtures", "models", "wrn10_2_c3_bias.pth")
    missing = os.path.join(out, "does_not_exist.pth")
    missing_npy = os.path.join(out, "does_not_exist.npy")
    return [
        ("convert: missing checkpoint", ["convert", missing, "-o", os.path.join(out, "m.wren")], [missing]),
        ("run: missing model", ["run", os.path.join(out, "nope.wren"), inputs], ["nope.wren"]),
        ("run: missing input", ["run", model, missing_npy], [missing_npy]),
        ("inspect: missing file", ["inspect", os.path.join(out, "nope.wren")], ["nope.wren"]),
        ("convert: missing calibration", ["convert", ckpt, "-o", os.path.join(out, "m.wren"), "--calibration", missing_npy], [missing_npy]),
        ("run: .npy [2,3,28,28]", ["run", model, wrong_hw], ["wrong_hw.npy", "28"]),
        ("run: .npy [2,1,32,32]", ["run", model, wrong_c], ["wrong_channels.npy"]),
        ("run: .npy [3,32,32] (one image)", ["run", model, three_d], ["one_image_3d.npy"]),
        ("run: .npy uint8", ["run", model, int_inputs], ["uint8_inputs.npy"]),
        ("convert: calibration [2,3,28,28]", ["convert", ckpt, "-o", os.path.join(out, "m.wren"), "--calibration", wrong_hw], ["wrong_hw.npy"]),
        ("convert: text file as checkpoint", ["convert", text, "-o", os.path.join(out, "m.wren")], ["notes.txt"]),
        ("convert: empty file as checkpoint", ["convert", empty, "-o", os.path.join(out, "m.wren")], ["empty.pth"]),
        ("convert: pickle without tensors", ["convert", pickle_ckpt, "-o", os.path.join(out, "m.wren")], []),
        ("convert: .npy as checkpoint", ["convert", inputs, "-o", os.path.join(out, "m.wren")], []),
        ("convert: .wren as checkpoint", ["convert", model, "-o", os.path.join(out, "m.wren")], []),
        ("convert: hostile os.system pickle", ["convert", os.path.join(REPO, "fixtures", "hostile", "os_system.pth"), "-o", os.path.join(out, "m.wren")], []),
        ("convert: legacy (pre-1.6) .pth", ["convert", os.path.join(REPO, "fixtures", "hostile", "legacy_format.pth"), "-o", os.path.join(out, "m.wren")], []),
        ("run: text file as model", ["run", text, inputs], ["notes.txt"]),
        ("run: JPEG as model", ["run", IMAGES[0], inputs], []),
        ("convert: -o equal to the .pth", ["convert", ckpt, "-o", ckpt], []),
        ("convert: -o equal to checkpoint named .wren", ["convert", ckpt_named_wren, "-o", ckpt_named_wren], ["checkpoint_named.wren"]),
        ("run: --logits equal to the input", ["run", model, inputs, "--logits", inputs], [os.path.basename(inputs)]),
        ("convert: -o into a missing folder", ["convert", ckpt, "-o", os.path.join(out, "no_dir", "m.wren")], ["no_dir"]),
        ("inspect: corrupt .wren (1 bit)", ["inspect", corrupt], ["checksum"]),
        ("run: corrupt .wren (1 bit)", ["run", corrupt, inputs], ["checksum"]),
        ("inspect: truncated .wren", ["inspect", truncated], []),
        ("run: PNG image", ["run", model, png], ["not_a_jpeg.png", "PNG"]),
        ("run: empty folder of images", ["run", model, empty_dir], ["empty_dir"]),
        ("run: --labels wrong count", ["run", model, inputs, "--labels", wrong_labels], ["3", str(BATCH)]),
        ("run: --labels float32", ["run", model, inputs, "--labels", float_labels], []),
        ("convert: --class-names wrong count", ["convert", ckpt, "-o", os.path.join(out, "m.wren"), "--calibration", inputs, "--class-names", "a,b"], ["2", str(classes)]),
        ("run: --reference other class count", ["run", model, inputs, "--reference", other_classes], ["3", str(classes)]),
        ("run: --top 0", ["run", model, inputs, "--top", "0"], ["--top"]),
        ("run: --logits out.txt", ["run", model, inputs, "--logits", os.path.join(out, "out.txt")], ["out.txt"]),
        ("convert: --mean 1,2", ["convert", ckpt, "-o", os.path.join(out, "m.wren"), "--mean", "1,2"], ["--mean"]),
        ("convert: --std 0,0,0", ["convert", ckpt, "-o", os.path.join(out, "m.wren"), "--std", "0,0,0"], ["std"]),
        ("convert: -o x.onnx", ["convert", ckpt, "-o", os.path.join(out, "x.onnx")], [".wren"]),
        ("convert: no -o", ["convert", ckpt], ["-o"]),
        ("wren: unknown subcommand", ["quantize", ckpt], ["quantize"]),
        ("convert: no arguments", ["convert"], []),
        ("run: no arguments", ["run"], []),
        ("run: model only", ["run", model], []),
        ("inspect: no arguments", ["inspect"], []),
    ]


def try_errors(binary, out, model, ckpt, inputs, classes):
    rows = []
    ckpt_bytes = open(ckpt, "rb").read()
    inputs_bytes = open(inputs, "rb").read()
    for title, argv, needles in error_cases(out, model, ckpt, inputs, classes):
        proc, _ = wren(binary, *argv)
        lines = proc.stderr.strip().splitlines()
        errors = [l for l in lines if l.startswith("Error: ")]
        problems, notes = [], []
        if proc.returncode == 0:
            problems.append("exit 0")
        if trapped(proc):
            problems.append(f"TRAP (exit {proc.returncode})")
        if len(errors) != 1:
            problems.append(f"{len(errors)} 'Error: ...' lines")
        missing = [n for n in needles if n not in proc.stderr]
        if missing:
            problems.append(f"stderr lacks {missing}")
        if open(ckpt, "rb").read() != ckpt_bytes or open(inputs, "rb").read() != inputs_bytes:
            problems.append("AN INPUT FILE CHANGED")
        if errors:
            position = lines.index(errors[0])
            if position > 0:
                notes.append("after work")  # progress/warning lines came first: checked late
            if any(l.startswith("Usage: wren <subcommand>") for l in lines[position + 1:]):
                notes.append("+root usage")
            elif len(lines) > position + 1:
                notes.append("+usage")
        if problems:
            fail(f"error path '{title}': {'; '.join(problems)}; stderr: {proc.stderr.strip()[:300]}")
        verdict = "FAIL " + "; ".join(problems) if problems else "ok" + (" (" + ", ".join(notes) + ")" if notes else "")
        rows.append((title, proc.returncode, len(lines), verdict, errors[0] if errors else (lines[:1] or [""])[0]))
    # No arguments at all: the tool should say what it is and list its subcommands.
    proc, _ = wren(binary)
    ok = not trapped(proc) and "convert" in proc.stdout + proc.stderr and "inspect" in proc.stdout + proc.stderr
    rows.append(("wren: no arguments", proc.returncode, len(proc.stderr.strip().splitlines()),
                 "ok (prints help)" if ok else "FAIL", (proc.stdout.strip().splitlines() or [""])[0]))
    if not ok:
        fail("wren with no arguments does not print help")
    for sub in ["convert", "run", "inspect", ""]:
        argv = [sub, "--help"] if sub else ["--help"]
        proc, _ = wren(binary, *argv)
        # Subcommands teach by "Examples:"; the root command shows "A typical session:".
        ok = proc.returncode == 0 and "USAGE" in proc.stdout and (not sub or "Examples:" in proc.stdout)
        note = "ok" if ok else "FAIL"
        rows.append((f"wren {' '.join(argv)}", proc.returncode, len(proc.stderr.strip().splitlines()), note,
                     (proc.stdout.strip().splitlines() or [""])[0]))
        if not ok:
            fail(f"wren {' '.join(argv)}: exit {proc.returncode}, no 'Examples:'/USAGE in the help")
    return rows


def locate_binary(given):
    candidates = [given] if given else [
        os.path.join(REPO, ".build-cli", "release", "wren"),
        *sorted(glob.glob(os.path.join(REPO, ".build*", "release", "wren"))),
        *sorted(glob.glob(os.path.join(REPO, ".build*", "debug", "wren"))),
    ]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    sys.exit("wren binary not found: run `swift build -c release --scratch-path .build-cli` first, or pass --wren PATH")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wren", help="the wren executable (default: .build-cli/release/wren)")
    parser.add_argument("--out", default="/tmp/wren-trial", help="working folder for checkpoints and outputs")
    parser.add_argument("--skip-digits", action="store_true", help="skip the trained digits model (~20 s)")
    args = parser.parse_args()
    binary = locate_binary(args.wren)
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    print(f"wren: {binary}\nwork: {args.out}\n")

    rows = [try_variant(binary, args.out, v) for v in VARIANTS]
    if not args.skip_digits:
        rows.append(try_digits(binary, args.out))

    header = f"{'checkpoint':24s} {'arch':9s} {'C':>3s} {'float rel':>9s} {'float s':>7s} {'convert s':>9s} " \
             f"{'.wren bytes':>11s} {'inspect':15s} {'int8 s':>6s} {'agree':>7s} {'int8 rel':>8s}  images / accuracy"
    print(header)
    print("-" * len(header))
    for r in rows:
        def num(key, fmt):
            v = r.get(key)
            width = int(fmt.split(".")[0])
            return format(v, fmt) if isinstance(v, float) else "-".rjust(width)
        extra = r.get("images", "-") + (f"; {r['accuracy']}" if "accuracy" in r else "")
        print(f"{r['name']:24s} {r['arch']:9s} {r['classes']:3d} {num('float_rel', '9.1e')} {num('t_float', '7.2f')} "
              f"{num('t_convert', '9.2f')} {r.get('size', 0):11d} {r.get('inspect', '-'):15s} {num('t_int8', '6.2f')} "
              f"{r.get('agree', '-'):>7s} {num('int8_rel', '8.3f')}  {extra}")
    print(f"\nfloat rel = max|wren float - torch| / max|torch| (must be <= {FLOAT_RELATIVE_TOLERANCE:g}); "
          "int8 rel = the same for the int8 runtime (random weights: reported, not judged).\n")

    first = VARIANTS[0]
    model = os.path.join(args.out, first[0] + ".wren")
    if os.path.exists(model):
        error_rows = try_errors(binary, args.out, model, os.path.join(args.out, first[0] + ".pth"),
                                os.path.join(args.out, first[0] + ".input.npy"), first[3])
        print(f"{'error path':46s} {'exit':>4s} {'lines':>5s}  {'verdict':24s}  the error line")
        print("-" * 120)
        for title, code, count, verdict, first_line in error_rows:
            print(f"{title:46s} {code:4d} {count:5d}  {verdict:24s}  {first_line[:150]}")
        print("\nnotes: 'after work' = progress or warning lines precede the error (the problem was found only after "
              "loading/calibrating/running); '+root usage' = the parser appends 'Usage: wren <subcommand>', the root's "
              "usage, to an error thrown inside a subcommand's run(); '+usage' = the subcommand's own usage block.")

    print()
    if failures:
        print(f"{len(failures)} FAILURE(S):")
        for f in failures:
            print("  - " + f)
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
