#!/usr/bin/env bash
# Regenerates Sources/WrenONNX/Generated/onnx.pb.swift from onnx.proto. The output is COMMITTED: the
# build never runs protoc or its Swift plugin (CI needs neither). Run it only to move to another
# onnx.proto version, and commit the result with the versions below updated.
#
# How the committed file was made (2026-12-08):
#   onnx.proto       from the `onnx` pip package 1.23.2 (site-packages/onnx/onnx.proto, proto2,
#                    package onnx; identical to onnx-ml.proto in that release)
#   protoc           Debian's protobuf-compiler (apt-get install -y protobuf-compiler)
#   protoc-gen-swift apple/swift-protobuf 1.39.0, the same version Package.swift depends on:
#                      git clone https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#                      git -C /tmp/swift-protobuf checkout 1.39.0
#                      (cd /tmp/swift-protobuf && swift build -c release --product protoc-gen-swift)
#
#   tools/generate_onnx_proto.sh [PATH/TO/onnx.proto] [PATH/TO/protoc-gen-swift]
set -euo pipefail
cd "$(dirname "$0")/.."
proto=${1:-$(python3 -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "onnx.proto"))')}
plugin=${2:-/tmp/swift-protobuf/.build/release/protoc-gen-swift}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$proto" "$work/onnx.proto"
# Internal visibility: WrenONNX's own API is ONNXImporter; the messages stay inside the module.
protoc --plugin=protoc-gen-swift="$plugin" --proto_path="$work" \
    --swift_opt=Visibility=Internal --swift_out="$work" "$work/onnx.proto"
mkdir -p Sources/WrenONNX/Generated
cp "$work/onnx.pb.swift" Sources/WrenONNX/Generated/onnx.pb.swift
echo "wrote Sources/WrenONNX/Generated/onnx.pb.swift from $proto" >&2
