"""Writes the optimizer, learning-rate-schedule and safetensors-writer fixtures in
fixtures/training/optimizers/ from real torch.optim / torch.optim.lr_scheduler / safetensors runs.

Run from the repository root:   python3 tools/make_optimizer_fixtures.py        (about 5 s)
Made with: Python 3.11.7, torch 2.15.0 (CPU), numpy 2.4.6, safetensors 0.8.0 (tools/requirements.txt).
Output is byte-identical across runs on the same machine (the float32 results depend on the CPU
kernels torch dispatches to; "cpu_capability" records which: AVX512 here). Each run first asserts
the per-element roundings of torch's CPU kernels that Wren's TorchOps reproduces
(check_kernel_roundings) and prints how often torch's sqrt is not correctly rounded.

optimizers.json
---------------
Four small parameters shaped like a WRN's (a conv kernel [4,3,3,3] = 108 elements, a BN weight
[40], a linear weight [5,3], a conv bias [7]); torch's CPU kernels run 32 float32 elements per
vectorized iteration and the rest one by one, so the sizes exercise both paths. Ten steps of
fixed random gradients (the conv bias gets gradients of 1e-8, the rounding noise a conv bias
before a train-mode BN really receives, which Adam's eps acts on; one gradient element is exactly
zero). Each case runs torch.optim.SGD / Adam / AdamW with foreach=False (the single-tensor path,
which is also what foreach=None picks for CPU tensors: checked below) twice, in float32 and in
float64 from the same float32 inputs widened exactly. A case sets the group's lr before each step
from its "lrs" list, as a scheduler would. "weight_decay_scope": "weights" builds two parameter
groups, decay for tensors of rank >= 2 (conv and linear weights) and weight_decay=0 for the rest
(BN parameters and biases), which is what Wren's WeightDecayScope.convolutionAndLinearWeights
means.

Recorded per case: float32 parameters after every step, float32 optimizer state after the last
step (momentum_buffer, or exp_avg and exp_avg_sq), float64 parameters and state after the last
step. Tensors are hex strings of their IEEE bit patterns, 8 hex digits per float32 and 16 per
float64, most significant digit first ("3f800000" is 1.0), so nothing is lost in decimal.

schedules.json
--------------
The learning rate of each of E epochs (param_groups[0]["lr"] while epoch e trains, then
scheduler.step()), base lr 0.1, for the `--schedule` strings Wren parses, each built with the
torch schedulers it stands for:
  constant                        no scheduler
  multistep:E1,E2,...:F           MultiStepLR(milestones=[E1, E2, ...], gamma=F)
  cosine                          CosineAnnealingLR(T_max=E, eta_min=0)   (PyTorch's recursive form)
  <main>+warmup:W[:S]             SequentialLR([LinearLR(start_factor=S, end_factor=1,
                                  total_iters=W), main'], milestones=[W]); S defaults to 1/3
                                  (LinearLR's default). main' counts epochs from W: cosine gets
                                  T_max=E-W, multistep gets milestones Ei-W (so Ei stay absolute
                                  epochs), constant is LambdaLR(lambda e: 1.0).
Values are given as Python floats and as 16-hex-digit bit patterns ("lr_bits"), and the float
hyperparameters of optimizers.json also as hex in "bits": Foundation's JSONSerialization on Linux
parses some 17-significant-digit decimals to a neighbouring double (0.020000000000000004 comes
back 2 ulps off), which is enough to break bit-exact comparisons.

safetensors_writer_reference.safetensors
----------------------------------------
safetensors.torch.save_file of a small module's state_dict (Conv2d with bias, BatchNorm2d with
its I64 num_batches_tracked of shape [], Linear) with __metadata__ {"format": "pt"}; its header
needs padding to a multiple of 8 (asserted). SafetensorsWriterTests re-encodes it with Wren's
writer and expects the same bytes. The script checks load_file + load_state_dict(strict=True).

safetensors_escaped_name.safetensors
------------------------------------
save_file of one F32 scalar named 'a"b\\c\n\x01\x1f\u00e9/\t', to pin down how the header's JSON
escapes names (serde_json: \" \\ \n \t \u0001 \u001f, UTF-8 and '/' as they are).
"""

import json
import math
import os
import warnings

import numpy as np
import safetensors
import torch
from safetensors.torch import load_file, save_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "fixtures", "training", "optimizers")

PARAMETERS = [("conv.weight", (4, 3, 3, 3)), ("bn.weight", (40,)), ("fc.weight", (5, 3)), ("conv.bias", (7,))]
STEPS = 10


def hex32(array):
    return np.ascontiguousarray(array, dtype=">f4").tobytes().hex()


def hex64(array):
    return np.ascontiguousarray(array, dtype=">f8").tobytes().hex()


def make_inputs():
    rng = np.random.default_rng(20261203)
    initial = [
        rng.normal(0.0, math.sqrt(2.0 / (3 * 3 * 4)), size=(4, 3, 3, 3)),
        1.0 + rng.normal(0.0, 0.1, size=(40,)),
        rng.normal(0.0, 0.3, size=(5, 3)),
        rng.normal(0.0, 0.01, size=(7,)),
    ]
    gradient_scales = [0.05, 0.01, 0.1, 1e-8]
    gradients = []
    for step in range(STEPS):
        per_step = [rng.normal(0.0, scale, size=shape) for scale, (_, shape) in zip(gradient_scales, PARAMETERS)]
        if step == 2:
            per_step[0][1, 2, 0, 1] = 0.0
        gradients.append(per_step)
    to32 = lambda arrays: [np.asarray(a, dtype=np.float32) for a in arrays]
    return to32(initial), [to32(g) for g in gradients]


CASES = [
    dict(name="sgd", optimizer="sgd", lr=0.1),
    dict(name="sgd_momentum", optimizer="sgd", lr=0.1, momentum=0.9),
    dict(name="sgd_nesterov_wd", optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4),
    dict(name="sgd_wd_no_momentum", optimizer="sgd", lr=0.05, weight_decay=1e-2),
    dict(name="sgd_momentum_wd_weights_multistep", optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4,
         weight_decay_scope="weights", lrs=[0.1] * 5 + [0.1 * 0.2] * 5),
    dict(name="adam", optimizer="adam", lr=1e-3),
    dict(name="adam_wd", optimizer="adam", lr=1e-3, weight_decay=1e-2),
    dict(name="adam_betas_eps", optimizer="adam", lr=2e-3, betas=(0.3, 0.9), eps=1e-6),
    dict(name="adamw", optimizer="adamw", lr=1e-3, weight_decay=0.01),
    dict(name="adamw_weights_cosine", optimizer="adamw", lr=3e-3, weight_decay=0.05, weight_decay_scope="weights",
         lrs=[3e-3 * (1 + math.cos(math.pi * s / STEPS)) / 2 for s in range(STEPS)]),
]


def build_optimizer(case, tensors, foreach):
    scope = case.get("weight_decay_scope", "all")
    wd = case.get("weight_decay", 0.0 if case["optimizer"] != "adamw" else 0.01)
    if scope == "all":
        groups = [{"params": tensors}]
    else:
        groups = [{"params": [t for t in tensors if t.dim() >= 2]},
                  {"params": [t for t in tensors if t.dim() < 2], "weight_decay": 0.0}]
    if case["optimizer"] == "sgd":
        return torch.optim.SGD(groups, lr=case["lr"], momentum=case.get("momentum", 0.0),
                               nesterov=case.get("nesterov", False), weight_decay=wd, foreach=foreach)
    cls = torch.optim.Adam if case["optimizer"] == "adam" else torch.optim.AdamW
    return cls(groups, lr=case["lr"], betas=case.get("betas", (0.9, 0.999)), eps=case.get("eps", 1e-8),
               weight_decay=wd, foreach=foreach)


def run_case(case, initial, gradients, dtype, foreach=False):
    tensors = [torch.tensor(a, dtype=dtype) for a in initial]
    optimizer = build_optimizer(case, tensors, foreach)
    lrs = case.get("lrs", [case["lr"]] * STEPS)
    trajectory = []
    for step in range(STEPS):
        for group in optimizer.param_groups:
            group["lr"] = lrs[step]
        for tensor, gradient in zip(tensors, gradients[step]):
            tensor.grad = torch.tensor(gradient, dtype=dtype)
        optimizer.step()
        trajectory.append([t.detach().numpy().copy() for t in tensors])
    state = {}
    for key in ("momentum_buffer", "exp_avg", "exp_avg_sq"):
        if key in optimizer.state[tensors[0]]:
            state[key] = [optimizer.state[t][key].numpy().copy() for t in tensors]
    return trajectory, state


def optimizer_fixtures():
    initial, gradients = make_inputs()
    cases = []
    for case in CASES:
        trajectory32, state32 = run_case(case, initial, gradients, torch.float32)
        trajectory64, state64 = run_case(case, initial, gradients, torch.float64)
        # foreach=None (the default) takes the same single-tensor path for CPU tensors.
        default32, _ = run_case(case, initial, gradients, torch.float32, foreach=None)
        assert all(np.array_equal(a, b) for sa, sb in zip(trajectory32, default32) for a, b in zip(sa, sb)), case["name"]
        entry = {
            "name": case["name"],
            "optimizer": case["optimizer"],
            "lrs": case.get("lrs", [case["lr"]] * STEPS),
            "momentum": case.get("momentum", 0.0),
            "nesterov": case.get("nesterov", False),
            "weight_decay": case.get("weight_decay", 0.0 if case["optimizer"] != "adamw" else 0.01),
            "weight_decay_scope": case.get("weight_decay_scope", "all"),
            "betas": list(case.get("betas", (0.9, 0.999))),
            "eps": case.get("eps", 1e-8),
            "float32": {
                "parameters": [[hex32(t) for t in step] for step in trajectory32],
                "state": {k: [hex32(t) for t in v] for k, v in state32.items()},
            },
            "float64": {
                "parameters": [hex64(t) for t in trajectory64[-1]],
                "state": {k: [hex64(t) for t in v] for k, v in state64.items()},
            },
        }
        # The same numbers exactly: Foundation's JSONSerialization (swift-corelibs, Linux) rounds
        # some 17-digit decimals to a neighbouring double, so the tests read these instead.
        entry["bits"] = {key: hex64(np.asarray(entry[key], dtype=np.float64))
                         for key in ("lrs", "momentum", "weight_decay", "betas", "eps")}
        cases.append(entry)
    return {
        "generator": "tools/make_optimizer_fixtures.py",
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "steps": STEPS,
        "parameters": [{"name": n, "shape": list(s)} for n, s in PARAMETERS],
        "initial": [hex32(a) for a in initial],
        "gradients": [[hex32(g) for g in step] for step in gradients],
        "cases": cases,
    }


def build_schedule(text, optimizer, epochs):
    """The torch schedulers a Wren --schedule string stands for (None for constant)."""
    main, _, warmup = text.partition("+warmup:")
    warmup_epochs, start_factor = 0, 1.0 / 3
    if warmup:
        parts = warmup.split(":")
        warmup_epochs = int(parts[0])
        if len(parts) > 1:
            start_factor = float(parts[1])
    remaining = epochs - warmup_epochs
    kind, *rest = main.split(":")
    if kind == "constant":
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0) if warmup else None
    elif kind == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=remaining, eta_min=0.0)
    elif kind == "multistep":
        milestones = [int(m) - warmup_epochs for m in rest[0].split(",")]
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=float(rest[1]))
    else:
        raise ValueError(text)
    if not warmup:
        return scheduler
    linear = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=start_factor, end_factor=1.0,
                                                total_iters=warmup_epochs)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [linear, scheduler], milestones=[warmup_epochs])


SCHEDULES = [
    ("constant", 20),
    ("multistep:6,12,16:0.2", 20),
    ("multistep:60,120,160:0.2", 200),
    ("multistep:3,4:0.1", 20),
    ("cosine", 20),
    ("cosine", 200),
    ("cosine+warmup:3", 20),
    ("cosine+warmup:5:0.1", 200),
    ("multistep:6,12,16:0.2+warmup:3:0.25", 20),
    ("constant+warmup:4:0.5", 20),
]


def schedule_fixtures():
    entries = []
    for text, epochs in SCHEDULES:
        parameter = torch.zeros(1, requires_grad=True)
        optimizer = torch.optim.SGD([parameter], lr=0.1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scheduler = build_schedule(text, optimizer, epochs)
            lrs = []
            for _ in range(epochs):
                lrs.append(optimizer.param_groups[0]["lr"])
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
        entries.append({"schedule": text, "epochs": epochs, "base_lr": 0.1, "lrs": lrs,
                        "lr_bits": [np.float64(v).view(np.uint64).item().to_bytes(8, "big").hex() for v in lrs]})
    return {"generator": "tools/make_optimizer_fixtures.py", "versions": {"torch": torch.__version__},
            "schedules": entries}


def safetensors_reference(path):
    torch.manual_seed(7)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=True), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                 torch.nn.Linear(4, 3))
    module[1].running_mean.normal_()
    module[1].running_var.uniform_(0.5, 2.0)
    module[1].num_batches_tracked.fill_(123456789012)
    state = module.state_dict()
    save_file(state, path, metadata={"format": "pt"})
    raw = open(path, "rb").read()
    length = int.from_bytes(raw[:8], "little")
    assert raw[8 + length - 1:8 + length] == b" ", "pick tensors whose header needs padding"
    loaded = load_file(path)
    fresh = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=True), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                torch.nn.Linear(4, 3))
    fresh.load_state_dict(loaded, strict=True)
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in state.items())


# A tensor name with every kind of character JSON escapes differently (quote, backslash, the short
# escapes, other control characters) plus ones it leaves alone (non-ASCII, '/').
ESCAPED_NAME = 'a"b\\c\n\x01\x1f\u00e9/\t'


def check_kernel_roundings():
    """Asserts, element by element, the roundings Sources/WrenTrain/Optimizers/TorchOps.swift
    reproduces, on 77 elements (two 32-wide vectorized iterations and a 13-element scalar tail),
    in float32 and float64; returns how often torch's sqrt differs from the correctly rounded one."""
    from fractions import Fraction

    def fma(a, b, c, cast):  # exact a*b + c, rounded once to `cast`
        return np.array([cast(float(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z))))
                         for x, y, z in np.broadcast(a, b, c)], dtype=cast)

    generator = torch.Generator().manual_seed(1)
    sqrt_mismatch = {}
    for dtype, cast in ((torch.float32, np.float32), (torch.float64, np.float64)):
        a, b = (torch.randn(77, dtype=dtype, generator=generator) for _ in range(2))
        c = torch.rand(77, dtype=dtype, generator=generator) + 0.5
        A, B, C = a.numpy(), b.numpy(), c.numpy()
        same = np.array_equal
        assert same(a.add(b, alpha=0.37).numpy(), fma(B, cast(0.37), A, cast))
        for w in (0.1, 1 - 0.999, 0.5, 0.7):
            W = cast(w)
            expected = fma(W, B - A, A, cast) if abs(W) < 0.5 else fma(W - cast(1), B - A, B, cast)
            assert same(a.lerp(b, w).numpy(), expected), w
        assert same(a.addcmul(b, b, value=1 - 0.999).numpy(), fma(cast(1 - 0.999) * B, B, A, cast))
        assert same(a.addcdiv(b, c, value=-0.0123).numpy(), A + (cast(-0.0123) * B) / C)
        assert same(a.mul(0.999).numpy(), A * cast(0.999))
        assert same(a.add(b).numpy(), A + B)
        assert same((c / 0.3).numpy(), C / cast(0.3))
        assert same(c.add(1e-8).numpy(), C + cast(1e-8))
        x = torch.rand(100000, dtype=dtype, generator=generator) * 4 + 0.01
        correct = np.sqrt(x.numpy().astype(np.float64)).astype(cast) if cast is np.float32 else np.sqrt(x.numpy())
        sqrt_mismatch[str(dtype)] = float(np.mean(x.sqrt().numpy() != correct))
    return sqrt_mismatch


def main():
    mismatch = check_kernel_roundings()
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    with open(os.path.join(OUT, "optimizers.json"), "w") as f:
        json.dump(optimizer_fixtures(), f, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(OUT, "schedules.json"), "w") as f:
        json.dump(schedule_fixtures(), f, separators=(",", ":"))
        f.write("\n")
    safetensors_reference(os.path.join(OUT, "safetensors_writer_reference.safetensors"))
    save_file({ESCAPED_NAME: torch.tensor(2.0)}, os.path.join(OUT, "safetensors_escaped_name.safetensors"))
    print(f"wrote {OUT} (torch {torch.__version__}, safetensors {safetensors.__version__}, "
          f"{torch.backends.cpu.get_cpu_capability()}); kernel roundings as TorchOps assumes; "
          f"torch sqrt differs from the correctly rounded root for "
          + ", ".join(f"{100 * v:.1f}% of {k}" for k, v in mismatch.items()))


if __name__ == "__main__":
    main()
