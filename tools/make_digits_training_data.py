"""Writes the digits training split as .npy files for `wren train --data`, beside the committed test split.

Run from the repository root:   python3 tools/make_digits_training_data.py OUT_DIR      (about 2 s)
Made with: Python 3.11.7, torch 2.15.0, numpy 2.4.6, scikit-learn 1.9.1 (tools/requirements.txt).

The same split and preprocessing as tools/train_digits.py (which made fixtures/digits/): sklearn's
load_digits, train_test_split(test_size=0.2, random_state=0, stratify), x/16 → bilinear 32x32 → 3
channels → (x − 0.5)/0.5. Writes OUT_DIR/train_x.npy float32 [1437,3,32,32], train_y.npy int64 [1437],
and copies of fixtures/digits/test_x.npy and test_y.npy (360 images), which it checks it reproduces.
Not committed (17 MB): the training data is one command away and needs no network.
"""

import os
import shutil
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_digits import OUT as DIGITS, to_network_input  # noqa: E402


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    digits = load_digits()
    train_img, test_img, train_y, test_y = train_test_split(
        digits.images / 16.0, digits.target, test_size=0.2, random_state=0, stratify=digits.target)
    test_x = to_network_input(test_img).numpy()
    if not np.array_equal(test_x, np.load(os.path.join(DIGITS, "test_x.npy"))):
        sys.exit("the test split does not reproduce fixtures/digits/test_x.npy: different library versions?")
    np.save(os.path.join(out, "train_x.npy"), to_network_input(train_img).numpy().astype(np.float32))
    np.save(os.path.join(out, "train_y.npy"), train_y.astype(np.int64))
    for name in ("test_x.npy", "test_y.npy"):
        shutil.copyfile(os.path.join(DIGITS, name), os.path.join(out, name))
    print(f"wrote {len(train_y)} training and {len(test_y)} test images to {out}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
