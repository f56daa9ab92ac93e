#!/usr/bin/env bash
# Runs WrenCore for real on bare-metal AArch64: compiles Sources/WrenCore plus
# tools/embedded-qemu/WrenBareMetal.swift as Embedded Swift (aarch64-none-none-elf, -Osize), links
# it with a tiny C runtime (tools/embedded-qemu/{start.S,support.c,link.ld}) and the model and
# inputs, boots it on QEMU's `virt` machine (semihosting for output), and checks that every
# logit's float32 bits equal those of `wren run --logits` on the host. Three models: the WRN-10-1
# fixture (4 inputs), the bundled digits WRN-16-2 (first 8 test images), and the same with four
# tensors kept as int16 (`--keep-wider`, a .wren 2.0 file on the wide kernels). Each runs twice: with
# the portable kernels on a Cortex-A53, and with the `sdot` kernels (Sources/WrenKernelsARM64) on
# a Cortex-A76. Each build also compares its kernel with the scalar reference on 240 random tiles.
#
# Usage: tools/run-embedded-qemu.sh
# Needs: the Swift 6.3 toolchain (swiftc, clang, ld.lld) and Debian's qemu-system-arm package
# (qemu-system-aarch64); without QEMU it says so and exits 0. Builds the `wren` CLI with the
# same flags as tools/test.sh (override with WREN_SCRATCH_PATH / WREN_SWIFT_BUILD_FLAGS).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v qemu-system-aarch64 >/dev/null; then
  echo "run-embedded-qemu: qemu-system-aarch64 not installed (apt-get install qemu-system-arm); skipped"
  exit 0
fi
scratch="${WREN_SCRATCH_PATH:-.build}"
read -r -a build_flags <<<"${WREN_SWIFT_BUILD_FLAGS--Xswiftc -enable-testing}"
toolchain="$(dirname "$(readlink -f "$(command -v swiftc)")")"
target=aarch64-none-none-elf
work="$(mktemp -d "${TMPDIR:-/tmp}/wren-qemu.XXXXXX")"
trap 'rm -rf "$work"' EXIT

script_name=run-embedded-qemu
# shellcheck source=lib/script-helpers.sh
source tools/lib/script-helpers.sh
build_wren "$scratch" "${build_flags[@]}"

# Two builds: the portable kernels for any Armv8-A core (run on a Cortex-A53), and the `sdot`
# kernels (Sources/WrenKernelsARM64, compiled into the same module) for Armv8.2-A dot product
# (run on a Cortex-A76, which has it).
compile_guest() {  # kernels source-folders -- extra swiftc flags
  local kernels="$1" folders=()
  shift
  while [ "$1" != -- ]; do folders+=("$1"); shift; done
  shift
  swiftc -enable-experimental-feature Embedded -Werror EmbeddedRestrictions -wmo -parse-as-library -module-name WrenCore \
    -Osize -target "$target" "$@" -c $(find "${folders[@]}" -name '*.swift' | sort) tools/embedded-qemu/WrenBareMetal.swift \
    -o "$work/wren-$kernels.o" 2>"$work/swiftc.log" || { cat "$work/swiftc.log" >&2; exit 1; }
}
compile_guest portable Sources/WrenCore --
compile_guest neondot Sources/WrenCore Sources/WrenKernelsARM64 -- -D WREN_NEON_DOT -Xcc -march=armv8.2-a+dotprod
"$toolchain/clang" --target="$target" -O2 -ffreestanding -Wall -Werror -c tools/embedded-qemu/support.c -o "$work/support.o"

run_model() {  # name checkpoint calibration inputs count [wren convert options...]
  local name="$1" dir="$work/$1"
  mkdir -p "$dir"
  quietly "$wren" convert "$2" -o "$dir/model.wren" --calibration "$3" "${@:6}"
  npy_images "$4" "$5" >"$dir/input.f32"
  npy_head "$4" "$5" "$dir/input.npy"
  quietly "$wren" run "$dir/model.wren" "$dir/input.npy" --logits "$dir/expected.npy" --quiet
  # Every logit of `wren run` as the hex of its float32 bits, one per line, as the guest prints them.
  npy_data "$dir/expected.npy" | od -An -v -tx4 | tr -s ' ' '\n' |
    sed '/^$/d' >"$dir/expected.txt"
  "$toolchain/clang" --target="$target" -c tools/embedded-qemu/start.S -Wa,-I"$dir" -o "$dir/start.o"
  run_kernels "$name" "$dir" portable cortex-a53 "$5"
  run_kernels "$name" "$dir" neondot cortex-a76 "$5"
}

run_kernels() {  # name dir kernels cpu count
  local name="$1" dir="$2" kernels="$3" cpu="$4"
  local elf="$dir/app-$kernels.elf" console="$dir/console-$kernels.txt"
  "$toolchain/ld.lld" -T tools/embedded-qemu/link.ld "$dir/start.o" "$work/support.o" "$work/wren-$kernels.o" \
    "$toolchain/../lib/swift/embedded/$target/libswiftUnicodeDataTables.a" -o "$elf"
  timeout 600 qemu-system-aarch64 -M virt -cpu "$cpu" -nographic -nic none -semihosting \
    -kernel "$elf" >"$console" 2>&1 || { cat "$console" >&2; echo "run-embedded-qemu: $name ($kernels): QEMU failed" >&2; exit 1; }
  if ! grep -q '^status 0' "$console"; then
    cat "$console" >&2
    echo "run-embedded-qemu: $name ($kernels): the bare-metal run failed" >&2
    exit 1
  fi
  sed -n 's/^logit //p' "$console" >"$dir/actual-$kernels.txt"
  if [ ! -s "$dir/expected.txt" ] || ! cmp -s "$dir/expected.txt" "$dir/actual-$kernels.txt"; then
    diff "$dir/expected.txt" "$dir/actual-$kernels.txt" | head -20 >&2 || true
    echo "run-embedded-qemu: $name ($kernels): bare-metal logits differ from 'wren run'" >&2
    exit 1
  fi
  printf '  %-8s %-9s on %-10s %3d images, %4d logits bit-identical to wren run; %s; %s bytes of arena, %s of heap, ELF %s bytes\n' \
    "$name" "$kernels" "$cpu" "$5" "$(wc -l <"$dir/actual-$kernels.txt")" "$(grep '^tiles ' "$console")" \
    "$(sed -n 's/^arena //p' "$console")" "$(sed -n 's/^heap //p' "$console")" "$(stat -c %s "$elf")"
}

echo "WrenCore on bare-metal AArch64 (QEMU virt, Embedded Swift -Osize), portable and sdot kernels:"
run_model wrn10-1 fixtures/models/wrn10_1_c10.pth fixtures/models/wrn10_1_c10.input.npy fixtures/models/wrn10_1_c10.input.npy 4
run_model digits fixtures/digits/wrn16_2_digits.pth fixtures/digits/calib_x.npy fixtures/digits/test_x.npy 8
run_model digits16 fixtures/digits/wrn16_2_digits.pth fixtures/digits/calib_x.npy fixtures/digits/test_x.npy 8 \
  --keep-wider input,block2.layer.0.relu1,block3.layer.0,relu
