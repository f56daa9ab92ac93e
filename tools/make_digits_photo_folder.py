#!/usr/bin/env python3
"""Writes scikit-learn's handwritten digits (1797 images, 8x8, shipped with scikit-learn: no network)
as a folder of photos for `wren train DATA_DIR`: one subfolder per digit name (eight, five, four, ...),
grayscale images of mixed sizes (each digit upscaled to a random 12...64 pixels square or a little
off-square) in mixed formats, plus a stray hidden `.ipynb_checkpoints` folder, as a real folder has.
By index modulo 4: 0 and 2 are JPEGs, 1 an 8-bit gray PNG, 3 a 16-bit gray PNG (odd index // 4) or
a palette PNG (even).

    python3 tools/make_digits_photo_folder.py /tmp/digits_photos
    wren train /tmp/digits_photos -o digits.safetensors --depth 16 --widen 2 --epochs 15

Deterministic (seed 0). Made with scikit-learn 1.9.1, Pillow 13.0.0, numpy 2.4.6.
"""
import os
import random
import shutil
import sys

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    if os.path.exists(out):
        shutil.rmtree(out)
    rng = random.Random(0)
    digits = load_digits()
    for name in NAMES:
        os.makedirs(os.path.join(out, name))
    for index, (image, label) in enumerate(zip(digits.images, digits.target)):
        pixels = (255 - image * (255 / 16)).round().astype(np.uint8)  # dark ink on white paper
        side = rng.randint(12, 64)
        width, height = side, max(8, int(side * rng.uniform(0.8, 1.25)))
        photo = Image.fromarray(pixels, mode="L").resize((width, height), Image.BILINEAR)
        quality = rng.randint(80, 95)
        path = os.path.join(out, NAMES[label], f"{index:04d}")
        if index % 4 in (0, 2):
            photo.save(path + ".jpg", quality=quality)
        elif index % 4 == 1:
            photo.save(path + ".png")
        elif (index // 4) % 2 == 1:
            wide = np.asarray(photo).astype(np.uint16) * 257  # the same gray levels on 16 bits
            Image.fromarray(wide).save(path + ".png")  # uint16 -> mode I;16, a 16-bit gray PNG
        else:
            photo.convert("P").save(path + ".png")
    hidden = os.path.join(out, ".ipynb_checkpoints")
    os.makedirs(hidden)
    shutil.copy(os.path.join(out, "zero", "0000.jpg"), os.path.join(hidden, "0000-checkpoint.jpg"))
    print(f"wrote {len(digits.images)} digits to {out} (10 class folders and a hidden .ipynb_checkpoints)")


if __name__ == "__main__":
    main()
