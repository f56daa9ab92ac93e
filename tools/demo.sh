#!/usr/bin/env bash
# The main job on bundled data, the whole story: train a WRN-16-2 on a folder of digit photos
# (fixtures/digits-photos, one subfolder per class, from tools/make_digits_photo_folder.py), convert
# it to int8, validate int8 against float on the held-out split, and classify photos by class name.
# Then the same for the bundled PyTorch-trained digits model (fixtures/digits/wrn16_2_digits.pth).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-system-packages.sh
swift build -c release --product wren
wren=.build/release/wren
out=${WREN_DEMO_OUT:-$(mktemp -d)}
mkdir -p "$out"
photos=fixtures/digits-photos

echo "== train: WRN-16-2 on $photos (70/30 split per class, 8 epochs, SGD-Nesterov, cosine; no flips: a flipped 6 is a 9)"
"$wren" train "$photos" -o "$out/digits-photos.safetensors" --save-split "$out/split.txt" \
  --depth 16 --widen 2 --epochs 8 --optimizer sgd --nesterov --schedule cosine --augment crop \
  --curves "$out/curves.svg"
echo "== convert (class names, mean and std come from the checkpoint; calibration on 512 training photos)"
"$wren" convert "$out/digits-photos.safetensors" -o "$out/digits-photos.wren" --calibration "$photos"
echo "== validate: int8 against float on the held-out 30% (the split the checkpoint records)"
"$wren" validate "$out/digits-photos.wren" --reference "$out/digits-photos.safetensors" --data "$photos" | head -8
echo "== classify photos (a JPEG, a 16-bit gray PNG, a palette PNG)"
"$wren" run "$out/digits-photos.wren" "$photos"/nine/0092.jpg "$photos"/seven/0007.png "$photos"/three/0003.png

echo
echo "== convert the bundled PyTorch-trained model (fixtures/digits/wrn16_2_digits.pth)"
"$wren" convert fixtures/digits/wrn16_2_digits.pth -o "$out/digits.wren" \
  --calibration fixtures/digits/calib_x.npy --class-names fixtures/digits/labels.txt
echo "== inspect"
"$wren" inspect "$out/digits.wren" | head -8
echo "== int8 vs float on the 360-image test split"
"$wren" run "$out/digits.wren" fixtures/digits/test_x.npy \
  --reference fixtures/digits/wrn16_2_digits.pth --labels fixtures/digits/test_y.npy --quiet
echo "== JPEG images (file names carry the true label)"
"$wren" run "$out/digits.wren" fixtures/digits/images/*.jpg --top 2
echo "models, split and training curves written to $out"
