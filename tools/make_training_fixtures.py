"""Writes the training-parity fixtures in fixtures/training/parity/: PyTorch runs of whole WRNs,
forward + backward and a few optimizer steps, in float64 (the truth) and float32 (PyTorch's own
distance from it), from one initial checkpoint on fixed batches.

Run from the repository root:   python3 tools/make_training_fixtures.py       (about 10 s)
Made with: Python 3.11.7, torch 2.15.0 (CPU), safetensors 0.8.0, numpy 2.4.6 (tools/requirements.txt).
One thread (torch.set_num_threads(1)), so the float32 run is reproducible.

For each model (tools/wrn_torch.py, train mode, dropout 0, batches taken in order):
  <model>/init.safetensors       the initial state_dict (F32, I64 num_batches_tracked): conv weights as
                                 the WRN initializes them, BN and biases randomized (randomize_for_testing)
                                 so a wrong BN or bias mapping shows
  <model>/batches.safetensors    x F32 [steps, batch, 3, 32, 32] (normalized-looking, mean ≈ -0.2), y [steps, batch] class
                                 indices stored as F32 (exact), so the float reader takes them
  <model>/<run>.safetensors      the float64 run rounded to F32, one per optimizer run:
                                   step0/logits, step0/loss          forward of batch 0 from init
                                   step0/grad/<param>                 gradients of that loss
                                   step<s>/<key>                      every state_dict entry after step s (1...steps)
                                   step<s>/loss                       loss of batch s-1 (before its update)
  manifest.json                  per model and run: hyperparameters, and for every stored tensor its
                                 float64 L2 norm and the L2 distance of PyTorch float32 from float64,
                                 the yardstick the Swift tests measure their own distance against
Runs: sgd_nesterov (lr 0.1, momentum 0.9, Nesterov, weight decay 5e-4: the WRN paper's recipe) and
adam (lr 0.001, betas (0.9, 0.999), eps 1e-8, weight decay 5e-4 coupled as torch.optim.Adam), and
adamw (lr 0.001, weight decay 0.01, decoupled), each 3 steps with cross-entropy, label smoothing 0.1
for adamw only.
"""

import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wrn_torch import WideResNet, randomize_for_testing  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "fixtures", "training", "parity")

MODELS = [
    # name, depth, widen, classes, conv bias, seed
    ("wrn10_2_bias", 10, 2, 5, True, 101),
    ("wrn16_1", 16, 1, 10, False, 102),
]
RUNS = {
    "sgd_nesterov": dict(optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4, label_smoothing=0.0),
    "adam": dict(optimizer="adam", lr=0.001, betas=[0.9, 0.999], eps=1e-8, weight_decay=5e-4, label_smoothing=0.0),
    "adamw": dict(optimizer="adamw", lr=0.001, betas=[0.9, 0.999], eps=1e-8, weight_decay=0.01, label_smoothing=0.1),
}
STEPS, BATCH = 3, 8


def make_optimizer(params, run):
    if run["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=run["lr"], momentum=run["momentum"], nesterov=run["nesterov"],
                               weight_decay=run["weight_decay"])
    cls = torch.optim.Adam if run["optimizer"] == "adam" else torch.optim.AdamW
    return cls(params, lr=run["lr"], betas=tuple(run["betas"]), eps=run["eps"], weight_decay=run["weight_decay"],
               foreach=False)


def train(depth, widen, classes, conv_bias, init, batches, run, dtype):
    """The run in `dtype`; returns {name: float64 numpy array} of everything the fixture stores."""
    model = WideResNet(depth, classes, widen_factor=widen, conv_bias=conv_bias)
    model.load_state_dict(init)
    model = model.to(dtype).train()
    optimizer = make_optimizer(model.parameters(), run)
    x_all, y_all = batches
    record = {}
    for step in range(STEPS):
        x = x_all[step].to(dtype)
        logits = model(x)
        loss = F.cross_entropy(logits, y_all[step], label_smoothing=run["label_smoothing"])
        optimizer.zero_grad()
        loss.backward()
        if step == 0:
            record["step0/logits"] = logits.detach()
            record["step0/loss"] = loss.detach().reshape([])
            for name, p in model.named_parameters():
                record[f"step0/grad/{name}"] = p.grad.detach().clone()
        record[f"step{step + 1}/loss"] = loss.detach().reshape([])
        optimizer.step()
        for key, value in model.state_dict().items():
            record[f"step{step + 1}/{key}"] = value.detach().clone()
    return {k: v.to(torch.float64).numpy() if v.is_floating_point() else v.numpy() for k, v in record.items()}


def main():
    torch.set_num_threads(1)
    manifest = {"steps": STEPS, "batch": BATCH, "runs": RUNS, "models": {}}
    for name, depth, widen, classes, conv_bias, seed in MODELS:
        folder = os.path.join(OUT, name)
        os.makedirs(folder, exist_ok=True)
        torch.manual_seed(seed)
        model = WideResNet(depth, classes, widen_factor=widen, conv_bias=conv_bias)
        randomize_for_testing(model, batches_tracked=0)
        init = {k: v.clone().contiguous() for k, v in model.state_dict().items()}
        save_file(init, os.path.join(folder, "init.safetensors"), metadata={"format": "pt"})

        x = (torch.rand(STEPS, BATCH, 3, 32, 32) * 2 - 1.4).to(torch.float32)
        y = torch.randint(0, classes, (STEPS, BATCH), dtype=torch.int64)
        save_file({"x": x.contiguous(), "y": y.to(torch.float32).contiguous()}, os.path.join(folder, "batches.safetensors"))

        entry = {"depth": depth, "widen": widen, "classes": classes, "conv_bias": conv_bias, "runs": {}}
        for run_name, run in RUNS.items():
            truth = train(depth, widen, classes, conv_bias, init, (x, y), run, torch.float64)
            single = train(depth, widen, classes, conv_bias, init, (x, y), run, torch.float32)
            stored, stats = {}, {}
            for key, value in truth.items():
                if value.dtype == np.float64:
                    stored[key] = torch.from_numpy(value.astype(np.float32))
                    stats[key] = {"norm64": float(np.linalg.norm(value)),
                                  "torch32_distance": float(np.linalg.norm(single[key] - value))}
                else:
                    stored[key] = torch.from_numpy(value.copy())
            save_file(stored, os.path.join(folder, run_name + ".safetensors"))
            entry["runs"][run_name] = stats
            losses = [float(truth[f"step{s + 1}/loss"]) for s in range(STEPS)]
            print(f"{name} {run_name}: losses {losses}")
        manifest["models"][name] = entry
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
