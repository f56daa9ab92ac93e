#!/usr/bin/env python3
"""Make the PNG fixtures for WrenImageTests and the CLI's PNG test: every PNG colour type, bit
depth, transparency form and interlacing, each with the RGB pixels Wren must decode from it.

Run from the repository root:
    python3 tools/make_png_fixtures.py
Made with Python 3.11, numpy 2.4.6, pypng 0.20220715.0 (pure Python: the files are written from
the arrays below, and the expected pixels are computed from the same arrays, so no PNG decoder
takes part in making the expectations). Deterministic: a rerun rewrites identical files.

Written to fixtures/images/png/:
  <case>.png            one file per case in CASES (name: colour type, bit depth, extras, size)
  <case>.rgb.npy        uint8 [h, w, 3]: what wren_png.h promises for it (below)
  <case>.letterbox32.npy  float32 [3, 32, 32]: those pixels letterboxed and normalized with
                        mean = std = 0.5 (tools/make_image_fixtures.py's letterbox_normalize), the
                        input `wren run` must build from the PNG
  batch.txt, batch.letterbox32.npy   the cases' names, one a line, and their letterbox32 arrays
                        stacked in that order (float32 [N, 3, 32, 32]): what `wren run` of the
                        PNGs must equal, logit for logit, as a .npy input
  truncated.png         rgb8 cut inside its image data
  bad_idat_crc.png      rgb8 with one IDAT CRC byte flipped
  bad_text_crc.png      rgb8 plus a tEXt chunk with a wrong CRC (ancillary: skipped, pixels intact)
  huge_header.png       IHDR claims 16384x16384 (allowed per side, over the pixel cap)
  wide_header.png       IHDR claims 20000x10 (over the per-side limit)

The decoding rules (Sources/CPNG/include/wren_png.h):
  - gray of 1, 2, 4 bits: v * 255 / (2^depth - 1); 16-bit samples: round(v * 255 / 65535);
  - a tRNS colour (at the file's own depth) or palette alpha gives the alpha channel;
  - alpha composites on black on the 8-bit values: c' = (c * a + 127) // 255;
  - gAMA and other ancillary chunks are ignored.
"""
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import png

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_image_fixtures import letterbox_normalize  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fixtures" / "images" / "png"
HALF = np.array([0.5, 0.5, 0.5], dtype=np.float32)


def to8(values, depth):
    """A sample of `depth` bits as 8 bits, per the rules above."""
    values = values.astype(np.int64)
    if depth == 16:
        return ((2 * values + 257) // 514).astype(np.int64)  # round(v / 257): no ties for integer v
    return values * 255 // (2**depth - 1)


def composite(rgb8, alpha8):
    return ((rgb8 * alpha8[..., None] + 127) // 255).astype(np.uint8)


def samples(rng, height, width, channels, depth):
    return rng.integers(0, 2**depth, size=(height, width, channels), dtype=np.int64)


WRITTEN = []


def alpha_samples(rng, height, width, depth):
    """Random alpha with an opaque first row and a transparent second one, so both ends occur."""
    values = samples(rng, height, width, 1, depth)[..., 0]
    values[0, :] = 2**depth - 1
    values[1, :] = 0
    return values


def write(name, rows, width, height, expected, **options):
    with open(OUT / f"{name}.png", "wb") as file:
        png.Writer(width, height, **options).write(file, rows)
    np.save(OUT / f"{name}.rgb.npy", expected)
    np.save(OUT / f"{name}.letterbox32.npy", letterbox_normalize(expected, 32, HALF, HALF))
    WRITTEN.append(name)


def gray(rng, name, depth, width, height, transparent=None, alpha=False, interlace=False, gamma=None):
    values = samples(rng, height, width, 1, depth)[..., 0]
    if transparent is not None:
        values[::3, ::2] = transparent  # make sure the transparent value occurs
    channels = [values]
    alpha_values = alpha_samples(rng, height, width, depth) if alpha else None
    if alpha:
        channels.append(alpha_values)
    rows = np.stack(channels, axis=-1).reshape(height, -1)
    g8 = to8(values, depth)
    rgb8 = np.repeat(g8[..., None], 3, axis=-1)
    if alpha:
        expected = composite(rgb8, to8(alpha_values, depth))
    elif transparent is not None:
        expected = composite(rgb8, np.where(values == transparent, 0, 255))
    else:
        expected = rgb8.astype(np.uint8)
    write(name, rows.tolist(), width, height, expected, greyscale=True, alpha=alpha, bitdepth=depth,
          transparent=transparent, interlace=interlace, gamma=gamma)


def rgb(rng, name, depth, width, height, transparent=None, alpha=False, interlace=False):
    values = samples(rng, height, width, 3, depth)
    if transparent is not None:
        values[1::4, ::3] = transparent
    channels = [values]
    alpha_values = alpha_samples(rng, height, width, depth) if alpha else None
    if alpha:
        channels.append(alpha_values[..., None])
    rows = np.concatenate(channels, axis=-1).reshape(height, -1)
    rgb8 = to8(values, depth)
    if alpha:
        expected = composite(rgb8, to8(alpha_values, depth))
    elif transparent is not None:
        hit = np.all(values == np.array(transparent), axis=-1)
        expected = composite(rgb8, np.where(hit, 0, 255))
    else:
        expected = rgb8.astype(np.uint8)
    write(name, rows.tolist(), width, height, expected, greyscale=False, alpha=alpha, bitdepth=depth,
          transparent=transparent, interlace=interlace)


def palette(rng, name, depth, width, height, with_alpha=False, interlace=False):
    entries = 2**depth
    colours = rng.integers(0, 256, size=(entries, 3), dtype=np.int64)
    alphas = rng.integers(0, 256, size=entries, dtype=np.int64)
    alphas[0] = 0
    alphas[-1] = 255
    indices = rng.integers(0, entries, size=(height, width), dtype=np.int64)
    table = [tuple(int(v) for v in c) + ((int(a),) if with_alpha else ()) for c, a in zip(colours, alphas)]
    expected = composite(colours[indices], alphas[indices]) if with_alpha else colours[indices].astype(np.uint8)
    write(name, indices.tolist(), width, height, expected, palette=table, bitdepth=depth, interlace=interlace)


CHUNK = struct.Struct(">I4s")


def chunks(data):
    """(offset, type, body) for each chunk after the signature."""
    offset = 8
    while offset < len(data):
        length, kind = CHUNK.unpack_from(data, offset)
        yield offset, kind, data[offset + 8: offset + 8 + length]
        offset += 12 + length


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def make_broken_files():
    whole = (OUT / "rgb8_13x7.png").read_bytes()
    idat = next(o for o, kind, _ in chunks(whole) if kind == b"IDAT")
    length = CHUNK.unpack_from(whole, idat)[0]
    (OUT / "truncated.png").write_bytes(whole[: idat + 8 + length // 2])
    flipped = bytearray(whole)
    flipped[idat + 8 + length] ^= 0xFF  # first CRC byte of the IDAT chunk
    (OUT / "bad_idat_crc.png").write_bytes(bytes(flipped))
    text = chunk(b"tEXt", b"Comment\x00made by make_png_fixtures.py")
    text = text[:-1] + bytes([text[-1] ^ 0xFF])
    (OUT / "bad_text_crc.png").write_bytes(whole[:idat] + text + whole[idat:])
    ihdr_body = whole[16:29]
    for name, (width, height) in {"huge_header": (16384, 16384), "wide_header": (20000, 10)}.items():
        body = struct.pack(">II", width, height) + ihdr_body[8:]
        (OUT / f"{name}.png").write_bytes(whole[:8] + chunk(b"IHDR", body) + whole[33:])


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261207)
    for depth in (1, 2, 4, 8, 16):
        gray(rng, f"gray{depth}_11x6", depth, 11, 6)
    gray(rng, "gray8_trns_9x9", 8, 9, 9, transparent=77)
    gray(rng, "gray16_trns_7x5", 16, 7, 5, transparent=40000)
    gray(rng, "gray8_gamma_8x8", 8, 8, 8, gamma=0.8)  # gAMA must not change the pixels
    gray(rng, "gray16_interlaced_21x19", 16, 21, 19, interlace=True)
    gray(rng, "graya8_10x4", 8, 10, 4, alpha=True)
    gray(rng, "graya16_6x6", 16, 6, 6, alpha=True)
    rgb(rng, "rgb8_13x7", 8, 13, 7)
    rgb(rng, "rgb16_5x12", 16, 5, 12)
    rgb(rng, "rgb8_trns_12x8", 8, 12, 8, transparent=(10, 20, 30))
    rgb(rng, "rgb16_trns_4x4", 16, 4, 4, transparent=(1000, 2000, 3000))
    rgb(rng, "rgb8_interlaced_37x20", 8, 37, 20, interlace=True)
    rgb(rng, "rgba8_9x14", 8, 9, 14, alpha=True)
    rgb(rng, "rgba16_interlaced_17x9", 16, 17, 9, alpha=True, interlace=True)
    for depth in (1, 2, 4, 8):
        palette(rng, f"palette{depth}_15x10", depth, 15, 10)
    palette(rng, "palette8_trns_12x12", 8, 12, 12, with_alpha=True)
    palette(rng, "palette4_trns_interlaced_23x11", 4, 23, 11, with_alpha=True, interlace=True)
    rgb(rng, "rgb8_1x1", 8, 1, 1)
    (OUT / "batch.txt").write_text("".join(f"{name}\n" for name in WRITTEN))
    np.save(OUT / "batch.letterbox32.npy", np.stack([np.load(OUT / f"{name}.letterbox32.npy") for name in WRITTEN]))
    make_broken_files()
    print(f"wrote {len(list(OUT.glob('*.png')))} PNG files to {OUT}")


if __name__ == "__main__":
    main()
