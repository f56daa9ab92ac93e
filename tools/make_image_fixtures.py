#!/usr/bin/env python3
"""Make the image and .npy fixtures for WrenImageTests and WrenConvertTests (NumpyArrayTests).

Run from the repository root:
    python3 tools/make_image_fixtures.py
Made with Python 3.11, numpy 2.4.6, Pillow 13.0.0 (its bundled libjpeg-turbo 3.2.0).
Output goes to fixtures/images/ (and fixtures/images/numpy/); the script is deterministic, so
rerunning it with the same versions rewrites identical files.

Written:
  gradient_40x24.jpg        color gradient, 4:2:0, quality 90 (landscape letterbox case)
  gray_16x16.jpg            grayscale (1 component) JPEG
  pattern_32x32.jpg         color pattern; already 32x32, so the letterbox must leave it unchanged
  portrait_24x40_progressive.jpg   progressive JPEG, portrait letterbox case
  cmyk_16x16.jpg            Adobe CMYK JPEG (Pillow writes CMYK inverted, with the Adobe marker)
  <name>.rgb.npy            the RGB pixels Pillow decodes from each JPEG (uint8, HWC)
  truncated.jpg             gradient_40x24.jpg cut to half its length
  not_a_jpeg.png            a small PNG
  letterbox_mean_std.npy    float32 [2, 3]: the mean and std used for the references below
  <name>.letterbox32.npy    float32 [3, 32, 32]: letterbox_normalize (below) applied to the
                            Pillow-decoded pixels, for gradient_40x24, portrait_24x40_progressive
                            and pattern_32x32, and for random_64x33
  random_64x33.rgb.npy      random uint8 pixels (no JPEG) whose height scales to 16.5 -> 17
  numpy/*.npy               arrays written by numpy for the .npy reader tests (see make_npy_fixtures)
"""
import io
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fixtures" / "images"

# CIFAR-10 statistics; any values would do, these are the ones Wren's users will pass.
MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)


def letterbox_normalize(pixels: np.ndarray, size: int, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """The letterbox documented on Preprocess.letterboxNormalize in Sources/WrenImage/Preprocess.swift.

    pixels: uint8 [h, w, 3]. Returns float32 [3, size, size].
    """
    height, width, _ = pixels.shape
    longer = max(width, height)

    def scaled(length):  # length * size / longer, rounded half up, exact in integers
        return max(1, (2 * length * size + longer) // (2 * longer))

    def positions(source, target):  # half-pixel centers, clamped
        coordinate = (np.arange(target, dtype=np.float64) + 0.5) * (source / target) - 0.5
        coordinate = np.clip(coordinate, 0.0, float(source - 1))
        low = np.floor(coordinate).astype(np.int64)
        high = np.minimum(low + 1, source - 1)
        return low, high, coordinate - low

    scaled_w, scaled_h = scaled(width), scaled(height)
    x0, x1, fx = positions(width, scaled_w)
    y0, y1, fy = positions(height, scaled_h)
    p = pixels.astype(np.float64)
    fx = fx[None, :, None]
    fy = fy[:, None, None]
    upper = (1 - fx) * p[y0][:, x0] + fx * p[y0][:, x1]
    lower = (1 - fx) * p[y1][:, x0] + fx * p[y1][:, x1]
    resized = (1 - fy) * upper + fy * lower  # [scaled_h, scaled_w, 3], float64, 0...255

    canvas = np.zeros((size, size, 3), dtype=np.float64)
    top, left = (size - scaled_h) // 2, (size - scaled_w) // 2
    canvas[top:top + scaled_h, left:left + scaled_w] = resized
    normalized = (canvas / 255 - mean.astype(np.float64)) / std.astype(np.float64)
    return normalized.astype(np.float32).transpose(2, 0, 1).copy()


def gradient(width, height):
    y, x = np.mgrid[0:height, 0:width]
    red = x * 255 // (width - 1)
    green = y * 255 // (height - 1)
    blue = (x + y) * 255 // (width + height - 2)
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)


def pattern(width, height):
    y, x = np.mgrid[0:height, 0:width]
    red = ((x // 4 + y // 4) % 2) * 200 + 30
    green = (x * 7 + y * 3) % 256
    blue = np.where((x - width / 2) ** 2 + (y - height / 2) ** 2 < (width / 3) ** 2, 240, 20)
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)


def save_jpeg(name, image, **options):
    path = OUT / f"{name}.jpg"
    image.save(path, format="JPEG", **options)
    decoded = np.asarray(Image.open(path).convert("RGB"))
    np.save(OUT / f"{name}.rgb.npy", decoded)
    return decoded


def make_image_fixtures():
    OUT.mkdir(parents=True, exist_ok=True)
    references = {}
    references["gradient_40x24"] = save_jpeg("gradient_40x24", Image.fromarray(gradient(40, 24)), quality=90)
    gray = (np.add.outer(np.arange(16) * 9, np.arange(16) * 6) % 256).astype(np.uint8)
    save_jpeg("gray_16x16", Image.fromarray(gray, mode="L"), quality=90)
    references["pattern_32x32"] = save_jpeg("pattern_32x32", Image.fromarray(pattern(32, 32)), quality=95)
    references["portrait_24x40_progressive"] = save_jpeg(
        "portrait_24x40_progressive", Image.fromarray(gradient(24, 40)[::-1].copy()), quality=85, progressive=True)
    save_jpeg("cmyk_16x16", Image.fromarray(pattern(16, 16)).convert("CMYK"), quality=90)

    # No JPEG: raw pixels whose scaled height 33 * 32 / 64 = 16.5 exercises the round-half-up.
    rng = np.random.default_rng(20240611)
    references["random_64x33"] = rng.integers(0, 256, size=(33, 64, 3), dtype=np.uint8)
    np.save(OUT / "random_64x33.rgb.npy", references["random_64x33"])

    whole = (OUT / "gradient_40x24.jpg").read_bytes()
    (OUT / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    Image.fromarray(gradient(8, 8)).save(OUT / "not_a_jpeg.png", format="PNG")

    np.save(OUT / "letterbox_mean_std.npy", np.stack([MEAN, STD]))
    for name, pixels in references.items():
        expected = letterbox_normalize(pixels, 32, MEAN, STD)
        np.save(OUT / f"{name}.letterbox32.npy", expected)
    # The documented property the Swift test also checks: a 32x32 image is not resampled.
    plain = ((references["pattern_32x32"].astype(np.float64) / 255 - MEAN.astype(np.float64))
             / STD.astype(np.float64)).astype(np.float32).transpose(2, 0, 1)
    assert np.array_equal(letterbox_normalize(references["pattern_32x32"], 32, MEAN, STD), plain)


def make_npy_fixtures():
    """Arrays written by numpy itself, for NumpyArrayTests (expected values are restated there)."""
    out = OUT / "numpy"
    out.mkdir(parents=True, exist_ok=True)
    f32 = np.array([[0.0, -1.5, 3.25], [1e-8, -0.0, 65504.0]], dtype=np.float32)
    np.save(out / "float32_2x3.npy", f32)
    np.save(out / "float64_4.npy", np.array([0.1, -2.5, 1e300, 3.0], dtype=np.float64))
    np.save(out / "int64_3.npy", np.array([-(2**62), 0, 2**53 + 1], dtype=np.int64))
    np.save(out / "int32_2x2.npy", np.array([[-7, 8], [2**31 - 1, -(2**31)]], dtype=np.int32))
    np.save(out / "uint8_2x2x3.npy", np.arange(12, dtype=np.uint8).reshape(2, 2, 3) * 20)
    np.save(out / "int8_4.npy", np.array([-128, -1, 0, 127], dtype=np.int8))
    np.save(out / "float32_scalar.npy", np.array(2.5, dtype=np.float32))
    np.save(out / "float32_empty_0x3.npy", np.zeros((0, 3), dtype=np.float32))
    np.save(out / "fortran_2x3.npy", np.asfortranarray(f32))
    np.save(out / "bigendian_f4.npy", np.array([1.0, 2.0], dtype=">f4"))
    with open(out / "float32_2x3_v2.npy", "wb") as file:
        np.lib.format.write_array(file, f32, version=(2, 0))
    with open(out / "float32_2x3_v3.npy", "wb") as file:
        np.lib.format.write_array(file, f32, version=(3, 0))
    buffer = io.BytesIO()
    np.save(buffer, f32)
    (out / "truncated_float32.npy").write_bytes(buffer.getvalue()[:-5])
    # Byte-exact target for the Swift writer: NumpyArray.write(floats:shape:) of the same values.
    np.save(out / "float32_3x4_written_by_numpy.npy", (np.arange(12, dtype=np.float32) - 5.5).reshape(3, 4) / 4)


if __name__ == "__main__":
    make_image_fixtures()
    make_npy_fixtures()
    print(f"wrote fixtures to {OUT}")
