"""Writes the safetensors checkpoint fixtures in fixtures/safetensors/ with the `safetensors` package.

Run from the repository root:   python3 tools/make_safetensors_fixtures.py       (about 5 s)
Made with: Python 3.11, safetensors 0.8.0, torch 2.15.0, paddlepaddle 3.3.1 (CPU), numpy 2.4.6
           (python3 -m pip install safetensors==0.8.0 paddlepaddle==3.3.1; see tools/requirements.txt).

Variants (each with <name>.input.npy float32 [4,3,32,32] and <name>.logits.npy, the framework's own
eval-mode logits):
  wrn16_2_c10          safetensors.torch.save_file(model.state_dict()) of tools/wrn_torch.py's WRN-16-2:
                       F32 weights plus I64 num_batches_tracked, __metadata__ {"format": "pt"}
  wrn10_1_c10_bf16     the same kind of model cast to bfloat16 before saving (BF16 tensors); logits from
                       the float32 model holding exactly the bfloat16-rounded values
  wrn10_1_c4_paddle    safetensors.paddle.save_file(model.state_dict()) of the Paddle port
                       (tools/make_paddle_fixtures.py): conv biases, `_mean`/`_variance`, fc.weight [in, out]
and manifest.json. BN statistics and biases are randomized so mapping mistakes change the logits.

`--shapes DIR` instead writes WRN-16-4, WRN-28-10 and WRN-40-4 (torch, F32) with inputs and logits to
DIR (not committed: up to 146 MB), for checking float parity by hand with `wren run`.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file as save_torch
from safetensors.torch import load_file as load_torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wrn_torch import WideResNet, randomize_for_testing  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "fixtures", "safetensors")


def torch_variant(out, name, depth, widen, classes, seed, bfloat16=False):
    torch.manual_seed(seed)
    model = WideResNet(depth, classes, widen_factor=widen)
    randomize_for_testing(model, batches_tracked=1000)
    if bfloat16:
        with torch.no_grad():
            for p in list(model.parameters()) + [b for b in model.buffers() if b.is_floating_point()]:
                p.copy_(p.to(torch.bfloat16).to(torch.float32))  # the float32 model holds bf16 values
    model.eval()
    inputs = torch.rand(4, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        logits = model(inputs)
    state = model.state_dict()
    if bfloat16:
        state = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in state.items()}
    path = os.path.join(out, name + ".safetensors")
    save_torch({k: v.contiguous() for k, v in state.items()}, path, metadata={"format": "pt"})

    # Reload with the package and reproduce the logits.
    loaded = load_torch(path)
    fresh = WideResNet(depth, classes, widen_factor=widen)
    fresh.load_state_dict({k: v.to(torch.float32) if v.is_floating_point() else v for k, v in loaded.items()})
    fresh.eval()
    with torch.no_grad():
        again = fresh(inputs)
    assert torch.equal(again, logits), f"{name}: reload changed the logits"
    return finish(out, name, depth, widen, classes, False, inputs.numpy(), logits.numpy(),
                  "torch bfloat16" if bfloat16 else "torch float32")


def paddle_variant(out, name, depth, widen, classes, seed):
    import paddle
    from safetensors.paddle import save_file as save_paddle
    from safetensors.paddle import load_file as load_paddle
    from make_paddle_fixtures import WideResNet as PaddleWideResNet, randomize_for_testing as randomize_paddle

    paddle.set_device("cpu")
    paddle.seed(seed)
    rng = np.random.default_rng(seed)
    model = PaddleWideResNet(depth=depth, num_classes=classes, widen_factor=widen)
    randomize_paddle(model, rng)
    model.eval()
    inputs = rng.uniform(-1.0, 1.0, (4, 3, 32, 32)).astype(np.float32)
    with paddle.no_grad():
        logits = model(paddle.to_tensor(inputs)).numpy()
    path = os.path.join(out, name + ".safetensors")
    save_paddle(dict(model.state_dict()), path, metadata={"format": "paddle"})

    fresh = PaddleWideResNet(depth=depth, num_classes=classes, widen_factor=widen)
    missing, unexpected = fresh.set_state_dict(load_paddle(path))
    assert not missing and not unexpected, (missing, unexpected)
    fresh.eval()
    with paddle.no_grad():
        again = fresh(paddle.to_tensor(inputs)).numpy()
    assert np.array_equal(again, logits), f"{name}: reload changed the logits"
    return finish(out, name, depth, widen, classes, True, inputs, logits, "paddle float32")


def finish(out, name, depth, widen, classes, conv_bias, inputs, logits, saved_as):
    np.save(os.path.join(out, name + ".input.npy"), inputs.astype(np.float32))
    np.save(os.path.join(out, name + ".logits.npy"), logits.astype(np.float32))
    size = os.path.getsize(os.path.join(out, name + ".safetensors"))
    print(f"{name:20s} {size:9d} bytes  max|logit| {np.abs(logits).max():.3f}  argmax {logits.argmax(1).tolist()}")
    return {"name": name, "file": name + ".safetensors", "depth": depth, "widen_factor": widen,
            "num_classes": classes, "conv_bias": conv_bias, "saved_as": saved_as,
            "input": name + ".input.npy", "logits": name + ".logits.npy"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shapes", help="write WRN-16-4 / 28-10 / 40-4 checkpoints to this folder instead")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.shapes:
        os.makedirs(args.shapes, exist_ok=True)
        for name, depth, widen, classes, seed in [("wrn16_4_c10", 16, 4, 10, 401), ("wrn28_10_c100", 28, 10, 100, 402),
                                                  ("wrn40_4_c10", 40, 4, 10, 403)]:
            torch_variant(args.shapes, name, depth, widen, classes, seed)
        return
    os.makedirs(OUT, exist_ok=True)
    manifest = [
        torch_variant(OUT, "wrn16_2_c10", 16, 2, 10, 301),
        torch_variant(OUT, "wrn10_1_c10_bf16", 10, 1, 10, 302, bfloat16=True),
        paddle_variant(OUT, "wrn10_1_c4_paddle", 10, 1, 4, 303),
    ]
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    import safetensors
    print(f"safetensors {safetensors.__version__}, torch {torch.__version__}, numpy {np.__version__}")


if __name__ == "__main__":
    main()
