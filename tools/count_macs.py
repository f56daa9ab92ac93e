"""Counts a WRN's multiply-accumulates per image that touch real input (padding taps left out),
independently of Wren: each Conv2d's valid taps per output position come from PyTorch convolving an
all-ones image with an all-ones kernel under the layer's own stride and padding (zeros pad, so each
output counts exactly the taps inside the input), times in_channels x out_channels; plus the
classifier's in x out. Prints the counts InputSizeCLITests and `wren bench` are checked against.

Run from the repository root: python3 tools/count_macs.py
Tested with Python 3.11.7, torch 2.15.0 (tools/requirements.txt), CPU only.
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wrn_torch import WideResNet  # noqa: E402


def useful_macs(model, height, width):
    total = 0
    hooks = []

    def count(module, inputs, output):
        nonlocal total
        x = inputs[0]
        ones = torch.ones(1, 1, x.shape[2], x.shape[3])
        kernel = torch.ones(1, 1, *module.kernel_size)
        taps = F.conv2d(ones, kernel, stride=module.stride, padding=module.padding).sum().item()
        total += int(taps) * module.in_channels * module.out_channels

    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_hook(count))
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, height, width))
    for hook in hooks:
        hook.remove()
    return total + model.fc.in_features * model.fc.out_features


def main():
    for depth, widen, classes, height, width in [(10, 2, 3, 32, 32), (10, 2, 3, 128, 128), (28, 10, 10, 32, 32)]:
        model = WideResNet(depth=depth, num_classes=classes, widen_factor=widen)
        print(f"WRN-{depth}-{widen} ({classes} classes) at {height}x{width}: {useful_macs(model, height, width)} useful MACs per image")


if __name__ == "__main__":
    main()
