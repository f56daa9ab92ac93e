"""Fixtures for inputs other than 32x32: the WRN-10-2 (3 classes, conv biases) of
fixtures/models/wrn10_2_c3_bias.pth run by PyTorch at 64x64 and at 96x72 (height x width).

WRNs are fully convolutional up to the global average pool, so the same weights take any input
whose size the stages (strides 1, 2, 2) divide evenly. Writes, for SIZE in 64x64 and 96x72,
fixtures/input-size/wrn10_2_c3_bias.SIZE.input.npy  float32 [8, 3, H, W], seeded normal values
fixtures/input-size/wrn10_2_c3_bias.SIZE.logits.npy float32 [8, 3], PyTorch eval-mode logits
fixtures/input-size/wrn10_2_c3_bias.SIZE.logits64.npy float64 [8, 3], the same network in float64

Run from the repository root: python3 tools/make_input_size_fixtures.py
Tested with Python 3.11.7, torch 2.15.0, numpy 2.4.6 (tools/requirements.txt), CPU only.
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wrn_torch import WideResNet  # noqa: E402

CHECKPOINT = "fixtures/models/wrn10_2_c3_bias.pth"
OUT = "fixtures/input-size"
SIZES = [(64, 64), (96, 72)]
COUNT = 8


def main():
    torch.manual_seed(0)
    state = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    model = WideResNet(depth=10, num_classes=3, widen_factor=2, conv_bias=True)
    model.load_state_dict(state)
    model.eval()
    os.makedirs(OUT, exist_ok=True)
    generator = np.random.default_rng(64)
    for height, width in SIZES:
        x = generator.standard_normal((COUNT, 3, height, width)).astype(np.float32)
        with torch.no_grad():
            logits = model(torch.from_numpy(x)).numpy().astype(np.float32)
            logits64 = model.double()(torch.from_numpy(x).double()).numpy()
            model.float()
        name = f"{OUT}/wrn10_2_c3_bias.{height}x{width}"
        np.save(f"{name}.input.npy", x)
        np.save(f"{name}.logits.npy", logits)
        np.save(f"{name}.logits64.npy", logits64)
        print(f"{name}: input {x.shape}, logits {logits[0]}")


if __name__ == "__main__":
    main()
