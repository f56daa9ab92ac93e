#!/usr/bin/env bash
# Runs every test: installs missing system packages, then `swift test` in release mode
# (the int8 accuracy tests run hundreds of real images; -enable-testing keeps @testable imports working).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-system-packages.sh
swift test -c release -Xswiftc -enable-testing "$@"
