"""Training throughput and peak memory: Wren (`wren train`) against PyTorch on the same WRN, the same
initial weights and the same data, interleaved in one run.

Run from the repository root (after `swift build -c release`):
    python3 tools/bench_train.py --wren .build/release/wren                 # the three models of the issue
    python3 tools/bench_train.py --wren .build/release/wren --models 16-4 --rounds 3 --steps 12
Made with: Python 3.11.7, torch 2.15.0 (CPU), safetensors 0.8.0, numpy 2.4.6 (tools/requirements.txt).

Each engine runs in its own process (so peak RSS is its own: ru_maxrss of the child), `--threads`
threads (torch.set_num_threads; wren --threads), batch 64, SGD with Nesterov momentum 0.9, lr 0.1,
weight decay 5e-4, on `--steps` batches of random normalized 32x32 images, batches in file order.
The first step is warm-up and not timed in either engine: PyTorch times steps 2..S itself; Wren
reports the images/s of its epoch without its first step (`wren train` prints "steady N images/s").
Rounds alternate the engines so drifts of this shared machine's clock hit both; the table gives the
median over rounds and the ratio Wren / PyTorch (> 1: Wren trains faster).

This parent process never imports torch (a worker writes the initial weights): Linux counts a
child's memory before its exec in its ru_maxrss, so a parent holding torch (~550 MiB) would lift
both engines' peaks to at least its own.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

TOOLS = os.path.dirname(os.path.abspath(__file__))
MODELS = {"16-4": (16, 4), "28-1": (28, 1), "10-8": (10, 8)}
CLASSES = 10
BATCH = 64


def torch_worker(args):
    import torch
    import torch.nn.functional as F
    from safetensors.torch import load_file
    sys.path.insert(0, TOOLS)
    from wrn_torch import WideResNet

    torch.set_num_threads(args.threads)
    depth, widen = MODELS[args.model]
    model = WideResNet(depth, CLASSES, widen_factor=widen)
    model.load_state_dict(load_file(args.init))
    model.train()
    x = torch.from_numpy(np.load(args.data))
    y = torch.from_numpy(np.load(args.labels))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    start = None
    for step in range(len(x) // BATCH):
        if step == 1:
            start = time.perf_counter()
        xb, yb = x[step * BATCH:(step + 1) * BATCH], y[step * BATCH:(step + 1) * BATCH]
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    elapsed = time.perf_counter() - start
    print(f"steady {(len(x) // BATCH - 1) * BATCH / elapsed:.2f} images/s")
    print(f"torch {torch.__version__}")


def init_worker(args):
    """Writes the initial weights of WRN-`args.model` (torch.manual_seed(0)) to `args.init`."""
    import torch
    from safetensors.torch import save_file
    sys.path.insert(0, TOOLS)
    from wrn_torch import WideResNet

    depth, widen = MODELS[args.model]
    torch.manual_seed(0)
    save_file({k: v.contiguous() for k, v in WideResNet(depth, CLASSES, widen_factor=widen).state_dict().items()}, args.init)
    print(f"torch {torch.__version__}")


def run_child(command):
    """Runs a command; returns (stdout, peak RSS in MiB of the child)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    out, err = process.stdout.read(), process.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command)} failed:\n{out}\n{err}")
    return out, usage.ru_maxrss / 1024


def steady_rate(output, engine):
    match = re.findall(r"steady ([0-9.]+) images/s", output)
    if not match:
        sys.exit(f"{engine} printed no 'steady N images/s' line:\n{output}")
    return float(match[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wren", default=".build/release/wren")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10, help="batches of 64 per run, the first untimed")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", choices=["torch", "init"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--init", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--labels", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return torch_worker(args) if args.worker == "torch" else init_worker(args)

    rows = []
    torch_version = "?"

    with tempfile.TemporaryDirectory() as folder:
        rng = np.random.default_rng(0)
        data, labels = os.path.join(folder, "x.npy"), os.path.join(folder, "y.npy")
        np.save(data, rng.normal(-0.2, 0.6, (args.steps * BATCH, 3, 32, 32)).astype(np.float32))
        np.save(labels, rng.integers(0, CLASSES, args.steps * BATCH).astype(np.int64))
        for name in args.models:
            depth, widen = MODELS[name]
            init = os.path.join(folder, f"wrn{depth}_{widen}.safetensors")
            run_child([sys.executable, os.path.abspath(__file__), "--worker", "init", "--model", name, "--init", init])
            rates = {"PyTorch": [], "Wren": []}
            memory = {"PyTorch": 0.0, "Wren": 0.0}
            commands = {
                "PyTorch": [sys.executable, os.path.abspath(__file__), "--worker", "torch", "--model", name,
                            "--init", init, "--data", data, "--labels", labels, "--threads", str(args.threads)],
                "Wren": [args.wren, "train", "--init", init, "--data", data, "--labels", labels, "--epochs", "1",
                         "--batch", str(BATCH), "--optimizer", "sgd", "--lr", "0.1", "--momentum", "0.9",
                         "--nesterov", "--weight-decay", "5e-4", "--no-shuffle", "--threads", str(args.threads),
                         "-o", os.path.join(folder, "out.safetensors")],
            }
            for round_index in range(args.rounds):
                order = ["PyTorch", "Wren"] if round_index % 2 == 0 else ["Wren", "PyTorch"]
                for engine in order:
                    output, rss = run_child(commands[engine])
                    torch_version = re.findall(r"torch (\S+)", output)[-1] if engine == "PyTorch" else torch_version
                    rates[engine].append(steady_rate(output, engine))
                    memory[engine] = max(memory[engine], rss)
                print(f"WRN-{name} round {round_index + 1}: " +
                      ", ".join(f"{e} {rates[e][-1]:.1f} img/s" for e in rates), flush=True)
            torch_rate, wren_rate = statistics.median(rates["PyTorch"]), statistics.median(rates["Wren"])
            rows.append((name, torch_rate, wren_rate, memory["PyTorch"], memory["Wren"]))

    print(f"\nbatch {BATCH}, {args.threads} threads, SGD-Nesterov, median of {args.rounds} rounds of {args.steps} steps "
          f"(torch {torch_version})")
    print("| model | PyTorch img/s | Wren img/s | Wren / PyTorch | PyTorch peak RSS | Wren peak RSS | Wren / PyTorch RSS |")
    print("|---|---|---|---|---|---|---|")
    for name, torch_rate, wren_rate, torch_rss, wren_rss in rows:
        print(f"| WRN-{name} | {torch_rate:.1f} | {wren_rate:.1f} | {wren_rate / torch_rate:.2f} | "
              f"{torch_rss:.0f} MiB | {wren_rss:.0f} MiB | {wren_rss / torch_rss:.2f} |")


if __name__ == "__main__":
    main()
