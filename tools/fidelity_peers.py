"""How faithful is int8? Wren against ONNX Runtime and OpenVINO on the same checkpoint, side by side.

Install (CPU only, Python 3.11.7):
    python3 -m pip install -r tools/requirements.txt -r tools/bench_requirements.txt
    (torch 2.15.0, numpy 2.4.6, onnx 1.23.2, onnxruntime 1.32.0, openvino 2026.4.1; safetensors
    for .safetensors checkpoints)
Run from the repository root, after building the CLI in release mode:
    swift build -c release --scratch-path .build-cli --product wren
    python3 tools/fidelity_peers.py CKPT --calibration calib_x.npy --data test_x.npy \
        [--labels test_y.npy] [--wren .build-cli/release/wren] [--json out.json] [--layers 8]
CKPT is a PyTorch .pth or a .safetensors WRN (tools/wrn_torch.py naming). CALIB and DATA are
.npy float32 [N,3,32,32], already normalized. About 1-2 minutes for a WRN-28-1 with 256
calibration and 360 test inputs.

What it does, all against PyTorch float32 logits of DATA:
 1. Exports ONNX (as tools/bench_peers.py), runs quant_pre_process, then ORT quantize_static on
    CALIB with MinMax, Percentile and Entropy (QDQ, u8 activations, s8 per-channel weights),
    timing each call; runs each QDQ model in ONNX Runtime and in OpenVINO.
 2. Runs `wren convert --calibration-method M` for minmax, percentile, entropy (and any given by
    --wren-methods), timing the whole process, then `wren run --logits`.
 3. Prints per engine x method: top-1 agreement with float, logit SQNR
    (10·log10 Σf²/Σ(q−f)²), accuracy (with --labels), max |Δlogit|, quantizer seconds.
 4. Per layer, for the method given by --layer-method (default minmax, `none` skips it): ORT's activation SQNR
    against float (onnxruntime.quantization.qdq_loss_debug: the dequantized QDQ tensor of the
    simulated QDQ model vs the float model's, over the first --layer-inputs inputs) next to
    `wren validate`'s per-layer SQNR for the same tensor, and the difference, so the layer where
    Wren loses its decibels is named.
With --timing-rounds R it only times the quantizers: for each method pair (MinMax/minmax,
Percentile/percentile, Entropy/entropy) R rounds of ORT's quantize_static then `wren convert`,
interleaved so a shared machine's load hits both alike, and prints each one's median and the ratio.
Exit status 1 when an engine fails; the table still prints what ran.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_peers  # noqa: E402  (checkpoint loading, ONNX export, OpenVINO configuration)
from wrn_torch import WideResNet  # noqa: E402

ORT_METHODS = ("MinMax", "Percentile", "Entropy")
WREN_METHODS = ("minmax", "percentile", "entropy")


def load_model(path):
    """The float WRN in eval mode, from a .pth (bench_peers' loader) or a .safetensors."""
    if not path.endswith(".safetensors"):
        return bench_peers.load_float_model(path)
    from safetensors.torch import load_file
    sd = bench_peers.canonical_state_dict(load_file(path), path)
    arch = bench_peers.infer_architecture(sd, path)
    model = WideResNet(arch["depth"], arch["num_classes"], widen_factor=arch["widen_factor"],
                       conv_bias=arch["conv_bias"])
    model.load_state_dict(sd, strict=True)
    return model.eval(), arch


def load_inputs(path, what):
    data = np.load(path, allow_pickle=False)
    if data.ndim != 4 or tuple(data.shape[1:]) != (3, 32, 32):
        raise bench_peers.BenchError(f"{path}: {what} shape is {list(data.shape)}, expected [N,3,32,32]")
    return np.ascontiguousarray(data, dtype=np.float32)


def sqnr(reference, candidate):
    noise = float(np.sum((candidate.astype(np.float64) - reference) ** 2))
    signal = float(np.sum(reference.astype(np.float64) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(signal / noise)


def score(name, method, logits, reference, labels, seconds):
    row = {"engine": name, "method": method, "seconds": seconds}
    if logits is None:
        return row
    row["agree"] = int(np.sum(logits.argmax(1) == reference.argmax(1)))
    row["sqnr"] = sqnr(reference, logits)
    row["max_delta"] = float(np.max(np.abs(logits - reference)))
    if labels is not None:
        row["accuracy"] = float(np.mean(logits.argmax(1) == labels))
    return row


# ---------------------------------------------------------------- ONNX Runtime and OpenVINO

class Batches:
    """An ORT CalibrationDataReader over an array, in batches of 32."""

    def __init__(self, data):
        self.items = [{"input": data[i:i + 32]} for i in range(0, len(data), 32)]
        self.position = 0

    def get_next(self):
        if self.position == len(self.items):
            return None
        self.position += 1
        return self.items[self.position - 1]

    def __iter__(self):
        return iter(self.items)


def ort_quantize(pre_path, out_path, calibration, method):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    start = time.perf_counter()
    quantize_static(pre_path, out_path, Batches(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=getattr(CalibrationMethod, method),
                    extra_options={"QDQOpTypePerChannelSupportToAxis": {"BatchNormalization": 0}})
    return time.perf_counter() - start


def ort_logits(path, data):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"input": data[i:i + 32]})[0] for i in range(0, len(data), 32)])


def openvino_logits(path, data):
    try:
        import openvino
    except ImportError:
        return None
    core = openvino.Core()
    compiled = core.compile_model(core.read_model(path), "CPU", bench_peers.ov_config(2))
    return np.concatenate([compiled(data[i:i + 32])[0] for i in range(0, len(data), 32)])


def wren_layer_name(onnx_tensor):
    """'/block1/layer.0/relu1/Relu_output_0' -> 'block1.layer.0.relu1'; the block's Add output is the
    block itself ('block1.layer.0'); the input is 'input'. None for tensors Wren has no name for."""
    if onnx_tensor == "input":
        return "input"
    parts = onnx_tensor.strip("/").replace("/layer/layer.", "/layer.").split("/")
    if len(parts) < 2:
        return None
    op = parts[-1].split("_output")[0]
    path = ".".join(parts[:-1])
    if op == "Add":
        return path
    if op in ("Relu", "Conv"):
        return path if path.endswith(("relu1", "relu2", "convShortcut")) or path in ("conv1", "relu") else None
    return None


def ort_layer_sqnr(fp32_pre, qdq_path, data, workdir):
    """ORT's per-tensor SQNR (dB) of the dequantized QDQ activation against the float model's."""
    from onnxruntime.quantization import qdq_loss_debug as debug
    augmented_float = os.path.join(workdir, "float.augmented.onnx")
    augmented_qdq = os.path.join(workdir, "qdq.augmented.onnx")
    debug.modify_model_output_intermediate_tensors(fp32_pre, augmented_float)
    debug.modify_model_output_intermediate_tensors(qdq_path, augmented_qdq)
    float_activations = debug.collect_activations(augmented_float, Batches(data))
    qdq_activations = debug.collect_activations(augmented_qdq, Batches(data))
    matching = debug.create_activation_matching(qdq_activations, float_activations)
    result = {}
    for tensor, match in matching.items():
        name = wren_layer_name(tensor)
        if name is None or "float" not in match:
            continue
        float_values = np.concatenate([a.ravel() for a in match["float"]])
        qdq_values = np.concatenate([a.ravel() for a in match["post_qdq"]])
        result[name] = sqnr(float_values, qdq_values)
    return result


# ---------------------------------------------------------------- Wren

def run(command):
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise bench_peers.BenchError(f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()[-400:]}")
    return seconds


def wren_method(wren, checkpoint, calibration_path, data_path, labels_path, method, workdir, extra=()):
    tag = method.replace(":", "_")
    model = os.path.join(workdir, f"wren.{tag}.wren")
    seconds = run([wren, "convert", checkpoint, "-o", model, "--calibration", calibration_path,
                   "--calibration-method", method, *extra])
    logits_path = os.path.join(workdir, f"wren.{tag}.logits.npy")
    run([wren, "run", model, data_path, "--logits", logits_path, "--quiet"])
    report_path = os.path.join(workdir, f"wren.{tag}.validate.json")
    command = [wren, "validate", model, "--reference", checkpoint, "--data", data_path, "--json", report_path]
    if labels_path:
        command += ["--labels", labels_path]
    run(command)
    with open(report_path) as file:
        report = json.load(file)["report"]
    layers = {layer["name"]: layer.get("sqnrDB") for layer in report["layers"]}
    return np.load(logits_path), seconds, layers


def time_quantizers(args, wren, pre, calibration, calibration_path, workdir):
    """Median seconds of ORT's quantize_static and of the whole `wren convert`, interleaved."""
    import statistics
    print(f"{'method':<22} {'ORT s':>8} {'Wren s':>8} {'Wren/ORT':>9}   (median of {args.timing_rounds} interleaved rounds)")
    for ort_method, wren_method in (("MinMax", "minmax"), ("Percentile", "percentile"), ("Entropy", "entropy")):
        ort_times, wren_times = [], []
        for _ in range(args.timing_rounds):
            ort_times.append(ort_quantize(pre, os.path.join(workdir, "timed.onnx"), calibration, ort_method))
            wren_times.append(run([wren, "convert", args.checkpoint, "-o", os.path.join(workdir, "timed.wren"),
                                   "--calibration", calibration_path, "--calibration-method", wren_method]))
        ort, ours = statistics.median(ort_times), statistics.median(wren_times)
        print(f"{ort_method + ' / ' + wren_method:<22} {ort:>8.2f} {ours:>8.2f} {ours / ort:>8.2f}x", flush=True)


# ---------------------------------------------------------------- output

def print_table(rows, has_labels):
    header = f"{'engine':<10} {'method':<22} {'agree':>9} {'SQNR dB':>8} {'max|Δ|':>8}"
    header += f" {'accuracy':>9}" if has_labels else ""
    print(header + f" {'quantize s':>11}")
    for row in rows:
        if "agree" not in row:
            print(f"{row['engine']:<10} {row['method']:<22} {'failed':>9}")
            continue
        line = f"{row['engine']:<10} {row['method']:<22} {row['agree']:>5}/{row['count']:<3} {row['sqnr']:>8.1f} {row['max_delta']:>8.4f}"
        if has_labels:
            line += f" {100 * row['accuracy']:>8.2f}%"
        line += f" {row['seconds']:>11.2f}" if row.get("seconds") is not None else f" {'':>11}"
        print(line)


def print_layers(ort_layers, wren_layers, worst):
    names = [name for name in wren_layers if name in ort_layers]
    print(f"\n{'layer':<30} {'ORT dB':>8} {'Wren dB':>8} {'Wren−ORT':>9}")
    for name in names:
        w = wren_layers[name]
        delta = (w - ort_layers[name]) if w is not None else float("-inf")
        print(f"{name:<30} {ort_layers[name]:>8.1f} {w if w is not None else float('-inf'):>8.1f} {delta:>+9.1f}")
    steps = []  # how much each layer adds to the gap compared to its input's gap
    previous = 0.0
    for name in names:
        w = wren_layers[name]
        if w is None:
            continue
        gap = ort_layers[name] - w
        steps.append((gap - previous, name))
        previous = gap
    steps.sort(reverse=True)
    print("largest steps in the gap: " + ", ".join(f"{n} (+{d:.1f} dB)" for d, n in steps[:worst]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--calibration", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--labels")
    parser.add_argument("--wren")
    parser.add_argument("--wren-methods", nargs="*", default=list(WREN_METHODS))
    parser.add_argument("--wren-extra", default="", help="extra wren convert arguments, space separated")
    parser.add_argument("--ort-methods", nargs="*", default=list(ORT_METHODS))
    parser.add_argument("--layer-method", default="minmax", help="the Wren method (and ORT's) compared per layer")
    parser.add_argument("--layer-inputs", type=int, default=64)
    parser.add_argument("--layers", type=int, default=5, help="how many of the largest gap steps to name")
    parser.add_argument("--timing-rounds", type=int, default=0,
                        help="only time ORT's quantize_static against wren convert, interleaved, this many rounds")
    parser.add_argument("--workdir")
    parser.add_argument("--json")
    args = parser.parse_args()

    wren = bench_peers.find_wren(args.wren)
    if wren is None:
        raise bench_peers.BenchError("no wren binary found (pass --wren PATH)")
    model, arch = load_model(args.checkpoint)
    calibration = load_inputs(args.calibration, "calibration")
    data = load_inputs(args.data, "data")
    labels = np.load(args.labels) if args.labels else None
    with torch.no_grad():
        reference = model(torch.from_numpy(data)).numpy()
    workdir = args.workdir or tempfile.mkdtemp(prefix="wren-fidelity-")
    os.makedirs(workdir, exist_ok=True)
    calibration_path = os.path.join(workdir, "calibration.npy")
    data_path = os.path.join(workdir, "data.npy")
    np.save(calibration_path, calibration)
    np.save(data_path, data)
    labels_path = None
    if labels is not None:
        labels_path = os.path.join(workdir, "labels.npy")
        np.save(labels_path, labels.astype(np.int64))

    print(f"{args.checkpoint}: WRN-{arch['depth']}-{arch['widen_factor']}, {arch['num_classes']} classes"
          f"{', conv biases' if arch['conv_bias'] else ''}; {len(calibration)} calibration, {len(data)} test inputs",
          flush=True)
    fp32 = os.path.join(workdir, "model.fp32.onnx")
    bench_peers.export_onnx(model, fp32)
    from onnxruntime.quantization import quant_pre_process
    pre = os.path.join(workdir, "model.fp32.pre.onnx")
    quant_pre_process(fp32, pre)

    if args.timing_rounds:
        time_quantizers(args, wren, pre, calibration, calibration_path, workdir)
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        return 0

    rows, failed = [], False
    float_row = score("pytorch", "float32", reference, reference, labels, None)
    rows.append(float_row)
    qdq_paths = {}
    for method in args.ort_methods:
        path = os.path.join(workdir, f"ort.{method}.onnx")
        seconds = ort_quantize(pre, path, calibration, method)
        qdq_paths[method] = path
        rows.append(score("ort", method, ort_logits(path, data), reference, labels, seconds))
        rows.append(score("openvino", f"{method} (ORT's QDQ)", openvino_logits(path, data), reference, labels, None))
        print(f"  ort {method}: {seconds:.2f} s", file=sys.stderr, flush=True)
    wren_layers = {}
    extra = args.wren_extra.split()
    for method in args.wren_methods:
        try:
            logits, seconds, layers = wren_method(wren, args.checkpoint, calibration_path, data_path, labels_path,
                                                  method, workdir, extra)
            wren_layers[method] = layers
            rows.append(score("wren", method, logits, reference, labels, seconds))
        except bench_peers.BenchError as error:
            print(f"error: {error}", file=sys.stderr)
            rows.append({"engine": "wren", "method": method})
            failed = True
        print(f"  wren {method} done", file=sys.stderr, flush=True)
    for row in rows:
        row["count"] = len(data)
    print()
    print_table(rows, labels is not None)

    ort_method = {"minmax": "MinMax", "entropy": "Entropy"}.get(args.layer_method.split(":")[0], "Percentile")
    layer_report = None
    if ort_method in qdq_paths and args.layer_method in wren_layers:
        limit = min(args.layer_inputs, len(data))
        # Wren's per-layer SQNR over the same inputs as ORT's.
        subset = os.path.join(workdir, "layer_data.npy")
        np.save(subset, data[:limit])
        report_path = os.path.join(workdir, "layers.validate.json")
        run([wren, "validate", os.path.join(workdir, f"wren.{args.layer_method.replace(':', '_')}.wren"),
             "--reference", args.checkpoint, "--data", subset, "--json", report_path])
        with open(report_path) as file:
            wren_subset = {layer["name"]: layer.get("sqnrDB") for layer in json.load(file)["report"]["layers"]}
        ort_layers = ort_layer_sqnr(pre, qdq_paths[ort_method], data[:limit], workdir)
        print(f"\nper layer, activation SQNR against float over the first {limit} inputs: ORT {ort_method} "
              f"(qdq_loss_debug, simulated QDQ) vs Wren {args.layer_method} (wren validate, integer runtime)")
        print_layers(ort_layers, wren_subset, args.layers)
        layer_report = {"ort_method": ort_method, "wren_method": args.layer_method, "inputs": limit,
                        "ort": ort_layers, "wren": wren_subset}
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"checkpoint": args.checkpoint, "architecture": arch, "rows": rows, "layers": layer_report},
                      file, indent=1)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except bench_peers.BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
