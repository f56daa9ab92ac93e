"""Benchmarks Wren against ONNX Runtime and OpenVINO on the same WRN checkpoint, in one run.

Install (CPU only, Python 3.11.7):
    python3 -m pip install -r tools/requirements.txt -r tools/bench_requirements.txt
    (torch 2.15.0, numpy 2.4.6, onnx 1.23.2, onnxruntime 1.32.0, openvino 2026.4.1)
Run from the repository root, after building the CLI in release mode:
    swift build -c release --scratch-path .build-cli
    python3 tools/bench_peers.py wrn.pth --calibration calib_x.npy --threads 2 --batch 1 32 \
        --wren .build-cli/release/wren --json peers.json
Options: --iterations N (timed runs per engine and batch; default: as many as fit in
--seconds, between 10 and 300), --rounds R (interleaving rounds, default 5), --workdir DIR
(keep the ONNX/.wren files there instead of a temporary directory), --wren-check-inputs K.
On an idle 2-core Zen 4: about 45 s for WRN-16-4, 2.5 minutes for WRN-28-10 (2.2 GB peak memory).

What it does:
 1. Loads the checkpoint (bare state_dict, {"state_dict": ...} or {"model": ...}, "module."
    prefixes accepted), infers depth, widen factor, classes and conv biases from the tensors
    and builds the float WRN with tools/wrn_torch.py.
 2. Exports ONNX fp32 (opset 17, dynamic batch; the exporter folds each BN that follows a conv),
    then ONNX Runtime static quantization, QDQ format, per-channel int8 weights, MinMax
    calibration on CALIB (.npy float32 [N,3,32,32], normalized; default 64 N(0,1) inputs with
    a warning), twice: uint8 activations (ORT's recommended x86 format) and int8 activations.
    The unfoldable BNs are quantized too, their scales per channel.
 3. Times, in this one process and interleaved in rounds so all engines share machine
    conditions: ONNX Runtime (CPUExecutionProvider, intra-op threads T, inter-op 1, all graph
    optimizations, I/O binding) on fp32, u8 QDQ and s8 QDQ; OpenVINO (CPU, INFERENCE_NUM_THREADS
    T, one stream, PERFORMANCE_HINT LATENCY, inference precision f32 so fp32 is not run as bf16,
    static input shape per batch) on fp32 and u8 QDQ (OpenVINO runs QDQ as int8); for batch > 1
    also "openvino throughput": u8 QDQ with PERFORMANCE_HINT THROUGHPUT (2 streams of 1 thread
    here), one async request per stream, reported as wall time per batch.
    Warm-up runs come first; each chunk of short timed runs starts with one untimed run. The
    CPU time other processes used while timing is measured (/proc/stat) and reported, with a
    warning above 0.1 CPU: on a shared machine every number is then slower and noisier.
 4. Wren: `wren convert CKPT -o X.wren --calibration CALIB`, then per round and batch
    `wren bench X.wren --threads T --batch B --iterations n --json` (stdout JSON with
    median_ms, p90_ms, images_per_s; a "samples_ms" list, if present, is pooled across rounds,
    otherwise the round medians/p90s are combined by their median). If the binary or its
    `bench` subcommand is missing, Wren is reported "unavailable" and the peers still run.
 5. Prints engine, precision, batch, median/p90 ms, images/s (= batch / median), GMAC/s, the
    share of this CPU's int8 peak (tools/int8_peak.c, built and run before and after the timings,
    the higher kept; counting only MACs outside padding) and Wren/peer latency ratio (< 1 means Wren is faster); top-1 agreement and logit error against
    fp32 ONNX on CALIB of each quantized peer and of Wren's int8 (`wren run --logits` on the
    first --wren-check-inputs inputs, default 16); the fp32 export's error against PyTorch;
    versions, CPU model and threads. --json writes it all.
Random-weight WRNs predict one class for almost every input, so agreement on them is only a
smoke test; the logit error is the more telling number there.
"""

import argparse
import gc
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wrn_torch import WideResNet  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CALIBRATION_COUNT = 64
CALIBRATION_BATCH = 16
WARMUP_SECONDS = 0.5
MIN_WARMUP_RUNS = 2
REWARM_BELOW_MS = 50.0  # runs this short get one untimed run per chunk; longer ones need none
MIN_AUTO_ITERATIONS = 10
MAX_AUTO_ITERATIONS = 300
PAUSE_BETWEEN_CHUNKS_S = 0.02  # lets the previous engine's spinning worker threads go idle


class BenchError(Exception):
    """A problem with the user's input, named with the file and what to do."""


# ---------------------------------------------------------------- checkpoint → float model

def canonical_state_dict(loaded, path):
    """Unwraps {"state_dict"}/{"model"} containers and DataParallel "module." prefixes."""
    sd = loaded
    if isinstance(sd, dict):
        for container_key in ("state_dict", "model"):
            inner = sd.get(container_key)
            if isinstance(inner, dict):
                sd = inner
                break
    if not isinstance(sd, dict) or not any(isinstance(v, torch.Tensor) for v in sd.values()):
        raise BenchError(f"{path}: no state_dict found (expected a dict of tensors, or one under "
                         f"'state_dict' or 'model')")
    return OrderedDict((k[len("module."):] if k.startswith("module.") else k, v)
                       for k, v in sd.items() if isinstance(v, torch.Tensor))


def infer_architecture(sd, path):
    """depth, widen factor, classes and conv biases from the keys and shapes (wrn_torch naming)."""
    def require(key):
        if key not in sd:
            raise BenchError(f"{path}: missing tensor '{key}'; is this a WRN checkpoint "
                             f"(conv1, block{{1,2,3}}.layer.i.*, bn1, fc)?")
        return sd[key]

    stem = require("conv1.weight")
    if tuple(stem.shape) != (16, 3, 3, 3):
        raise BenchError(f"{path}: conv1.weight has shape {list(stem.shape)}, expected [16, 3, 3, 3]")
    first = require("block1.layer.0.conv1.weight")
    if first.shape[0] % 16 != 0:
        raise BenchError(f"{path}: block1.layer.0.conv1.weight has {first.shape[0]} output "
                         f"channels, not a multiple of 16")
    widen = first.shape[0] // 16
    counts = []
    for group in (1, 2, 3):
        indices = {int(m.group(1)) for k in sd for m in [re.match(rf"block{group}\.layer\.(\d+)\.", k)] if m}
        if not indices or indices != set(range(len(indices))):
            raise BenchError(f"{path}: block{group}.layer.* indices are {sorted(indices)}, "
                             f"expected 0..N-1")
        counts.append(len(indices))
    if len(set(counts)) != 1:
        raise BenchError(f"{path}: groups have {counts} blocks; a WRN has the same N in each")
    fc = require("fc.weight")
    if fc.dim() != 2 or fc.shape[1] != 64 * widen:
        raise BenchError(f"{path}: fc.weight has shape {list(fc.shape)}, expected "
                         f"[classes, {64 * widen}]")
    return {"depth": 6 * counts[0] + 4, "widen_factor": widen, "num_classes": int(fc.shape[0]),
            "conv_bias": "conv1.bias" in sd}


def load_float_model(path):
    if not os.path.isfile(path):
        raise BenchError(f"{path}: no such file")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for non-checkpoints
        raise BenchError(f"{path}: not a PyTorch checkpoint torch.load(weights_only=True) can read "
                         f"({type(error).__name__}: {error})") from error
    sd = canonical_state_dict(loaded, path)
    arch = infer_architecture(sd, path)
    model = WideResNet(arch["depth"], arch["num_classes"], widen_factor=arch["widen_factor"],
                       conv_bias=arch["conv_bias"])
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise BenchError(f"{path}: tensors do not match WRN-{arch['depth']}-{arch['widen_factor']}: "
                         f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval(), arch


def count_macs(model):
    """Multiply-accumulates per 32x32 image: (all, including zero-padding taps; only the taps that
    touch real input). The latter convolves an all-ones image with an all-ones kernel under each
    conv's stride and padding, as tools/count_macs.py does; `wren bench` reports the same number."""
    total, useful = [0], [0]

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            per_tap = (module.in_channels // module.groups) * module.out_channels
            total[0] += output.numel() // module.out_channels * kh * kw * per_tap
            x = inputs[0]
            taps = torch.nn.functional.conv2d(torch.ones(1, 1, x.shape[2], x.shape[3]), torch.ones(1, 1, kh, kw),
                                              stride=module.stride, padding=module.padding).sum().item()
            useful[0] += int(taps) * per_tap
        else:
            total[0] += module.in_features * module.out_features
            useful[0] += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    for handle in handles:
        handle.remove()
    return total[0], useful[0]


def measure_int8_peak(threads, workdir):
    """This CPU's int8 MAC/s peak on `threads` threads (G MAC/s), from tools/int8_peak.c, and the
    ISA it came from; (None, reason) when it cannot be built or run."""
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "int8_peak.c")
    binary = os.path.join(workdir, "int8_peak")
    compilers = [c for c in ("/opt/swift/usr/bin/clang", shutil.which("clang"), shutil.which("cc")) if c and os.path.exists(c)]
    for compiler in compilers:
        built = subprocess.run([compiler, "-O2", "-pthread", "-o", binary, source], capture_output=True, text=True)
        if built.returncode == 0:
            break
    else:
        return None, "no compiler built tools/int8_peak.c"
    ran = subprocess.run([binary, str(threads), "1"], capture_output=True, text=True)
    if ran.returncode != 0:
        return None, f"int8_peak failed: {ran.stderr.strip()[:200]}"
    measured = json.loads(ran.stdout.strip().splitlines()[-1])
    if not measured:
        return None, "no int8 ISA measured"
    isa, best = max(measured.items(), key=lambda item: item[1]["all_threads_gmacs"])
    return best["all_threads_gmacs"], isa


def load_calibration(path, workdir):
    """Returns the float32 inputs and the .npy path handed to wren convert (always float32)."""
    if path is None:
        print(f"warning: no --calibration; calibrating every engine on {DEFAULT_CALIBRATION_COUNT} "
              f"N(0,1) random inputs (seed 0). Pass real normalized training images for "
              f"meaningful quantization.", file=sys.stderr)
        data = np.random.default_rng(0).standard_normal((DEFAULT_CALIBRATION_COUNT, 3, 32, 32))
        source = f"random N(0,1), {DEFAULT_CALIBRATION_COUNT} inputs, seed 0"
    else:
        try:
            data = np.load(path, allow_pickle=False)
        except Exception as error:
            raise BenchError(f"{path}: not a readable .npy file: {error}") from error
        if data.ndim != 4 or tuple(data.shape[1:]) != (3, 32, 32) or data.shape[0] == 0:
            raise BenchError(f"{path}: calibration shape is {list(data.shape)}, expected [N,3,32,32]")
        if not np.issubdtype(data.dtype, np.floating):
            raise BenchError(f"{path}: calibration dtype is {data.dtype}, expected float32 "
                             f"(normalized inputs)")
        source = os.path.abspath(path)
    data = np.ascontiguousarray(data, dtype=np.float32)
    if not np.all(np.isfinite(data)):
        raise BenchError(f"{path}: calibration inputs contain NaN or infinity")
    out = os.path.join(workdir, "calibration.npy")
    np.save(out, data)
    return data, out, source


# ---------------------------------------------------------------- ONNX export and quantization

def export_onnx(model, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), path, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def quantize_qdq(fp32_path, workdir, calibration, activation_type_name):
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quant_pre_process, quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"input": calibration[i:i + CALIBRATION_BATCH]}
                                 for i in range(0, len(calibration), CALIBRATION_BATCH)])

        def get_next(self):
            return next(self.batches, None)

    pre_path = os.path.join(workdir, "model.fp32.pre.onnx")
    try:  # shape inference + basic optimizations, as ORT's quantization guide recommends
        quant_pre_process(fp32_path, pre_path)
    except Exception as error:
        print(f"warning: quant_pre_process failed ({error}); quantizing the raw export",
              file=sys.stderr)
        shutil.copyfile(fp32_path, pre_path)
    activation_type = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}[activation_type_name]
    out_path = os.path.join(workdir, f"model.qdq.{activation_type_name}.onnx")
    quantize_static(pre_path, out_path, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=activation_type, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                    # BN scales are 1-D: per-channel along axis 0 (ORT's default axis 1 falls back
                    # to one scale per tensor, with a warning per BN).
                    extra_options={"QDQOpTypePerChannelSupportToAxis": {"BatchNormalization": 0}})
    # Not CalibMaxIntermediateOutputs: in ORT 1.32 it discards batches without folding them in.
    gc.collect()
    return out_path


# ---------------------------------------------------------------- engines

class Engine:
    """One timed configuration: `run()` infers `batches_per_run` batches of the bound input."""

    def __init__(self, engine, precision, batch, run, note="", batches_per_run=1):
        self.engine, self.precision, self.batch, self.run, self.note = engine, precision, batch, run, note
        self.batches_per_run = batches_per_run
        self.samples_ms = []  # wall time per batch
        self.iterations = None


def ort_session(path, threads, optimized_path=None):
    """The session every timing and agreement check uses; with `optimized_path` ORT also saves
    the graph it optimized, which `ort_executed_ops` reads."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # the "hardware specific optimizations" notice
    if optimized_path:
        options.optimized_model_filepath = optimized_path
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def ort_engine(session, precision, x, classes):
    out = np.empty((x.shape[0], classes), dtype=np.float32)
    binding = session.io_binding()
    binding.bind_cpu_input("input", x)
    binding.bind_output("logits", "cpu", 0, np.float32, list(out.shape), out.ctypes.data)

    def run():
        session.run_with_iobinding(binding)

    engine = Engine("onnxruntime", precision, x.shape[0], run)
    engine.keep_alive = (x, out, binding)
    return engine


def ov_config(threads, throughput=False):
    if throughput:  # OpenVINO picks the streams (on 2 cores: 2 streams of 1 thread)
        return {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "THROUGHPUT",
                "INFERENCE_PRECISION_HINT": "f32"}
    return {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32"}


def ov_engine(core, path, precision, x, threads, throughput=False):
    """LATENCY: one synchronous request. THROUGHPUT: one request per stream, run concurrently;
    a timed run completes one batch per request and counts as that many batches."""
    import openvino as ov
    model = core.read_model(path)
    model.reshape({model.inputs[0].any_name: list(x.shape)})
    compiled = core.compile_model(model, "CPU", ov_config(threads, throughput))
    description = (f"{compiled.get_property('PERFORMANCE_HINT')}, {compiled.get_property('NUM_STREAMS')} "
                   f"stream(s), {compiled.get_property('INFERENCE_NUM_THREADS')} threads, "
                   f"{compiled.get_property('INFERENCE_PRECISION_HINT')}")
    if throughput:
        requests = compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        queue = ov.AsyncInferQueue(compiled, requests)
        for index in range(requests):
            queue[index].set_input_tensor(ov.Tensor(x, shared_memory=True))

        def run():
            for _ in range(requests):
                queue.start_async()
            queue.wait_all()

        engine = Engine("openvino", precision, x.shape[0], run, batches_per_run=requests,
                        note=f"{description}, {requests} async requests; ms = wall time / batch")
        engine.keep_alive = (x, compiled, queue)
        return engine
    request = compiled.create_infer_request()
    request.set_input_tensor(ov.Tensor(x, shared_memory=True))

    def run():
        request.infer()

    engine = Engine("openvino", precision, x.shape[0], run, note=description)
    engine.keep_alive = (x, compiled, request)
    return engine


FLOAT_COMPUTE_OPS = {"Conv", "Add", "Gemm", "MatMul", "BatchNormalization", "GlobalAveragePool"}


def ort_executed_ops(optimized_path):
    """Compute ops of ORT's optimized graph (saved by `ort_session`): which run as int8 kernels
    (QLinear*, QGemm, ...) and which stay float between DequantizeLinear and QuantizeLinear."""
    import onnx
    counts = OrderedDict()
    for node in onnx.load(optimized_path).graph.node:
        if node.op_type.startswith("QLinear") or node.op_type in {"QGemm", "ConvInteger", "MatMulInteger"}:
            kind = "int8"
        elif node.op_type in FLOAT_COMPUTE_OPS:
            kind = "float"
        else:
            continue
        key = f"{node.op_type} ({kind})"
        counts[key] = counts.get(key, 0) + 1
    return counts


def ort_optimized_path(workdir, precision):
    """Where the session of `precision` saves its optimized graph."""
    return os.path.join(workdir, "ort-optimized-" + precision.replace(" ", "-").replace("(", "").replace(")", "") + ".onnx")


def ov_executed_ops(core, path, threads):
    """Compute layers of OpenVINO's compiled CPU graph by the precision they run in."""
    model = core.read_model(path)
    model.reshape({model.inputs[0].any_name: [1, 3, 32, 32]})
    counts = OrderedDict()
    for op in core.compile_model(model, "CPU", ov_config(threads)).get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layer = info["layerType"].astype(str) if "layerType" in info else "?"
        if layer in {"Convolution", "FullyConnected", "Eltwise", "Subgraph", "Reduce", "Pooling"}:
            key = f"{layer} ({info['runtimePrecision'].astype(str) if 'runtimePrecision' in info else '?'})"
            counts[key] = counts.get(key, 0) + 1
    return counts


def logits_ort(session, data):
    return np.concatenate([session.run(None, {"input": data[i:i + 32]})[0]
                           for i in range(0, len(data), 32)])


def logits_ov(core, path, data, threads):
    compiled = core.compile_model(core.read_model(path), "CPU", ov_config(threads))
    return np.concatenate([compiled(data[i:i + 32])[0] for i in range(0, len(data), 32)])


# ---------------------------------------------------------------- Wren (a separate process)

class Wren:
    def __init__(self, binary):
        self.binary = binary
        self.status = "unavailable"
        self.reason = None
        self.model_path = None
        if binary is None:
            self.reason = "no wren binary found (pass --wren PATH)"
        elif not os.access(binary, os.X_OK):
            self.reason = f"{binary} is not an executable file"
        else:
            probe = subprocess.run([binary, "bench", "--help"], capture_output=True, text=True)
            if probe.returncode != 0 or "wren bench" not in probe.stdout + probe.stderr:
                self.reason = f"{binary} has no 'bench' subcommand yet"
            else:
                self.status = "available"
                self.has_warmup_option = "--warmup" in probe.stdout

    @property
    def available(self):
        return self.status == "available"

    def convert(self, checkpoint, calibration_path, workdir):
        self.model_path = os.path.join(workdir, "model.wren")
        result = subprocess.run([self.binary, "convert", checkpoint, "-o", self.model_path,
                                 "--calibration", calibration_path], capture_output=True, text=True)
        if result.returncode != 0:
            self.status, self.reason = "unavailable", f"wren convert failed: {result.stderr.strip()[:300]}"

    def bench(self, threads, batch, iterations, warmup):
        command = [self.binary, "bench", self.model_path, "--threads", str(threads), "--batch",
                   str(batch), "--iterations", str(iterations), "--json"]
        if self.has_warmup_option:
            command += ["--warmup", str(warmup)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise BenchError(f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()[:300]}")
        text = result.stdout.strip()
        start = text.find("{")
        try:
            report = json.loads(text[start:]) if start >= 0 else None
        except json.JSONDecodeError:
            report = None
        if not isinstance(report, dict) or not all(k in report for k in ("median_ms", "p90_ms", "images_per_s")):
            raise BenchError(f"{' '.join(command)} printed no JSON with median_ms, p90_ms, "
                             f"images_per_s: {text[:300]!r}")
        return report

    def logits(self, inputs, workdir):
        inputs_path, out = os.path.join(workdir, "wren_inputs.npy"), os.path.join(workdir, "wren_logits.npy")
        np.save(inputs_path, inputs)
        result = subprocess.run([self.binary, "run", self.model_path, inputs_path, "--logits", out,
                                 "--quiet"], capture_output=True, text=True)
        if result.returncode != 0:
            print(f"warning: wren run failed, no Wren agreement: {result.stderr.strip()[:300]}",
                  file=sys.stderr)
            return None
        return np.load(out)


def find_wren(explicit):
    if explicit:
        return explicit
    on_path = shutil.which("wren")
    if on_path:
        return on_path
    for scratch in (".build-cli", ".build"):
        candidate = os.path.join(REPO, scratch, "release", "wren")
        if os.access(candidate, os.X_OK):
            return candidate
    return None


# ---------------------------------------------------------------- timing

def time_runs(run, count, batches_per_run=1):
    samples = []
    for _ in range(count):
        start = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - start) / 1e6 / batches_per_run)
    return samples


class CpuMeter:
    """How busy the whole machine was while timing, and how much of that was not this script
    (other processes on a shared machine make every number slower and noisier)."""

    def __init__(self):
        self.start = self._read()

    @staticmethod
    def _read():
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        own = os.times()
        return {"wall": time.perf_counter(), "busy": user + nice + system + irq + softirq + steal,
                "steal": steal, "own": own.user + own.system + own.children_user + own.children_system}

    def stop(self):
        end, tick = self._read(), os.sysconf("SC_CLK_TCK")
        wall = end["wall"] - self.start["wall"]
        busy = (end["busy"] - self.start["busy"]) / tick / wall
        own = (end["own"] - self.start["own"]) / wall
        return {"seconds": wall, "machine_busy_cpus": busy, "this_script_cpus": own,
                "other_cpus": max(0.0, busy - own),
                "steal_cpus": (end["steal"] - self.start["steal"]) / tick / wall}


def warm_up(engine):
    """Runs until WARMUP_SECONDS and MIN_WARMUP_RUNS have passed; returns ms per run."""
    samples = []
    deadline = time.perf_counter() + WARMUP_SECONDS
    while len(samples) < MIN_WARMUP_RUNS or time.perf_counter() < deadline:
        samples += time_runs(engine.run, 1)
    return float(np.median(samples[1:]))  # per run, not per batch: sizes the iteration count


def summarize(samples_ms, batch):
    median = float(np.median(samples_ms))
    return {"median_ms": median, "p90_ms": float(np.percentile(samples_ms, 90)),
            "images_per_s": batch * 1000.0 / median, "samples": len(samples_ms)}


def benchmark_batch(engines, wren, args, batch):
    """Interleaves all engines of one batch size in rounds; returns (rows, wren_row)."""
    for engine in engines:
        per_run = engine.per_run_ms = warm_up(engine)
        engine.iterations = args.iterations or int(min(MAX_AUTO_ITERATIONS, max(
            MIN_AUTO_ITERATIONS, round(args.seconds / (per_run / 1000.0)))))
        log(f"  warm-up {engine.engine} {engine.precision} batch {batch}: {per_run:.2f} ms/run, "
            f"{engine.iterations} iterations")
    reference = next((e for e in engines if e.precision == "int8 (u8 act)" and e.engine == "onnxruntime"),
                     engines[0])
    wren_iterations = reference.iterations
    wren_warmup = max(1, min(10, round(WARMUP_SECONDS * 1000 / reference.per_run_ms)))
    rounds = max(1, min(args.rounds, min(e.iterations for e in engines)))
    wren_reports = []
    for round_index in range(rounds):
        for engine in engines:
            share = engine.iterations // rounds + (1 if round_index < engine.iterations % rounds else 0)
            time.sleep(PAUSE_BETWEEN_CHUNKS_S)
            if engine.per_run_ms < REWARM_BELOW_MS:
                engine.run()  # untimed: re-warms caches after the previous engine
            engine.samples_ms += time_runs(engine.run, share, engine.batches_per_run)
        if wren.available:
            # at least 3 per call so each call's median and p90 mean something
            share = max(3, wren_iterations // rounds + (1 if round_index < wren_iterations % rounds else 0))
            try:
                wren_reports.append(wren.bench(args.threads, batch, share, wren_warmup))
            except BenchError as error:  # the peers' numbers are still worth having
                wren.status, wren.reason, wren_reports = "failed", str(error), []
                log(f"Wren: {error}")
    rows = []
    for engine in engines:
        row = {"engine": engine.engine, "precision": engine.precision, "batch": batch,
               **summarize(engine.samples_ms, batch), "note": engine.note}
        rows.append(row)
    wren_row = None
    if wren_reports:
        pooled = [s for r in wren_reports for s in (r.get("samples_ms") or [])]
        if pooled:
            wren_row = summarize(pooled, batch)
            wren_row["combined"] = "samples pooled across rounds"
        else:
            median = float(np.median([r["median_ms"] for r in wren_reports]))
            wren_row = {"median_ms": median, "p90_ms": float(np.median([r["p90_ms"] for r in wren_reports])),
                        "images_per_s": batch * 1000.0 / median,
                        "samples": wren_iterations, "combined": f"median of {rounds} round medians/p90s"}
        kernels = sorted({str(r.get("kernels")) for r in wren_reports if "kernels" in r})
        wren_row.update({"engine": "wren", "precision": "int8", "batch": batch,
                         "note": f"wren bench, {rounds} rounds" + (f", kernels {', '.join(kernels)}" if kernels else ""),
                         "rounds": wren_reports})
    return rows, wren_row


# ---------------------------------------------------------------- reporting

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return platform.processor() or "unknown", []
    name = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    wanted = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")
    present = [f for f in wanted if flags and f in flags.group(1).split()]
    return (name.group(1).strip() if name else "unknown"), present


def versions():
    found = OrderedDict(python=platform.python_version(), numpy=np.__version__, torch=torch.__version__)
    for module in ("onnx", "onnxruntime", "openvino"):
        try:
            found[module] = __import__(module).__version__
        except Exception as error:
            found[module] = f"unavailable ({type(error).__name__})"
    return found


def agreement(reference, candidate):
    top_reference, top_candidate = reference.argmax(1), candidate.argmax(1)
    scale = float(np.max(np.abs(reference))) or 1.0
    return {"top1_agreement": float(np.mean(top_reference == top_candidate)),
            "agree": int(np.sum(top_reference == top_candidate)), "inputs": int(len(reference)),
            "max_abs_logit_error": float(np.max(np.abs(reference - candidate))),
            "relative_logit_error": float(np.max(np.abs(reference - candidate)) / scale),
            "distinct_fp32_classes": int(len(np.unique(top_reference)))}


def print_table(rows, macs, useful_macs=None, peak_gmacs=None):
    header = ["engine", "precision", "batch", "median ms", "p90 ms", "images/s", "GMAC/s", "% of int8 peak", "Wren/peer"]
    lines = []
    for row in rows:
        ratio = row.get("wren_over_peer")
        efficiency = "-"
        if peak_gmacs and useful_macs and row["precision"] != "fp32":
            row["useful_gmacs_per_s"] = row["images_per_s"] * useful_macs / 1e9
            row["percent_of_int8_peak"] = 100 * row["useful_gmacs_per_s"] / peak_gmacs
            efficiency = f"{row['percent_of_int8_peak']:.0f}%"
        lines.append([row["engine"], row["precision"], str(row["batch"]), f"{row['median_ms']:.3f}",
                      f"{row['p90_ms']:.3f}", f"{row['images_per_s']:.1f}",
                      f"{row['images_per_s'] * macs / 1e9:.1f}", efficiency,
                      "-" if row["engine"] == "wren" else (f"{ratio:.3f}" if ratio else "n/a")])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for line in lines:
        print("  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(line, widths))))


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="PyTorch WRN checkpoint (.pth)")
    parser.add_argument("--calibration", help=".npy float32 [N,3,32,32], normalized inputs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--iterations", type=int, help="timed runs per engine and batch (default: auto)")
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="time budget per engine and batch when --iterations is not given")
    parser.add_argument("--rounds", type=int, default=5, help="interleaving rounds (default 5)")
    parser.add_argument("--wren", help="path to the wren binary (default: PATH, then .build-cli/release)")
    parser.add_argument("--wren-check-inputs", type=int, default=16,
                        help="how many calibration inputs Wren's agreement check runs through "
                             "`wren run` (default 16; 0 skips it)")
    parser.add_argument("--workdir", help="keep the exported models here (default: a temporary directory)")
    parser.add_argument("--json", dest="json_out", help="write every number to this JSON file")
    args = parser.parse_args()
    if args.threads < 1 or any(b < 1 for b in args.batch) or args.rounds < 1 or args.seconds <= 0 \
            or (args.iterations is not None and args.iterations < 1):
        parser.error("--threads, --batch, --iterations, --seconds and --rounds must be positive")
    if args.wren_check_inputs < 0:
        parser.error("--wren-check-inputs cannot be negative")
    return args


def log(message):
    print(message, file=sys.stderr, flush=True)


def check_agreement(calibration, torch_logits, sessions, core, openvino_models, wren, workdir, args):
    """Top-1 agreement and logit error of every model against fp32 ONNX (which is checked
    against PyTorch first); Wren on the first --wren-check-inputs inputs only. Also which
    compute ops each int8 peer actually runs in int8."""
    fp32_logits = logits_ort(sessions["fp32"], calibration)
    checks = OrderedDict()
    checks["onnx fp32 vs torch"] = agreement(torch_logits, fp32_logits)
    for precision in ("int8 (u8 act)", "int8 (s8 act)"):
        checks[f"onnxruntime {precision}"] = agreement(fp32_logits, logits_ort(sessions[precision], calibration))
        checks[f"onnxruntime {precision}"]["executed_ops"] = ort_executed_ops(ort_optimized_path(workdir, precision))
    for precision, path in openvino_models.items():
        checks[f"openvino {precision}"] = agreement(fp32_logits, logits_ov(core, path, calibration, args.threads))
    if "int8 (u8 act)" in openvino_models:
        checks["openvino int8 (u8 act)"]["executed_ops"] = ov_executed_ops(
            core, openvino_models["int8 (u8 act)"], args.threads)
    count = min(len(calibration), args.wren_check_inputs)
    if wren.available and count > 0:
        wren_logits = wren.logits(calibration[:count], workdir)
        if wren_logits is not None and wren_logits.shape == fp32_logits[:count].shape:
            checks["wren int8"] = agreement(fp32_logits[:count], wren_logits)
        elif wren_logits is not None:
            log(f"warning: wren run wrote logits of shape {list(wren_logits.shape)}, expected "
                f"{list(fp32_logits[:count].shape)}; no Wren agreement")
    return checks


def run_benchmarks(args, calibration, classes, sessions, core, openvino_models, wren):
    rows, load = [], OrderedDict()
    for batch in args.batch:
        x = np.ascontiguousarray(np.resize(calibration, (batch, 3, 32, 32)))
        engines = [ort_engine(session, precision, x.copy(), classes) for precision, session in sessions.items()]
        engines += [ov_engine(core, path, precision, x.copy(), args.threads)
                    for precision, path in openvino_models.items()]
        if batch > 1 and "int8 (u8 act)" in openvino_models:
            engine = ov_engine(core, openvino_models["int8 (u8 act)"], "int8 (u8 act)", x.copy(),
                               args.threads, throughput=True)
            engine.engine = "openvino throughput"
            engines.append(engine)
        log(f"batch {batch}: timing {len(engines)} peer configurations" + (" and Wren" if wren.available else ""))
        meter = CpuMeter()
        batch_rows, wren_row = benchmark_batch(engines, wren, args, batch)
        load[batch] = meter.stop()
        for row in batch_rows:
            row["wren_over_peer"] = wren_row["median_ms"] / row["median_ms"] if wren_row else None
        rows += ([wren_row] if wren_row else []) + batch_rows
        del engines
        gc.collect()
    return rows, load


def print_report(name, arch, macs, args, wren, rows, load, checks, phases, useful_macs=None, peak=(None, "")):
    cpu, flags = cpu_model()
    print()
    print(f"{name} ({arch['num_classes']} classes, {macs / 1e9:.3f} GMAC/image), {args.threads} threads, "
          f"CPU {cpu} [{' '.join(flags)}], {os.cpu_count()} logical CPUs")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    print(f"Wren: {wren.status}" + (f" ({wren.reason})" if wren.reason else f" ({wren.binary})"))
    print()
    print_table(rows, macs, useful_macs, peak[0])
    print("\nWren/peer = Wren median latency / peer median latency at the same batch (< 1: Wren faster).")
    if peak[0]:
        print(f"% of int8 peak = images/s x {useful_macs / 1e9:.3f} G MACs outside padding / {peak[0]:.1f} G MAC/s, "
              f"this CPU's int8 peak on {args.threads} threads ({peak[1]}, tools/int8_peak.c, measured in this run, the higher of before and after the timings).")
    else:
        print(f"% of int8 peak: not measured ({peak[1]}).")
    print("images/s = batch / median; 'openvino throughput' runs one batch per stream concurrently "
          "and its ms are wall time per batch.")
    for batch, used in load.items():
        print(f"batch {batch}: {used['seconds']:.0f} s; machine busy {used['machine_busy_cpus']:.2f} of "
              f"{os.cpu_count()} CPUs, of which other processes {used['other_cpus']:.2f}, "
              f"hypervisor steal {used['steal_cpus']:.2f}")
        if used["other_cpus"] + used["steal_cpus"] > 0.1:
            log(f"warning: other work used {used['other_cpus'] + used['steal_cpus']:.2f} CPUs while batch "
                f"{batch} was timed; the numbers are slower and noisier than on an idle machine")
    print("\nagreement with fp32 ONNX on the calibration inputs (fp32 ONNX vs PyTorch for the first line):")
    for label, check in checks.items():
        print(f"  {label:26s} top-1 {check['agree']}/{check['inputs']}  max|dlogit| "
              f"{check['max_abs_logit_error']:.4g} ({100 * check['relative_logit_error']:.2f}% of max|logit|)")
        if "executed_ops" in check:
            print(f"  {'':26s} runs: " + ", ".join(f"{k} {v}" for k, v in check["executed_ops"].items()))
    distinct = checks["onnx fp32 vs torch"]["distinct_fp32_classes"]
    if distinct <= 2:
        print(f"  (fp32 predicts only {distinct} distinct class(es) here: agreement proves little, "
              f"as with any random-weight WRN)")
    if checks["onnx fp32 vs torch"]["relative_logit_error"] > 1e-3:
        log("warning: the fp32 ONNX export differs from PyTorch by more than 0.1% of max|logit|")
    print(f"\ntook {phases['total_s']:.0f} s (" + ", ".join(
        f"{key[:-2].replace('_', ' ')} {value:.0f} s" for key, value in phases.items() if key != "total_s") + ")")
    return cpu, flags


def main():
    args = parse_arguments()
    started = time.perf_counter()
    phases = OrderedDict()
    temporary = None if args.workdir else tempfile.TemporaryDirectory(prefix="bench_peers_")
    workdir = args.workdir or temporary.name
    os.makedirs(workdir, exist_ok=True)
    try:
        torch.set_num_threads(args.threads)
        model, arch = load_float_model(args.checkpoint)
        macs, useful_macs = count_macs(model)
        calibration, calibration_path, calibration_source = load_calibration(args.calibration, workdir)
        name = f"WRN-{arch['depth']}-{arch['widen_factor']}"
        log(f"{name}, {arch['num_classes']} classes, {macs / 1e9:.3f} GMAC/image; "
            f"calibration {calibration_source} [{len(calibration)}]")

        t = time.perf_counter()
        fp32_path = os.path.join(workdir, "model.fp32.onnx")
        export_onnx(model, fp32_path)
        with torch.no_grad():
            torch_logits = model(torch.from_numpy(calibration)).numpy()
        del model
        phases["export_s"] = time.perf_counter() - t
        t = time.perf_counter()
        qdq_paths = OrderedDict((act, quantize_qdq(fp32_path, workdir, calibration, act)) for act in ("u8", "s8"))
        phases["quantize_s"] = time.perf_counter() - t
        log(f"exported and quantized in {phases['export_s'] + phases['quantize_s']:.1f} s")

        wren = Wren(find_wren(args.wren))
        if wren.available:
            t = time.perf_counter()
            wren.convert(args.checkpoint, calibration_path, workdir)
            phases["wren_convert_s"] = time.perf_counter() - t
        if not wren.available:
            log(f"Wren: unavailable — {wren.reason}")

        ort_models = OrderedDict([("fp32", fp32_path), ("int8 (u8 act)", qdq_paths["u8"]),
                                  ("int8 (s8 act)", qdq_paths["s8"])])
        sessions = OrderedDict(
            (precision, ort_session(path, args.threads, ort_optimized_path(workdir, precision) if precision != "fp32" else None))
            for precision, path in ort_models.items())
        try:
            import openvino as ov
            core = ov.Core()
            openvino_models = OrderedDict([("fp32", fp32_path), ("int8 (u8 act)", qdq_paths["u8"])])
        except ImportError as error:
            core, openvino_models = None, OrderedDict()
            log(f"OpenVINO: unavailable — {error}")
        t = time.perf_counter()
        checks = check_agreement(calibration, torch_logits, sessions, core, openvino_models, wren,
                                 workdir, args)
        phases["agreement_s"] = time.perf_counter() - t
        gc.collect()

        # The peak is measured right before and right after the timings and the higher one kept: on
        # a shared machine the capacity other tenants leave changes within minutes.
        peak_before = measure_int8_peak(args.threads, workdir)
        t = time.perf_counter()
        rows, load = run_benchmarks(args, calibration, arch["num_classes"], sessions, core, openvino_models, wren)
        phases["benchmark_s"] = time.perf_counter() - t
        peak_after = measure_int8_peak(args.threads, workdir)
        peak = max(peak_before, peak_after, key=lambda measured: measured[0] or 0)
        if peak_before[0] and peak_after[0] and abs(peak_before[0] - peak_after[0]) > 0.1 * peak[0]:
            log(f"warning: the int8 peak changed from {peak_before[0]:.1f} to {peak_after[0]:.1f} G MAC/s during the run "
                "(other load on the machine): efficiencies use the higher")
        phases["total_s"] = time.perf_counter() - started
        cpu, flags = print_report(name, arch, macs, args, wren, rows, load, checks, phases, useful_macs, peak)

        if args.json_out:
            report = OrderedDict(
                checkpoint=os.path.abspath(args.checkpoint), model=name, architecture=arch,
                macs_per_image=macs, useful_macs_per_image=useful_macs,
                int8_peak={"gmacs": peak[0], "source": peak[1]}, threads=args.threads, batches=args.batch, rounds=args.rounds,
                iterations=args.iterations or f"auto ({args.seconds} s budget)",
                calibration={"source": calibration_source, "inputs": len(calibration)},
                machine={"cpu_model": cpu, "cpu_flags": flags, "logical_cpus": os.cpu_count(),
                         "platform": platform.platform()},
                versions=versions(), wren={"status": wren.status, "reason": wren.reason, "binary": wren.binary},
                results=rows, agreement=checks, machine_load_while_timing=load, seconds=phases)
            with open(args.json_out, "w") as f:
                json.dump(report, f, indent=2)
            log(f"wrote {args.json_out}")
    finally:
        if temporary:
            temporary.cleanup()


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
