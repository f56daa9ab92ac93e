#!/usr/bin/env bash
# Tests of the C API, run by tools/test.sh after `swift test`:
#   1. builds the `wren` CLI and converts fixtures/models/wrn10_1_c10.pth (calibrated on its own
#      inputs) into a temporary directory, then writes the expected logits with `wren run --logits`;
#      For the 0.2.0 functions it also converts the bundled digits model with class names and runs
#      `wren run` on a JPEG and a PNG;
#   2. compiles Tests/CAPI/capi_tests.c (cmocka) with tools/cc-wren against the shared library and
#      against the static one, and runs both (each prints cmocka's "[  PASSED  ] N test(s).");
#   3. builds tools/examples/classify.c (shared and static) and checks, for the WRN-10-1 fixture and
#      the bundled digits model (fixtures/digits, first 40 test images), that its logits, computed in an
#      arena it allocates itself, equal `wren run --logits` byte for byte.
# Usage: Tests/CAPI/run-capi-tests.sh   (needs libcmocka-dev: tools/install-system-packages.sh)
# Builds with the same flags as tools/test.sh's `swift test` so the two share build products;
# override with WREN_SCRATCH_PATH / WREN_SWIFT_BUILD_FLAGS (see tools/cc-wren).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"
export WREN_SCRATCH_PATH="${WREN_SCRATCH_PATH:-$root/.build}"
export WREN_SWIFT_BUILD_FLAGS="${WREN_SWIFT_BUILD_FLAGS--Xswiftc -enable-testing}"
read -r -a build_flags <<<"$WREN_SWIFT_BUILD_FLAGS"

work="$(mktemp -d "${TMPDIR:-/tmp}/wren-capi.XXXXXX")"
trap 'rm -rf "$work"' EXIT

script_name="C API tests"
# shellcheck source=../../tools/lib/script-helpers.sh
source tools/lib/script-helpers.sh

echo "== C API: building the wren CLI"
build_wren "$WREN_SCRATCH_PATH" "${build_flags[@]}"

fixture=fixtures/models/wrn10_1_c10
quietly "$wren" convert "$fixture.pth" -o "$work/model.wren" --calibration "$fixture.input.npy"
quietly "$wren" run "$work/model.wren" "$fixture.input.npy" --logits "$work/expected.npy" --quiet
arena="$("$wren" inspect "$work/model.wren" | sed -n 's/^arena: *\([0-9][0-9]*\) bytes at batch 1.*$/\1/p')"
[ -n "$arena" ] || { echo "C API tests: no arena size in 'wren inspect' output" >&2; exit 1; }

# The 0.2.0 functions' fixtures: the digits model with class names, and `wren run` on a JPEG and a PNG.
printf '%s\n' zero one two three four five six seven eight nine >"$work/digit_names.txt"
quietly "$wren" convert fixtures/digits/wrn16_2_digits.pth -o "$work/digits-named.wren" --calibration fixtures/digits/calib_x.npy \
  --labels "$work/digit_names.txt"
digits_jpeg=fixtures/digits/images/test0_label7.jpg
digits_png=fixtures/digits-photos/one/0647.png
quietly "$wren" run "$work/digits-named.wren" "$digits_jpeg" "$digits_png" --logits "$work/digits_images.npy" --quiet

cflags=(-std=c11 -O1 -g -Wall -Wextra -Werror -pthread)
for linkage in shared static; do
  echo "== C API: cmocka tests against the $linkage library"
  tools/cc-wren "--$linkage" "${cflags[@]}" Tests/CAPI/capi_tests.c Tests/CAPI/npy_float32.c -lcmocka -lm -o "$work/capi_tests_$linkage"
  mkdir -p "$work/scratch-$linkage"
  WREN_CAPI_MODEL="$work/model.wren" WREN_CAPI_INPUT="$fixture.input.npy" WREN_CAPI_LOGITS="$work/expected.npy" \
    WREN_CAPI_ARENA_BATCH1="$arena" WREN_CAPI_TMPDIR="$work/scratch-$linkage" \
    WREN_CAPI_DIGITS_MODEL="$work/digits-named.wren" WREN_CAPI_DIGITS_JPEG="$digits_jpeg" WREN_CAPI_DIGITS_PNG="$digits_png" \
    WREN_CAPI_DIGITS_LOGITS="$work/digits_images.npy" WREN_CAPI_RGB_JPEG=fixtures/images/gradient_40x24.jpg \
    WREN_CAPI_RGB_NPY=fixtures/images/gradient_40x24.rgb.npy "$work/capi_tests_$linkage"
done
if ldd "$work/capi_tests_static" | grep -q -E "libswift|libwren"; then
  echo "C API tests: the static test binary still loads Swift or Wren shared libraries:" >&2
  ldd "$work/capi_tests_static" >&2
  exit 1
fi

# The example program was not written for the tests: it must agree with `wren run` on its own,
# here also on the bundled digits model (40 test images: more than classify's batch of 16).
quietly "$wren" convert fixtures/digits/wrn16_2_digits.pth -o "$work/digits.wren" --calibration fixtures/digits/calib_x.npy
echo "== C API: digits model (WRN-16-2) arena at batch 1: $("$wren" inspect "$work/digits.wren" | sed -n 's/^arena: *\([0-9]*\) bytes at batch 1.*$/\1/p') bytes"
npy_head fixtures/digits/test_x.npy 40 "$work/digits_x.npy"
quietly "$wren" run "$work/digits.wren" "$work/digits_x.npy" --logits "$work/digits_expected.npy" --quiet
checks=0
for linkage in shared static; do
  tools/cc-wren "--$linkage" -std=c11 -O2 -Wall -Wextra -Werror tools/examples/classify.c -o "$work/classify_$linkage"
  for pair in "$work/model.wren:$fixture.input.npy:$work/expected.npy" \
              "$work/digits.wren:$work/digits_x.npy:$work/digits_expected.npy"; do
    IFS=: read -r model input expected <<<"$pair"
    "$work/classify_$linkage" "$model" "$input" --logits "$work/logits.f32" >"$work/classify.txt"
    if [ ! -s "$work/logits.f32" ] || ! npy_data "$expected" | cmp -s - "$work/logits.f32"; then
      echo "C API tests: classify ($linkage) logits for $(basename "$model") differ from 'wren run --logits'" >&2
      exit 1
    fi
    checks=$((checks + 1))
  done
done
# The pkg-config file works for a plain `cc` build too.
if command -v pkg-config >/dev/null; then
  tools/cc-wren --pkg-config >"$work/wren.pc"
  # shellcheck disable=SC2046
  cc -std=c11 -O2 tools/examples/classify.c $(PKG_CONFIG_PATH="$work" pkg-config --cflags --libs wren) -o "$work/classify_pc"
  "$work/classify_pc" "$work/model.wren" "$fixture.input.npy" --logits "$work/logits.f32" >/dev/null
  npy_data "$work/expected.npy" | cmp -s - "$work/logits.f32" || {
    echo "C API tests: classify built with pkg-config flags gives different logits" >&2; exit 1; }
  checks=$((checks + 1))
else
  echo "== C API: pkg-config not installed, its check is skipped"
fi
# Raw float32 input gives the same answer as the .npy it came from.
npy_data "$fixture.input.npy" >"$work/input.f32"
"$work/classify_static" "$work/model.wren" "$work/input.f32" --raw --logits "$work/raw_logits.f32" >/dev/null
npy_data "$work/expected.npy" | cmp -s - "$work/raw_logits.f32" || {
  echo "C API tests: classify --raw logits differ from 'wren run --logits'" >&2; exit 1; }
checks=$((checks + 1))
echo "== C API: classify example matches 'wren run --logits' byte for byte ($checks checks: 2 models x shared/static, pkg-config build, raw input)"
