#!/usr/bin/env bash
# Installs the Debian packages Wren builds against, only when one is missing:
# libopenblas-dev (float reference GEMM), libjpeg-dev and libpng-dev (image decoding), libcmocka-dev (C API tests),
# qemu-system-arm (runs WrenCore bare-metal on emulated AArch64 cores: tools/run-embedded-qemu.sh).
set -euo pipefail
packages=(libopenblas-dev libjpeg-dev libpng-dev libcmocka-dev qemu-system-arm)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
