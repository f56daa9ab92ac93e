#!/usr/bin/env bash
# The main job on bundled data: convert the bundled trained WRN-16-2 (scikit-learn digits) to int8,
# then classify the bundled test split and JPEG images, printing int8-vs-float agreement.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-system-packages.sh
swift build -c release --product wren
wren=.build/release/wren
out=${WREN_DEMO_OUT:-$(mktemp -d)}
mkdir -p "$out"
echo "== convert"
"$wren" convert fixtures/digits/wrn16_2_digits.pth -o "$out/digits.wren" \
  --calibration fixtures/digits/calib_x.npy --labels fixtures/digits/labels.txt
echo "== inspect"
"$wren" inspect "$out/digits.wren" | head -8
echo "== int8 vs float on the 360-image test split"
"$wren" run "$out/digits.wren" fixtures/digits/test_x.npy \
  --reference fixtures/digits/wrn16_2_digits.pth --labels fixtures/digits/test_y.npy --quiet
echo "== JPEG images (file names carry the true label)"
"$wren" run "$out/digits.wren" fixtures/digits/images/*.jpg --top 2
echo "model written to $out/digits.wren"
