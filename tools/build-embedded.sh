#!/usr/bin/env bash
# Compiles WrenCore (the runtime and its portable kernels) as Embedded Swift for three bare-metal
# targets and prints the code size of each object. Fails if any target does not compile, so the
# core cannot come to need Foundation, existentials, untyped throws or other runtime features
# Embedded Swift lacks. Run by tools/test.sh (and so by .ci/run).
#
#   tools/build-embedded.sh            # objects go to a temporary directory
#   tools/build-embedded.sh OUT_DIR    # keep WrenCore-<target>.o in OUT_DIR
#
# Needs only the Swift 6.3 toolchain (swiftc; llvm-size or size for the table). Every .swift file
# under Sources/WrenCore is passed; host-only files are wrapped in `#if !hasFeature(Embedded)` (or
# `#if canImport(Glibc) && !hasFeature(Embedded)`) and compile to nothing here.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(armv7em-none-none-eabi aarch64-none-none-elf riscv32-none-none-eabi)
if [ $# -ge 1 ]; then out="$1"; mkdir -p "$out"; else
  out="$(mktemp -d "${TMPDIR:-/tmp}/wren-embedded.XXXXXX")"
  trap 'rm -rf "$out"' EXIT
fi
mapfile -t sources < <(find Sources/WrenCore -name '*.swift' | sort)
[ ${#sources[@]} -gt 0 ] || { echo "build-embedded: no Swift files under Sources/WrenCore" >&2; exit 1; }

size_tool=""
for candidate in "$(dirname "$(readlink -f "$(command -v swiftc)")")/llvm-size" llvm-size size; do
  if command -v "$candidate" >/dev/null 2>&1; then size_tool="$candidate"; break; fi
done

# The targets build in parallel (two at a time); each writes its diagnostics and exit status to
# files of its own.
build() {
  local status=0
  swiftc -enable-experimental-feature Embedded -Werror EmbeddedRestrictions -wmo -parse-as-library -module-name WrenCore -Osize \
    -target "$1" -c "${sources[@]}" -o "$out/WrenCore-$1.o" >"$out/$1.log" 2>&1 || status=$?
  echo "$status" >"$out/$1.status"
}
running=()
for target in "${targets[@]}"; do
  build "$target" &
  running+=($!)
  if [ ${#running[@]} -ge 2 ]; then wait "${running[0]}"; running=("${running[@]:1}"); fi
done
wait

failed=0
echo "WrenCore as Embedded Swift (-Osize, ${#sources[@]} files), object sizes in bytes:"
printf '  %-24s %10s %10s %10s\n' target text data bss
for target in "${targets[@]}"; do
  object="$out/WrenCore-$target.o"
  if [ "$(cat "$out/$target.status" 2>/dev/null)" != 0 ] || [ ! -s "$object" ]; then
    echo "build-embedded: $target failed:" >&2
    cat "$out/$target.log" >&2
    failed=1
    continue
  fi
  if [ -n "$size_tool" ] && line="$("$size_tool" "$object" 2>/dev/null | tail -1)"; then
    read -r text data bss _ <<<"$line"
    printf '  %-24s %10s %10s %10s\n' "$target" "$text" "$data" "$bss"
  else
    printf '  %-24s %10s (no llvm-size/size for this target; object file size)\n' "$target" "$(stat -c %s "$object")"
  fi
done
exit $failed
