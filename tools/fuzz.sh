#!/usr/bin/env bash
# Builds and runs one libFuzzer target for SECONDS seconds.
#
#   tools/fuzz.sh TARGET SECONDS [extra libFuzzer flags...]
#   TARGET: wren-model   bytes → WrenModel (read, validate) → WrenContext (plan) → run one image
#           unpickler    bytes → Unpickler.parse → state-dict search → tensor references
#           checkpoint   bytes → TorchCheckpoint.floatTensors (zip + pickle + storages)
#           convert      bytes → any importer → calibration on two 8x8 images → quantize → write, with
#                        each input's peak RSS checked against its size
#           validate     bytes → WrenModel → Validator.validate against a float WRN-10-1 on two 8x8 images
#                        → the report's table, JSON and SVG → `wren run`'s prediction lines (debug ASan runs
#                        about one input a second: give it -timeout=30)
#           onnx         bytes → ONNXImporter.stateDict (protobuf decode, tensors, external data in
#                        fixtures/onnx/, WRN topology matching)
#   e.g. tools/fuzz.sh wren-model 600
#   To keep fuzzing past a crash (while it is being fixed), use fork mode:
#        tools/fuzz.sh checkpoint 600 -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1
#
# How: the libraries are built by SwiftPM in .build-fuzz with -sanitize=fuzzer,address (coverage +
# AddressSanitizer) and -enable-testing (the importer entry points are internal), in debug: with
# ASan, release objects call stdlib SIMD specializations libswiftCore does not export. The harness in
# Sources/Fuzz<Target>/ is then compiled and linked with swiftc, whose -sanitize=fuzzer brings
# libFuzzer's own main. (That is why the harnesses are not SwiftPM targets: SwiftPM renames an
# executable's `main`, and a normal `swift build` would have no libFuzzer to link.)
# SWIFT_BACKTRACE=enable=no leaves crash reports to ASan/libFuzzer.
#
# Seeds: fixtures/fuzz-corpus/<target>/ (committed, read only). New inputs libFuzzer finds go to
# .build-fuzz/corpus/<target>/, crashes to .build-fuzz/findings/<target>/: turn each one into a test
# (.wren files: Tests/WrenCoreTests/CorruptFileTests; checkpoints: Tests/WrenConvertTests/HostileImportTests)
# and fix it.
# Needs: Swift 6.3 toolchain (its clang runtime has libFuzzer), libopenblas-dev, zlib1g-dev.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -lt 2 ]]; then
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
target=$1
seconds=$2
shift 2

shared=""   # harness files two targets share
case "$target" in
    wren-model) source_dir=Sources/FuzzWrenModel; library=WrenCore; shared=Sources/FuzzModelInput ;;
    unpickler)  source_dir=Sources/FuzzUnpickler; library=WrenConvert ;;
    checkpoint) source_dir=Sources/FuzzCheckpoint; library=WrenConvert ;;
    convert)    source_dir=Sources/FuzzConvert; library=WrenConvert ;;
    validate)   source_dir=Sources/FuzzValidate; library=WrenConvert; shared=Sources/FuzzModelInput ;;
    onnx)       source_dir=Sources/FuzzONNX; library=WrenONNX ;;
    *) echo "error: unknown target '$target' (wren-model, unpickler, checkpoint, convert, validate, onnx)" >&2; exit 2 ;;
esac
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "error: SECONDS must be a whole number, got '$seconds'" >&2; exit 2; }

scratch=.build-fuzz
flags=(-Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing)
echo "building $library with -sanitize=fuzzer,address ..." >&2
swift build --scratch-path "$scratch" -c debug --target "$library" "${flags[@]}" >&2
products=$(swift build --scratch-path "$scratch" -c debug --show-bin-path "${flags[@]}")

# Object files of the library and everything it depends on.
objects=()
modules=(WrenCore)
if [[ $library == WrenONNX ]]; then modules=(WrenNetwork SwiftProtobuf WrenONNX); fi
# Every module WrenConvert depends on: the linker resolves the references of all its objects, not
# only of the code a harness reaches.
if [[ $library == WrenConvert ]]; then
    modules+=(WrenFiles WrenNetwork WrenCharts WrenTrainKernelsX86 CWrenCPU WrenReference ZIPFoundation SwiftProtobuf WrenONNX WrenConvert)
fi
for module in "${modules[@]}"; do
    map="$products/$module.build/output-file-map.json"
    if [[ -f $map ]]; then
        # A Swift module: only the objects of its current sources (a file moved to another module
        # leaves its old object behind in an incremental build, and linking it fails).
        mapfile -t current < <(python3 -c 'import json, sys
print("\n".join(v["object"] for v in json.load(open(sys.argv[1])).values() if "object" in v))' "$map")
        objects+=("${current[@]}")
    else
        objects+=("$products/$module.build"/*.o)
    fi
done

binary=$scratch/fuzz-$target
echo "linking $binary ..." >&2
swiftc -O -parse-as-library -sanitize=fuzzer,address -Xlinker --gc-sections \
    -I "$products/Modules" -I "$products" \
    -Xcc -fmodule-map-file=Sources/CBLAS/module.modulemap \
    -Xcc -fmodule-map-file="$scratch/checkouts/ZIPFoundation/Sources/CZLib/module.modulemap" \
    "$source_dir"/*.swift ${shared:+"$shared"/*.swift} "${objects[@]}" -lopenblas -lz -o "$binary"

corpus=$scratch/corpus/$target
findings=$scratch/findings/$target
seeds=fixtures/fuzz-corpus/$target
# The validate target reads .wren files like wren-model, and shares its seeds.
if [[ $target == validate ]]; then seeds=fixtures/fuzz-corpus/wren-model; fi
mkdir -p "$corpus" "$findings"
echo "fuzzing $target for $seconds s (corpus $corpus, seeds $seeds, findings $findings)" >&2
# The convert target measures each input's peak RSS: a small quarantine keeps ASan's freed-but-held
# memory from counting against the input.
asan_options=detect_leaks=0
if [[ $target == convert ]]; then asan_options+=:quarantine_size_mb=16; fi
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=$asan_options WREN_FUZZ_CORPUS=$corpus "$binary" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=262144 \
    -print_final_stats=1 -artifact_prefix="$findings/" "$@" "$corpus" "$seeds"
