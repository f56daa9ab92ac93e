#!/usr/bin/env python3
"""Writes the benchmark checkpoints behind the README's performance table: WRN-16-4 (a bare
state_dict) and WRN-28-10 ({"epoch", "state_dict"} with "module." prefixes, as DataParallel saves
it), random weights with non-trivial batch-norm statistics, plus 64 random calibration inputs.
Speed does not depend on what the weights learned; accuracy claims are made on trained models
(fixtures/digits), never on these.

    python3 tools/make_bench_checkpoints.py OUT_DIR
    python3 tools/bench_peers.py OUT_DIR/wrn16_4.pth --calibration OUT_DIR/calib.npy \\
        --threads 2 --batch 1 32 --wren .build/release/wren

Needs torch and numpy (tools/requirements.txt); checked with torch 2.15.0, numpy 2.4.6.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wrn_torch import WideResNet, randomize_for_testing  # noqa: E402


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, depth, widen, seed, container in [("wrn16_4", 16, 4, 1, "bare"), ("wrn28_10", 28, 10, 2, "state_dict_module")]:
        torch.manual_seed(seed)
        model = WideResNet(depth, 10, widen_factor=widen)
        randomize_for_testing(model)
        model.eval()
        state = model.state_dict()
        payload = state if container == "bare" else {"epoch": 1, "state_dict": {"module." + k: v for k, v in state.items()}}
        torch.save(payload, os.path.join(out, f"{name}.pth"))
        print(f"wrote {os.path.join(out, name + '.pth')} (WRN-{depth}-{widen})")
    np.save(os.path.join(out, "calib.npy"), torch.randn(64, 3, 32, 32).numpy().astype(np.float32))
    print(f"wrote {os.path.join(out, 'calib.npy')} [64, 3, 32, 32]")


if __name__ == "__main__":
    main()
