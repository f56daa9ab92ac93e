"""The bundled digits model from Python, notebook style: convert, run, compare with `wren run`,
classify image files, read per-layer activations, validate int8 against float.

Run from the repository root, after `pip install ./python` (or in place:
PYTHONPATH=python WREN_LIBRARY=.build/release/libwren-shared.so):

    python3 python/examples/digits.py [OUTPUT_DIR]
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import wren

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "fixtures" / "digits"
out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="wren-digits-"))
out.mkdir(parents=True, exist_ok=True)
library, source = wren.library_path()
print(f"wren {wren.__version__}, library {library} ({source})")

# %% 1. Convert the PyTorch checkpoint (WRN-16-2 trained on scikit-learn's digits) to int8.
model_path = wren.convert(
    DIGITS / "wrn16_2_digits.pth",
    out / "digits.wren",
    calibration=DIGITS / "calib_x.npy",
    labels=["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
)
m = wren.Model(model_path, threads=2)
print(m)
print("input", m.input_shape, "mean", m.mean, "std", m.std)
print("labels", m.labels)
print("calibration:", m.metadata["calibration"])

# %% 2. Run the 360 test images (float32 [N, 3, 32, 32], already normalized).
x = np.load(DIGITS / "test_x.npy")
y = np.load(DIGITS / "test_y.npy")
logits = m.run(x)
print(f"int8 accuracy: {(logits.argmax(1) == y).mean():.4f} on {len(y)} images")

# %% 3. The same logits as the CLI, bit for bit.
cli, _ = wren.cli_path()
subprocess.run([cli, "run", model_path, str(DIGITS / "test_x.npy"), "--logits", str(out / "cli.npy"), "--quiet"], check=True, capture_output=True)
same = np.load(out / "cli.npy").tobytes() == logits.tobytes()
print("logits equal `wren run --logits` bit for bit:", same)

# %% 4. Classify image files with the model's own preprocessing (letterbox + mean/std).
images = sorted((DIGITS / "images").glob("*.jpg"))[:4]
for result in m.classify(images, top=2):
    print(f"{Path(result.source).name}: {result.label} ({result.probability:.3f}); next {result.top[1][1]}")

# %% 5. Per-layer int8 activations, dequantized, by the names `wren validate` uses (NCHW, like PyTorch).
activations = m.activations(x[:8])
for name in list(activations)[:4] + ["relu"]:
    values = activations[name]
    print(f"{name:28s} {str(values.shape):18s} range [{values.min():.3f}, {values.max():.3f}]")
# With a float model of your own, compare e.g. the SQNR of each layer:
#   sqnr = 10 * log10(sum(f**2) / sum((f - activations[name])**2))

# %% 6. int8 against the float checkpoint, layer by layer (the JSON of `wren validate --json`).
report = wren.validate(model_path, DIGITS / "wrn16_2_digits.pth", x, labels=y)
print(f"top-1 agreement {report['agreement']:.4f}, float {report['floatAccuracy']:.4f}, int8 {report['int8Accuracy']:.4f}")
worst = sorted(report["report"]["layers"], key=lambda layer: layer["sqnrDB"])[:3]
print("worst layers:", ", ".join(f"{layer['name']} ({layer['sqnrDB']:.1f} dB)" for layer in worst))
m.close()
if not same:
    sys.exit("logits differ from wren run")
