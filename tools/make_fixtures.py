"""Writes the WRN checkpoint fixtures in fixtures/models/ from real PyTorch runs.

Run from the repository root:   python3 tools/make_fixtures.py
Made with: Python 3, torch 2.15.0, numpy 2.4.6 (tools/requirements.txt).

For every variant it writes
  <name>.pth           the checkpoint, plain torch.save (zip format)
  <name>.input.npy     float32 [4,3,32,32], N(0,1)
  <name>.logits.npy    float32 [4,classes], eval-mode model(input) as PyTorch computes it
  <name>.logits64.npy  float64 logits of the same model converted with .double()
  <name>.tensors.json  per canonical state_dict key (no "module." prefix): shape, float64 sum,
                       first 4 values in row-major order
and one manifest.json describing all variants. Batch-norm parameters and statistics are
randomized so that folding them wrongly changes the logits. The script reloads every file
with torch.load(weights_only=True) and checks that the logits are reproduced.
"""

import copy
import json
import os
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

from wrn_torch import WideResNet, randomize_for_testing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "fixtures", "models")

# name, depth, widen_factor, num_classes, conv_bias, container, seed
VARIANTS = [
    ("wrn10_1_c10", 10, 1, 10, False, "state_dict", 101),
    ("wrn10_2_c3_bias", 10, 2, 3, True, "state_dict", 102),
    ("wrn16_1_c100_train", 16, 1, 100, False, "training", 103),
    ("wrn10_2_c10_module", 10, 2, 10, False, "model_module", 104),
    ("wrn10_1_c10_views", 10, 1, 10, False, "state_dict", 105),
    ("wrn22_1_c10", 22, 1, 10, False, "state_dict", 106),
]

NOTES = {
    "wrn10_1_c10": "bare state_dict; k=1 so block1.layer.0 has no convShortcut",
    "wrn10_2_c3_bias": "bare state_dict; every conv has a bias (PaddlePaddle-port style)",
    "wrn16_1_c100_train": "{'epoch': 7, 'state_dict': sd, 'optimizer': SGD(momentum=0.9) state after one step, 'best_acc': 0.25}",
    "wrn10_2_c10_module": "{'model': sd} with DataParallel 'module.'-prefixed keys",
    "wrn10_1_c10_views": "bare state_dict whose tensors are views: block1.layer.0.conv1.weight (offset 0) and "
                         "block1.layer.0.conv2.weight (offset 2309) share one storage of 4613 floats; "
                         "fc.weight is the transpose of a contiguous [16,10] tensor (stride [1,10])",
    "wrn22_1_c10": "bare state_dict; 3 blocks per group",
}


def views_state_dict(sd):
    """Re-express a state_dict so some tensors are views with offsets and non-contiguous strides."""
    out = OrderedDict((k, v.clone()) for k, v in sd.items())
    a_key, b_key = "block1.layer.0.conv1.weight", "block1.layer.0.conv2.weight"
    a, b = sd[a_key], sd[b_key]
    gap = 5  # unused floats between the two views, so offsets are not a plain concatenation
    shared = torch.zeros(a.numel() + gap + b.numel(), dtype=torch.float32)
    shared[: a.numel()] = a.reshape(-1)
    shared[a.numel() + gap:] = b.reshape(-1)
    out[a_key] = shared[: a.numel()].view(a.shape)
    out[b_key] = shared[a.numel() + gap:].view(b.shape)
    in_out = sd["fc.weight"].t().contiguous()  # [in, out], contiguous
    out["fc.weight"] = in_out.t()  # [out, in] with strides (1, out)
    assert out[b_key].storage_offset() == a.numel() + gap
    assert not out["fc.weight"].is_contiguous()
    return out


def canonical_state_dict(loaded, container):
    """Undo the container / prefix a variant was saved with."""
    if container == "training":
        sd = loaded["state_dict"]
    elif container == "model_module":
        sd = OrderedDict((k[len("module."):], v) for k, v in loaded["model"].items())
    else:
        sd = loaded
    return sd


def tensor_summary(sd):
    summary = OrderedDict()
    for key, t in sd.items():
        flat = t.detach().reshape(-1)  # row-major over the logical shape, whatever the strides
        first = flat[:4].tolist()
        summary[key] = {
            "shape": list(t.shape),
            "dtype": str(t.dtype).replace("torch.", ""),
            "sum": float(t.detach().double().sum().item()),
            "first": [float(v) for v in first],
        }
    return summary


def make_variant(name, depth, widen, classes, conv_bias, container, seed):
    torch.manual_seed(seed)
    model = WideResNet(depth, classes, widen_factor=widen, conv_bias=conv_bias)
    randomize_for_testing(model)

    optimizer_state = None
    if container == "training":
        # One real SGD step so the optimizer state holds momentum buffers, as in a real run.
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        model.train()
        x = torch.randn(8, 3, 32, 32)
        y = torch.randint(0, classes, (8,))
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        optimizer_state = optimizer.state_dict()

    model.eval()
    inputs = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        logits = model(inputs)
        logits64 = copy.deepcopy(model).double()(inputs.double())

    sd = model.state_dict()
    if container == "training":
        payload = {"epoch": 7, "state_dict": sd, "optimizer": optimizer_state, "best_acc": 0.25}
    elif container == "model_module":
        payload = {"model": nn.DataParallel(model).state_dict()}
        assert all(k.startswith("module.") for k in payload["model"])
    elif name.endswith("_views"):
        payload = views_state_dict(sd)
    else:
        payload = sd

    path = os.path.join(OUT, name + ".pth")
    torch.save(payload, path)
    np.save(os.path.join(OUT, name + ".input.npy"), inputs.numpy().astype(np.float32))
    np.save(os.path.join(OUT, name + ".logits.npy"), logits.numpy().astype(np.float32))
    np.save(os.path.join(OUT, name + ".logits64.npy"), logits64.numpy().astype(np.float64))
    with open(os.path.join(OUT, name + ".tensors.json"), "w") as f:
        json.dump(tensor_summary(sd), f, indent=1)
        f.write("\n")

    return {
        "name": name,
        "file": name + ".pth",
        "depth": depth,
        "widen_factor": widen,
        "num_classes": classes,
        "conv_bias": conv_bias,
        "container": container,
        "input": name + ".input.npy",
        "logits": name + ".logits.npy",
        "logits64": name + ".logits64.npy",
        "tensors": name + ".tensors.json",
        "notes": NOTES[name],
    }


def verify(entry):
    """Reload with the restricted unpickler, rebuild the model, and reproduce the logits."""
    loaded = torch.load(os.path.join(OUT, entry["file"]), weights_only=True)
    sd = canonical_state_dict(loaded, entry["container"])
    model = WideResNet(entry["depth"], entry["num_classes"], widen_factor=entry["widen_factor"],
                       conv_bias=entry["conv_bias"])
    model.load_state_dict(sd, strict=True)
    model.eval()
    inputs = torch.from_numpy(np.load(os.path.join(OUT, entry["input"])))
    expected = torch.from_numpy(np.load(os.path.join(OUT, entry["logits"])))
    expected64 = torch.from_numpy(np.load(os.path.join(OUT, entry["logits64"])))
    with torch.no_grad():
        got = model(inputs)
    max_diff = (got - expected).abs().max().item()
    diff64 = (expected.double() - expected64).abs().max().item()
    assert max_diff <= 1e-6, f"{entry['name']}: reloaded logits differ by {max_diff}"
    with open(os.path.join(OUT, entry["tensors"])) as f:
        summary = json.load(f)
    assert list(summary.keys()) == list(sd.keys()), f"{entry['name']}: key order differs"
    if entry["name"].endswith("_views"):
        assert sd["block1.layer.0.conv2.weight"].storage_offset() == 2309
        assert sd["block1.layer.0.conv1.weight"].untyped_storage().data_ptr() == \
            sd["block1.layer.0.conv2.weight"].untyped_storage().data_ptr()
        assert sd["fc.weight"].stride() == (1, 10)
    size = os.path.getsize(os.path.join(OUT, entry["file"]))
    print(f"{entry['name']:22s} {size:8d} bytes  keys={len(sd):3d}  "
          f"reload max|diff|={max_diff:.2e}  float32 vs float64 max|diff|={diff64:.2e}  "
          f"argmax={expected.argmax(1).tolist()}")


def main():
    torch.set_num_threads(1)  # deterministic reduction order
    os.makedirs(OUT, exist_ok=True)
    manifest = [make_variant(*v) for v in VARIANTS]
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    for entry in manifest:
        verify(entry)


if __name__ == "__main__":
    main()
