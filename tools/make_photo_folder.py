#!/usr/bin/env python3
"""Writes a small synthetic photo folder for `wren train DATA_DIR`: one subfolder per class.

Four classes of coloured shapes on random muted backgrounds, JPEGs of varied sizes and aspect
ratios, and the clutter a real folder has: a stray `.ipynb_checkpoints` folder (holding a JPEG that
must be ignored), a hidden `.DS_Store`, a `notes.txt`, a PNG (read like the JPEGs), a GIF (a format
Wren does not read: listed as skipped), a JPEG without an extension and one with an upper-case
`.JPG` (read by content), and one truncated `.jpg` (corrupt: skipped with a warning, or an error
with --strict).

    python3 tools/make_photo_folder.py fixtures/photos            # the committed test fixture
    python3 tools/make_photo_folder.py /tmp/shapes --scale 10      # 10x as many images per class

The class names include a space and a non-ASCII letter on purpose. Deterministic for a given
--seed. Needs Pillow.
"""
import argparse
import io
import math
import os
import random
import shutil

from PIL import Image, ImageDraw

# class folder -> (images in the fixture, shape, colour)
CLASSES = {
    "blue square": (12, "square", (40, 70, 220)),
    "circle": (14, "circle", (220, 40, 40)),
    "triangle": (16, "triangle", (40, 190, 60)),
    "étoile": (10, "star", (235, 200, 30)),
}


def draw_shape(draw, shape, box, colour):
    x0, y0, x1, y1 = box
    if shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "triangle":
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=colour)
    else:
        cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
        points = []
        for i in range(10):
            radius = r if i % 2 == 0 else r * 0.45
            angle = -math.pi / 2 + i * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        draw.polygon(points, fill=colour)


def make_image(rng, shape, colour):
    width = rng.randint(18, 64)
    height = max(12, min(80, int(width * rng.uniform(0.5, 2.0))))
    background = tuple(rng.randint(60, 150) for _ in range(3))
    image = Image.new("RGB", (width, height), background)
    side = int(min(width, height) * rng.uniform(0.55, 0.9))
    x0 = rng.randint(0, width - side)
    y0 = rng.randint(0, height - side)
    jitter = tuple(max(0, min(255, c + rng.randint(-25, 25))) for c in colour)
    draw_shape(ImageDraw.Draw(image), shape, (x0, y0, x0 + side - 1, y0 + side - 1), jitter)
    return image


def jpeg_bytes(image, rng):
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=rng.randint(70, 90))
    return buffer.getvalue()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("--scale", type=int, default=1, help="images per class = the fixture's count times this")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if os.path.exists(args.folder):
        shutil.rmtree(args.folder)
    os.makedirs(args.folder)

    for name, (count, shape, colour) in CLASSES.items():
        folder = os.path.join(args.folder, name)
        os.makedirs(folder)
        for index in range(count * args.scale):
            data = jpeg_bytes(make_image(rng, shape, colour), rng)
            with open(os.path.join(folder, f"{shape}_{index:03d}.jpg"), "wb") as f:
                f.write(data)

    # Clutter, as a real folder has it.
    root = args.folder
    checkpoints = os.path.join(root, ".ipynb_checkpoints")
    os.makedirs(checkpoints)
    with open(os.path.join(checkpoints, "circle_000-checkpoint.jpg"), "wb") as f:
        f.write(jpeg_bytes(make_image(rng, "circle", (220, 40, 40)), rng))
    with open(os.path.join(root, "notes.txt"), "w") as f:
        f.write("shapes, drawn by tools/make_photo_folder.py\n")
    with open(os.path.join(root, "circle", ".DS_Store"), "wb") as f:
        f.write(b"\x00\x00\x00\x01Bud1")
    # Read by content: a JPEG without an extension and one with an upper-case extension are images.
    with open(os.path.join(root, "circle", "scan_0007"), "wb") as f:
        f.write(jpeg_bytes(make_image(rng, "circle", (220, 40, 40)), rng))
    with open(os.path.join(root, "triangle", "IMG_0001.JPG"), "wb") as f:
        f.write(jpeg_bytes(make_image(rng, "triangle", (40, 190, 60)), rng))
    # A PNG among the JPEGs.
    make_image(rng, "square", (40, 70, 220)).save(os.path.join(root, "blue square", "extra.png"))
    # A corrupt JPEG: the first 200 bytes of a real one.
    data = jpeg_bytes(make_image(rng, "star", (235, 200, 30)), rng)
    with open(os.path.join(root, "étoile", "broken.jpg"), "wb") as f:
        f.write(data[:200])
    # A GIF: an image, in a format Wren does not read.
    make_image(rng, "square", (40, 70, 220)).save(os.path.join(root, "blue square", "logo.gif"))

    total = sum(len(files) for _, _, files in os.walk(root))
    print(f"wrote {root}: {len(CLASSES)} classes, {total} files")


if __name__ == "__main__":
    main()
