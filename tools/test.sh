#!/usr/bin/env bash
# Runs every test: installs missing system packages, then `swift test` in release mode
# (the int8 accuracy tests run hundreds of real images; -enable-testing keeps @testable imports working).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-system-packages.sh
swift test -c release -Xswiftc -enable-testing "$@"
# The independent Python reader of formats/wren-v1.md must reproduce the Swift runtime's logits bit
# for bit (NumPy only; same build flags as above, so this reuses that build).
swift build -c release -Xswiftc -enable-testing --product wren
python3 -c "import numpy" 2>/dev/null || python3 -m pip install --quiet numpy
python3 tools/test_wren_format.py --wren "$(swift build -c release -Xswiftc -enable-testing --show-bin-path)/wren"
# The C API: cmocka tests against libwren-shared.so and libwren-static.a, and the C example checked
# against `wren run` (same build flags as above). Then WrenCore as Embedded Swift for three
# bare-metal targets, with code sizes, and run on emulated AArch64 cores (QEMU): the portable and
# the `sdot` kernels against the reference on random tiles, and whole models bit-identical to `wren run`.
Tests/CAPI/run-capi-tests.sh
# The Python package (python/), used in place over the library and CLI built above (same flags):
# logits, images and activations against the CLI, errors, threads (pytest; Pillow for the PIL-image cases).
python3 -c "import pytest" 2>/dev/null || python3 -m pip install --quiet pytest
python3 -c "import PIL" 2>/dev/null || python3 -m pip install --quiet pillow
bin="$(swift build -c release -Xswiftc -enable-testing --show-bin-path)"
WREN_LIBRARY="$bin/libwren-shared.so" WREN_CLI="$bin/wren" PYTHONPATH=python python3 -m pytest -q -p no:cacheprovider python/tests
tools/build-embedded.sh
tools/run-embedded-qemu.sh
