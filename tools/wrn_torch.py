"""PyTorch Wide Residual Network, laid out like the widely used xternalz/WideResNet-pytorch.

Imported by the fixture scripts in tools/; not run on its own.
Tested with: Python 3, torch 2.15.0 (see tools/requirements.txt).

Module names (and therefore state_dict keys) match the common checkpoints exactly:
conv1, block{1,2,3}.layer.{i}.{bn1,conv1,bn2,conv2,convShortcut}, bn1, fc.
`conv_bias=True` puts a bias on every convolution, as the PaddlePaddle port does.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, in_planes, out_planes, stride, dropRate=0.0, conv_bias=False):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride,
                               padding=1, bias=conv_bias)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_planes, out_planes, kernel_size=3, stride=1,
                               padding=1, bias=conv_bias)
        self.droprate = dropRate
        self.equalInOut = in_planes == out_planes
        # Only blocks that change the channel count carry a projection shortcut.
        self.convShortcut = None if self.equalInOut else nn.Conv2d(
            in_planes, out_planes, kernel_size=1, stride=stride, padding=0, bias=conv_bias)

    def forward(self, x):
        if not self.equalInOut:
            # The projection shortcut sees the *activated* input.
            x = self.relu1(self.bn1(x))
            out = self.conv1(x)
        else:
            # The identity shortcut is the raw residual stream.
            out = self.conv1(self.relu1(self.bn1(x)))
        out = self.relu2(self.bn2(out))
        if self.droprate > 0:
            out = F.dropout(out, p=self.droprate, training=self.training)
        out = self.conv2(out)
        return torch.add(x if self.equalInOut else self.convShortcut(x), out)


class NetworkBlock(nn.Module):
    def __init__(self, nb_layers, in_planes, out_planes, stride, dropRate=0.0, conv_bias=False):
        super().__init__()
        layers = []
        for i in range(int(nb_layers)):
            layers.append(BasicBlock(in_planes if i == 0 else out_planes, out_planes,
                                     stride if i == 0 else 1, dropRate, conv_bias))
        self.layer = nn.Sequential(*layers)

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    def __init__(self, depth, num_classes, widen_factor=1, dropRate=0.0, conv_bias=False):
        super().__init__()
        channels = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        assert (depth - 4) % 6 == 0, "WRN depth must be 6n+4"
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(3, channels[0], kernel_size=3, stride=1, padding=1, bias=conv_bias)
        self.block1 = NetworkBlock(n, channels[0], channels[1], 1, dropRate, conv_bias)
        self.block2 = NetworkBlock(n, channels[1], channels[2], 2, dropRate, conv_bias)
        self.block3 = NetworkBlock(n, channels[2], channels[3], 2, dropRate, conv_bias)
        self.bn1 = nn.BatchNorm2d(channels[3])  # eps 1e-5, the PyTorch default
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(channels[3], num_classes)
        self.nChannels = channels[3]

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    m.bias.data.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()
            elif isinstance(m, nn.Linear):
                m.bias.data.zero_()

    def forward(self, x):
        out = self.conv1(x)
        out = self.block1(out)
        out = self.block2(out)
        out = self.block3(out)
        out = self.relu(self.bn1(out))
        out = F.adaptive_avg_pool2d(out, 1)  # == avg_pool2d(out, 8) for 32x32 inputs
        out = out.view(-1, self.nChannels)
        return self.fc(out)


def randomize_for_testing(model, batches_tracked=None):
    """Give every BN (and conv and fc bias) non-trivial values so folding or mapping mistakes show in
    the logits. Draws come from torch's global generator in module order, so a seed fixes the result.
    `batches_tracked` also sets every BN's num_batches_tracked (a real training run's counter)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                if batches_tracked is not None:
                    m.num_batches_tracked.fill_(batches_tracked)
            elif isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.normal_(0.0, 0.1)
            elif isinstance(m, nn.Linear):
                m.bias.normal_(0.0, 0.1)
