"""Writes fixtures/network/state_dict_keys.json: the state_dict PyTorch itself lists for
tools/wrn_torch.py's WideResNet, in its order, for the WRNs WrenNetworkTests compares
`WRNArchitecture.stateDictEntries` against. Each entry is [key, shape, dtype, "parameter" or
"buffer"] (in `named_parameters()`, so an optimizer updates it, or not).

Run from the repository root:   python3 tools/make_state_dict_keys.py       (a few seconds, mostly importing torch)
Made with: Python 3, torch 2.15.0 (tools/requirements.txt).

The models are built on the meta device: shapes and dtypes without allocating WRN-28-10's 36M weights.
Output is byte-identical across runs.
"""

import json
import os

import torch

from wrn_torch import WideResNet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "fixtures", "network", "state_dict_keys.json")

# name, depth, widen_factor, num_classes, conv_bias
VARIANTS = [
    ("wrn10_1_c10", 10, 1, 10, False),     # k = 1: block1.layer.0 is 16 -> 16, no convShortcut
    ("wrn10_2_c3_bias", 10, 2, 3, True),   # a bias on every conv (the PaddlePaddle port)
    ("wrn16_1_c100_bias", 16, 1, 100, True),
    ("wrn16_2_c10", 16, 2, 10, False),
    ("wrn22_1_c10", 22, 1, 10, False),
    ("wrn28_10_c100", 28, 10, 100, False),
]


def entries(depth, widen, classes, conv_bias):
    with torch.device("meta"):
        model = WideResNet(depth, classes, widen_factor=widen, conv_bias=conv_bias)
    parameters = {key for key, _ in model.named_parameters()}
    return [[key, list(t.shape), str(t.dtype).replace("torch.", ""), "parameter" if key in parameters else "buffer"]
            for key, t in model.state_dict().items()]


def main():
    variants = []
    for name, depth, widen, classes, conv_bias in VARIANTS:
        variants.append({
            "name": name, "depth": depth, "widen_factor": widen, "num_classes": classes,
            "conv_bias": conv_bias, "entries": entries(depth, widen, classes, conv_bias),
        })
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    # One entry per line, so that a diff of this file reads like a diff of the key list.
    with open(OUT, "w") as f:
        f.write('{\n "torch": %s,\n "variants": [\n' % json.dumps(torch.__version__.split("+")[0]))
        for v, variant in enumerate(variants):
            head = {k: variant[k] for k in ("name", "depth", "widen_factor", "num_classes", "conv_bias")}
            f.write("  " + json.dumps(head)[:-1] + ', "entries": [\n')
            lines = ["   " + json.dumps(entry) for entry in variant["entries"]]
            f.write(",\n".join(lines) + "\n  ]}" + ("," if v + 1 < len(variants) else "") + "\n")
        f.write(" ]\n}\n")
    with open(OUT) as f:
        assert json.load(f)["variants"] == variants
    print(f"wrote {OUT}: " + ", ".join(f"{v['name']} {len(v['entries'])} keys" for v in variants))


if __name__ == "__main__":
    main()
