"""Writes the PaddlePaddle checkpoint fixtures in fixtures/paddle/ from real Paddle runs.

Run from the repository root:   python3 tools/make_paddle_fixtures.py            (about 10 s)
Made with: Python 3.11, paddlepaddle 3.3.1 (CPU), numpy 2.4.6
           (python3 -m pip install paddlepaddle==3.3.1; see tools/requirements.txt).

The network is the seeds' Paddle port of the widely used PyTorch WideResNet (tools/wrn_torch.py):
the same module names (conv1, block{1,2,3}.layer.{i}.{bn1,conv1,bn2,conv2,convShortcut}, bn1, fc)
but written with paddle.nn, so it carries Paddle's conventions:
  - every Conv2D has a bias (Paddle's default bias_attr),
  - BatchNorm2D statistics are named `_mean` / `_variance` (PyTorch: running_mean / running_var),
  - nn.Linear stores its weight as [in, out] (PyTorch: [out, in]).

For every variant it writes
  <name>.pdparams      the checkpoint, written by paddle.save
  <name>.input.npy     float32 [4,3,32,32], uniform in [-1, 1] (images normalized with mean/std 0.5)
  <name>.logits.npy    float32 [4,classes], eval-mode logits as Paddle computes them
and manifest.json. Batch-norm parameters, statistics and conv biases are randomized so that
mapping or folding them wrongly changes the logits. Every file is reloaded with paddle.load and
the logits reproduced.

It also writes arrays.pdparams + arrays.json: paddle.save of a plain dict of NumPy arrays in the
layouts an importer must handle (Fortran order, big-endian, float16, float64, an int64 array and a
NumPy scalar that must be skipped), with the expected row-major values.

`--shapes DIR` instead writes larger checkpoints (WRN-16-4, WRN-28-10, WRN-40-4; not committed)
with their inputs and logits to DIR, for checking float parity by hand with `wren run`.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "fixtures", "paddle")


class BasicBlock(nn.Layer):
    def __init__(self, in_planes, out_planes, stride, drop_rate=0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2D(in_planes)  # epsilon 1e-5, Paddle's default
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2D(in_planes, out_planes, 3, stride=stride, padding=1)
        self.bn2 = nn.BatchNorm2D(out_planes)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2D(out_planes, out_planes, 3, stride=1, padding=1)
        self.drop_rate = drop_rate
        self.equal_in_out = in_planes == out_planes
        self.convShortcut = None if self.equal_in_out else nn.Conv2D(
            in_planes, out_planes, 1, stride=stride, padding=0)

    def forward(self, x):
        if not self.equal_in_out:
            x = self.relu1(self.bn1(x))  # the projection shortcut sees the activated input
            out = self.conv1(x)
        else:
            out = self.conv1(self.relu1(self.bn1(x)))  # the identity shortcut is the raw stream
        out = self.relu2(self.bn2(out))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        out = self.conv2(out)
        return paddle.add(x if self.equal_in_out else self.convShortcut(x), out)


class NetworkBlock(nn.Layer):
    def __init__(self, nb_layers, in_planes, out_planes, stride, drop_rate=0.0):
        super().__init__()
        self.layer = nn.Sequential(*[
            BasicBlock(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1, drop_rate)
            for i in range(int(nb_layers))])

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Layer):
    def __init__(self, depth=28, num_classes=4, widen_factor=1, drop_rate=0.0):
        super().__init__()
        channels = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        assert (depth - 4) % 6 == 0, "WRN depth must be 6n+4"
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2D(3, channels[0], 3, stride=1, padding=1)
        self.block1 = NetworkBlock(n, channels[0], channels[1], 1, drop_rate)
        self.block2 = NetworkBlock(n, channels[1], channels[2], 2, drop_rate)
        self.block3 = NetworkBlock(n, channels[2], channels[3], 2, drop_rate)
        self.bn1 = nn.BatchNorm2D(channels[3])
        self.relu = nn.ReLU()
        self.fc = nn.Linear(channels[3], num_classes)
        self.n_channels = channels[3]

    def forward(self, x):
        out = self.conv1(x)
        out = self.block1(out)
        out = self.block2(out)
        out = self.block3(out)
        out = self.relu(self.bn1(out))
        out = F.adaptive_avg_pool2d(out, 1)
        out = paddle.reshape(out, [-1, self.n_channels])
        return self.fc(out)


def randomize_for_testing(model, rng):
    """WRN's He init for convs; non-trivial BN and bias values so mapping mistakes show."""
    state = {}
    for name, value in model.state_dict().items():
        shape = value.shape
        if name.endswith("_mean") or (name.endswith(".bias") and len(shape) == 1):
            array = rng.normal(0.0, 0.2 if "bn" in name else 0.05, shape)
        elif name.endswith("_variance"):
            array = rng.uniform(0.5, 2.0, shape)
        elif len(shape) == 4:
            fan_out = shape[0] * shape[2] * shape[3]
            array = rng.normal(0.0, math.sqrt(2.0 / fan_out), shape)
        elif len(shape) == 2:  # Linear [in, out]
            bound = 1.0 / math.sqrt(shape[0])
            array = rng.uniform(-bound, bound, shape)
        else:  # BN gamma
            array = rng.uniform(0.5, 1.5, shape)
        state[name] = array.astype(np.float32)
    model.set_state_dict(state)


# name, depth, widen, classes, how it is saved, seed, notes
VARIANTS = [
    ("wrn28_1_c4", 28, 1, 4, "state_dict", 201,
     "the seed's model: WideResNet(num_classes=4), depth 28, widen 1; paddle.save(model.state_dict())"),
    ("wrn10_8_c10_fp16", 10, 8, 10, "float16", 202,
     "one block per group, widen 8 (the TensorFlow seed's shape); the model cast to float16 "
     "(model.to(dtype='float16')) before paddle.save, so every array is '<f2'; logits from the "
     "float32 model holding the same float16-rounded values"),
    ("wrn10_1_c10_training", 10, 1, 10, "training", 203,
     "paddle.save({'model': model.state_dict(), 'epoch': 3, 'best_acc': np.float64(0.5)}): tensors "
     "inside a nested dict are pickled as builtins.tuple((name, ndarray))"),
    ("wrn10_1_c3_protocol2", 10, 1, 3, "protocol2", 204,
     "paddle.save(model.state_dict(), protocol=2): GLOBAL opcodes, bytes as _codecs.encode(str, 'latin1')"),
]


def logits_of(model, inputs):
    model.eval()
    with paddle.no_grad():
        return model(paddle.to_tensor(inputs)).numpy().astype(np.float32)


def make_variant(out, name, depth, widen, classes, how, seed, notes):
    paddle.seed(seed)
    rng = np.random.default_rng(seed)
    model = WideResNet(depth=depth, num_classes=classes, widen_factor=widen)
    randomize_for_testing(model, rng)
    inputs = rng.uniform(-1.0, 1.0, (4, 3, 32, 32)).astype(np.float32)
    path = os.path.join(out, name + ".pdparams")

    if how == "float16":
        model.to(dtype="float16")
        paddle.save(model.state_dict(), path)
        # The float32 model with exactly the stored float16 values gives the reference logits.
        reference = WideResNet(depth=depth, num_classes=classes, widen_factor=widen)
        reference.set_state_dict({k: v.astype("float32") for k, v in model.state_dict().items()})
        logits = logits_of(reference, inputs)
    elif how == "training":
        logits = logits_of(model, inputs)
        paddle.save({"model": model.state_dict(), "epoch": 3, "best_acc": np.float64(0.5)}, path)
    elif how == "protocol2":
        logits = logits_of(model, inputs)
        paddle.save(model.state_dict(), path, protocol=2)
    else:
        logits = logits_of(model, inputs)
        paddle.save(model.state_dict(), path)

    np.save(os.path.join(out, name + ".input.npy"), inputs)
    np.save(os.path.join(out, name + ".logits.npy"), logits)
    return {"name": name, "file": name + ".pdparams", "depth": depth, "widen_factor": widen,
            "num_classes": classes, "conv_bias": True, "saved_as": how,
            "input": name + ".input.npy", "logits": name + ".logits.npy", "notes": notes}


def verify(out, entry):
    """Reload with paddle.load into a fresh float32 model and reproduce the logits."""
    loaded = paddle.load(os.path.join(out, entry["file"]))
    state = loaded["model"] if entry["saved_as"] == "training" else loaded
    model = WideResNet(depth=entry["depth"], num_classes=entry["num_classes"], widen_factor=entry["widen_factor"])
    missing, unexpected = model.set_state_dict({k: paddle.cast(paddle.to_tensor(v), "float32") for k, v in state.items()})
    assert not missing and not unexpected, (missing, unexpected)
    inputs = np.load(os.path.join(out, entry["input"]))
    expected = np.load(os.path.join(out, entry["logits"]))
    got = logits_of(model, inputs)
    difference = float(np.abs(got - expected).max())
    assert difference <= 1e-5 * float(np.abs(expected).max()), f"{entry['name']}: reload differs by {difference}"
    size = os.path.getsize(os.path.join(out, entry["file"]))
    print(f"{entry['name']:24s} {size:9d} bytes  reload max|diff| {difference:.1e}  "
          f"max|logit| {np.abs(expected).max():.3f}  argmax {expected.argmax(1).tolist()}")


def make_arrays(out):
    fortran = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4) / 4)
    big_endian = np.array([1.5, -2.25, 3.0], dtype=">f4")
    arrays = {
        "fortran_3x4": fortran,
        "big_endian_f4": big_endian,
        "half_2x2": np.array([[0.5, -1.25], [65504.0, 2.0 ** -24]], dtype=np.float16),
        "double_2": np.array([0.1, -7.5], dtype=np.float64),
        "big_endian_f8_2x1": np.array([[2.5], [-0.125]], dtype=">f8"),
        "int64_skipped": np.array([1, 2, 3], dtype=np.int64),
        "scalar_skipped": np.float64(0.25),
    }
    assert fortran.flags.f_contiguous and not fortran.flags.c_contiguous
    paddle.save(arrays, os.path.join(out, "arrays.pdparams"))
    expected = {k: {"shape": list(v.shape), "values": [float(x) for x in np.asarray(v, dtype=np.float64).reshape(-1)]}
                for k, v in arrays.items() if k not in ("int64_skipped", "scalar_skipped")}
    with open(os.path.join(out, "arrays.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(f"arrays.pdparams          {os.path.getsize(os.path.join(out, 'arrays.pdparams')):9d} bytes")


def make_shapes(out):
    """Larger architectures for a by-hand parity check (not committed: tens of MB)."""
    os.makedirs(out, exist_ok=True)
    for name, depth, widen, classes, seed in [("wrn16_4_c10", 16, 4, 10, 301), ("wrn28_10_c100", 28, 10, 100, 302),
                                              ("wrn40_4_c10", 40, 4, 10, 303)]:
        entry = make_variant(out, name, depth, widen, classes, "state_dict", seed, "")
        verify(out, entry)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shapes", help="write WRN-16-4 / 28-10 / 40-4 checkpoints to this folder instead")
    args = parser.parse_args()
    paddle.set_device("cpu")
    if args.shapes:
        make_shapes(args.shapes)
        return
    os.makedirs(OUT, exist_ok=True)
    manifest = [make_variant(OUT, *variant) for variant in VARIANTS]
    for entry in manifest:
        verify(OUT, entry)
    make_arrays(OUT)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"paddle {paddle.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
