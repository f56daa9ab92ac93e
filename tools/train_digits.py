"""Trains a WRN-16-2 on scikit-learn's bundled handwritten digits and writes fixtures/digits/.

Run from the repository root:   python3 tools/train_digits.py
Made with: Python 3, torch 2.15.0, numpy 2.4.6, scikit-learn 1.9.1, pillow 13.0.0
(tools/requirements.txt). CPU only, no network: load_digits ships with scikit-learn.

Why: random-weight WRNs predict one class for nearly every input, so int8-vs-float
agreement can only be judged on a trained model. This one is small (WRN-16-2, ~0.7M
parameters) and trains to >=97% test accuracy in a few CPU minutes.

Preprocessing (the Swift side must match it): 8x8 values / 16 -> bilinear upscale to 32x32
(torch F.interpolate, align_corners=False) -> replicate to 3 channels -> (x - 0.5) / 0.5.
Ink is bright (16 -> 1.0), background dark (0 -> 0.0).

Outputs in fixtures/digits/:
  wrn16_2_digits.pth   bare state_dict (torch.save zip format)
  test_x.npy           float32 [360,3,32,32], normalized       test_y.npy  int64 [360]
  calib_x.npy          float32 [200,3,32,32], first 200 training images, normalized, no augmentation
  test_logits.npy      float32 [360,10], eval-mode PyTorch logits on test_x
  metrics.json         accuracy, epochs, seconds, versions, per-epoch history
  labels.txt           class names 0..9, one per line
  images/test<i>_label<d>.jpg   12 test images as 8-bit RGB JPEG (quality 95), 48x40 (w x h),
                       bilinear-upscaled from 8x8, un-normalized (pixel = value/16*255)
"""

import json
import os
import platform
import time

import numpy as np
import PIL
import sklearn
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from wrn_torch import WideResNet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "fixtures", "digits")

EPOCHS = 12
BATCH = 64
MAX_SHIFT = 2
IMAGE_SIZE = (40, 48)  # (height, width) of the JPEGs: non-square so letterboxing is exercised


def upscale(images8x8, size):
    """[N,8,8] values in [0,1] -> [N,1,H,W], bilinear, align_corners=False."""
    x = torch.from_numpy(images8x8.astype(np.float32)).unsqueeze(1)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def to_network_input(images8x8):
    x = upscale(images8x8, (32, 32)).repeat(1, 3, 1, 1)
    return (x - 0.5) / 0.5


def random_shift(x, generator):
    """Shift each image by up to MAX_SHIFT pixels; the uncovered border is background (-1)."""
    n = x.shape[0]
    padded = F.pad(x, (MAX_SHIFT,) * 4, value=-1.0)
    offsets = torch.randint(0, 2 * MAX_SHIFT + 1, (n, 2), generator=generator)
    out = torch.empty_like(x)
    for i in range(n):
        dy, dx = offsets[i].tolist()
        out[i] = padded[i, :, dy:dy + 32, dx:dx + 32]
    return out


def evaluate(model, x, batch=120):
    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


def save_jpegs(test_images8x8, test_y, indices):
    os.makedirs(os.path.join(OUT, "images"), exist_ok=True)
    big = upscale(test_images8x8[indices], IMAGE_SIZE)  # [12,1,40,48] in [0,1]
    pixels = (big.clamp(0, 1) * 255).round().to(torch.uint8).squeeze(1).numpy()
    names = []
    for k, idx in enumerate(indices):
        rgb = np.repeat(pixels[k][:, :, None], 3, axis=2)
        name = f"test{idx}_label{int(test_y[idx])}.jpg"
        Image.fromarray(rgb, mode="RGB").save(os.path.join(OUT, "images", name), quality=95)
        names.append(name)
    return names


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)

    digits = load_digits()
    images = digits.images / 16.0
    train_img, test_img, train_y, test_y = train_test_split(
        images, digits.target, test_size=0.2, random_state=0, stratify=digits.target)
    assert len(train_img) == 1437 and len(test_img) == 360
    train_x = to_network_input(train_img)
    test_x = to_network_input(test_img)
    train_t = torch.from_numpy(train_y.astype(np.int64))
    test_t = torch.from_numpy(test_y.astype(np.int64))

    model = WideResNet(16, 10, widen_factor=2)
    steps_per_epoch = (len(train_x) + BATCH - 1) // BATCH
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, epochs=EPOCHS,
                                                   steps_per_epoch=steps_per_epoch)
    generator = torch.Generator().manual_seed(0)

    history = []
    start = time.process_time()
    wall_start = time.time()
    for epoch in range(1, EPOCHS + 1):
        model.train()
        order = torch.randperm(len(train_x), generator=generator)
        total_loss, correct = 0.0, 0
        for s in range(steps_per_epoch):
            idx = order[s * BATCH:(s + 1) * BATCH]
            xb = random_shift(train_x[idx], generator)
            yb = train_t[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
        test_acc = (evaluate(model, test_x).argmax(1) == test_t).float().mean().item()
        row = {"epoch": epoch, "train_loss": total_loss / len(train_x),
               "train_acc_augmented": correct / len(train_x), "test_acc": test_acc,
               "cpu_seconds": time.process_time() - start}
        history.append(row)
        print(f"epoch {epoch:2d}  loss {row['train_loss']:.4f}  train(aug) {row['train_acc_augmented']:.4f}  "
              f"test {test_acc:.4f}  cpu {row['cpu_seconds']:.0f}s", flush=True)
    cpu_seconds = time.process_time() - start
    wall_seconds = time.time() - wall_start

    model.eval()
    test_logits = evaluate(model, test_x)
    test_acc = (test_logits.argmax(1) == test_t).float().mean().item()
    train_acc = (evaluate(model, train_x).argmax(1) == train_t).float().mean().item()

    torch.save(model.state_dict(), os.path.join(OUT, "wrn16_2_digits.pth"))
    np.save(os.path.join(OUT, "test_x.npy"), test_x.numpy().astype(np.float32))
    np.save(os.path.join(OUT, "test_y.npy"), test_y.astype(np.int64))
    np.save(os.path.join(OUT, "calib_x.npy"), train_x[:200].numpy().astype(np.float32))
    np.save(os.path.join(OUT, "test_logits.npy"), test_logits.numpy().astype(np.float32))
    with open(os.path.join(OUT, "labels.txt"), "w") as f:
        f.write("".join(f"{d}\n" for d in range(10)))

    # One image of every digit, then the next two test indices not yet used.
    indices = [int(np.flatnonzero(test_y == d)[0]) for d in range(10)]
    indices += [i for i in range(len(test_y)) if i not in indices][:2]
    jpegs = save_jpegs(test_img, test_y, indices)

    metrics = {
        "model": "WRN-16-2, 10 classes, bare state_dict",
        "dataset": "sklearn.datasets.load_digits, train_test_split(test_size=0.2, random_state=0, stratify=y)",
        "train_count": len(train_x), "test_count": len(test_x),
        "preprocess": "x/16 -> bilinear 32x32 (align_corners=False) -> 3 channels -> (x-0.5)/0.5",
        "test_accuracy": test_acc, "train_accuracy": train_acc,
        "epochs": EPOCHS, "batch_size": BATCH,
        "optimizer": "SGD nesterov momentum 0.9, weight_decay 5e-4, OneCycleLR max_lr 0.1",
        "augmentation": f"random shift +-{MAX_SHIFT} px, background fill",
        "cpu_seconds": round(cpu_seconds, 1), "wall_seconds": round(wall_seconds, 1),
        "threads": 2,
        "images": {"files": jpegs, "width": IMAGE_SIZE[1], "height": IMAGE_SIZE[0],
                   "rendering": "8x8 value/16 -> bilinear (align_corners=False) to 40x48 -> *255 round -> gray replicated to RGB, JPEG quality 95"},
        "versions": {"python": platform.python_version(), "torch": torch.__version__.split("+")[0],
                     "numpy": np.__version__, "scikit-learn": sklearn.__version__,
                     "pillow": PIL.__version__},
        "history": history,
    }
    with open(os.path.join(OUT, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
        f.write("\n")
    print(f"test accuracy {test_acc:.4f} ({round(test_acc * 360)}/360), train accuracy {train_acc:.4f}, "
          f"cpu {cpu_seconds:.0f}s, wall {wall_seconds:.0f}s")


if __name__ == "__main__":
    main()
