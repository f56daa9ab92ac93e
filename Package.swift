// swift-tools-version:6.1
//
// Wren: trained Wide Residual Networks → compact int8 `.wren` files → low-latency inference.
//
// Module map (data flows one way):
//   WrenConvert   checkpoint import → WrenReference (float) → fold → calibrate → quantize → write
//   WrenCore      `.wren` bytes → validate → plan → run (no Foundation, Embedded-Swift friendly);
//                 Format/ (records, reader, writer), Execution/, Kernels/ (references, portable), Quant/
//   WrenKernelsAVX512VNNI, WrenKernelsAVX2, WrenKernelsARM64   one ISA's kernel table each, for WrenCore
//   WrenHost      thread pool; KernelSelection picks the fastest table the CPU runs (WREN_KERNELS)
//   WrenONNX      ONNX ModelProto → WRN state dict (topology matching), for WrenConvert's importer
//   WrenNetwork   the WRN description: block layout, state_dict keys, float32 parameters (no BLAS)
//   WrenReference float32 WRN forward pass over WrenNetwork's parameters, convolutions through OpenBLAS
//   WrenTrain     float32 training: layers with backward passes, optimizers, the training loop
//   WrenImage     JPEG (libjpeg) and PNG (libpng) decode, letterbox to 32x32, normalize
//   WrenPhotos    a folder of photos (one subfolder per class): discovery, split, decoded cache
//   wren          the command-line tool
//
// System libraries (Debian): libopenblas-dev (CBLAS), libjpeg-dev (CJPEG), libpng-dev (CPNG),
// libcmocka-dev (C API tests).
import PackageDescription

#if arch(x86_64)
/// `-Xcc -march` enables the ISA for the intrinsics' headers and, through the Clang importer, for
/// Swift's own code generation (without it `_mm512_dpbusd_epi32` does not compile). Each module
/// gets exactly the ISA its runtime check in CWrenCPU tests, as an x86-64 microarchitecture level
/// (`x86-64-v3`, `-v4`): a named CPU such as icelake-server or haswell would also enable
/// extensions (VBMI, GFNI, ...) that some CPUs passing the check lack, e.g. Cascade Lake.
let avx512VNNIKernelFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=x86-64-v4", "-Xcc", "-mavx512vnni"])]
let avx2KernelFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=x86-64-v3"])]
#else
let avx512VNNIKernelFlags: [SwiftSetting] = []
let avx2KernelFlags: [SwiftSetting] = []
#endif
#if arch(arm64)
/// The `sdot` intrinsics need the dot-product extension enabled (only used after the HWCAP check).
let arm64KernelFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=armv8.2-a+dotprod"])]
#else
let arm64KernelFlags: [SwiftSetting] = []
#endif

let package = Package(
    name: "Wren",
    products: [
        .library(name: "WrenCore", targets: ["WrenCore"]),
        .library(name: "WrenConvert", targets: ["WrenConvert"]),
        .library(name: "WrenNetwork", targets: ["WrenNetwork"]),
        .library(name: "WrenReference", targets: ["WrenReference"]),
        .library(name: "WrenImage", targets: ["WrenImage"]),
        .library(name: "WrenHost", targets: ["WrenHost"]),
        .executable(name: "wren", targets: ["wren"]),
        // The C API (Sources/CWren/include/wren.h) as libwren-shared.so and libwren-static.a ("wren" is
        // the CLI's product name, and product names must be unique).
        .library(name: "wren-shared", type: .dynamic, targets: ["WrenC"]),
        .library(name: "wren-static", type: .static, targets: ["WrenC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        // ONNX import (WrenONNX): the generated onnx.proto code is committed, so only the runtime
        // library is needed; no protoc plugin runs at build time.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .target(name: "CJPEG", path: "Sources/CJPEG", linkerSettings: [.linkedLibrary("jpeg")]),
        .target(name: "CPNG", path: "Sources/CPNG", linkerSettings: [.linkedLibrary("png")]),
        .target(name: "WrenCore", path: "Sources/WrenCore"),
        // AVX-512 VNNI kernels: compiled for x86-64-v4 + VNNI (Zen 4 has it too) and only ever
        // called after WrenHost has checked the CPU. Its sources are empty on other architectures.
        .target(
            name: "WrenKernelsAVX512VNNI", dependencies: ["WrenCore"], path: "Sources/WrenKernelsAVX512VNNI",
            swiftSettings: avx512VNNIKernelFlags),
        // AVX2 kernels for x86-64 CPUs without AVX-512 VNNI, chosen after `wren_cpu_has_avx2()`.
        .target(
            name: "WrenKernelsAVX2", dependencies: ["WrenCore"], path: "Sources/WrenKernelsAVX2",
            swiftSettings: avx2KernelFlags),
        // AArch64 dot-product kernels, chosen after `wren_cpu_has_arm64_dotprod()`. Empty on other
        // architectures; tools/run-embedded-qemu.sh checks them on an emulated Cortex-A76.
        .target(
            name: "WrenKernelsARM64", dependencies: ["WrenCore"], path: "Sources/WrenKernelsARM64",
            swiftSettings: arm64KernelFlags),
        .target(name: "CWrenCPU", path: "Sources/CWrenCPU"),
        // Host runtime: thread pool and kernel selection (WrenCore itself has neither).
        .target(name: "WrenHost", dependencies: ["WrenCore", "WrenKernelsAVX512VNNI", "WrenKernelsAVX2", "WrenKernelsARM64", "CWrenCPU"], path: "Sources/WrenHost"),
        // What a WRN is (layout, tensor names, parameters, their checks): plain Swift, no Foundation, no
        // BLAS, so importers, the float reference and training share one description.
        .target(name: "WrenNetwork", path: "Sources/WrenNetwork"),
        .target(name: "WrenReference", dependencies: ["CBLAS", "CWrenCPU", "WrenNetwork", "WrenTrainKernelsX86"], path: "Sources/WrenReference"),
        // Float32 training (host side): layers with backward passes, optimizers, the training loop.
        // OpenBLAS for the GEMMs; never WrenCore (training is not part of what runs on a device).
        .target(name: "WrenTrain", dependencies: ["CBLAS", "WrenNetwork", "WrenTrainKernelsX86", "CWrenCPU"], path: "Sources/WrenTrain"),
        // Training's AVX-512 float kernels (the direct 3x3 convolution), compiled like WrenKernelsAVX512VNNI and
        // chosen by WrenTrain only after `wren_cpu_has_avx512vnni()`. Empty on other architectures.
        .target(name: "WrenTrainKernelsX86", path: "Sources/WrenTrainKernelsX86", swiftSettings: avx512VNNIKernelFlags),
        .target(
            name: "WrenConvert",
            dependencies: ["WrenCore", "WrenNetwork", "WrenReference", "WrenFiles", "WrenCharts", "WrenONNX", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            path: "Sources/WrenConvert"),
        // ONNX import: the onnx.proto messages (generated once by tools/generate_onnx_proto.sh and
        // committed) and the matcher that reads a WRN graph by its topology into WrenNetwork's state
        // dict keys. No BLAS; WrenConvert's CheckpointLoader calls it.
        .target(
            name: "WrenONNX", dependencies: ["WrenNetwork", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/WrenONNX"),
        // POSIX file reading with strerror reasons, for the host-side modules.
        .target(name: "WrenFiles", path: "Sources/WrenFiles"),
        // SVG assembly for the charts the CLI writes (validation report, training curves).
        .target(name: "WrenCharts", path: "Sources/WrenCharts"),
        .target(name: "WrenImage", dependencies: ["CJPEG", "CPNG", "WrenFiles"], path: "Sources/WrenImage"),
        // A folder of photos, one subfolder per class, for `wren train DATA_DIR`: discovery by content,
        // the stratified split and split files, and the decoded, letterboxed images cached in memory.
        .target(name: "WrenPhotos", dependencies: ["WrenImage", "WrenFiles"], path: "Sources/WrenPhotos"),
        // C API: the hand-written header and the per-thread last error live in C (CWren), the
        // functions in Swift (WrenC, exported with @_cdecl; WrenImage for wren_model_preprocess_*). Tests: Tests/CAPI (cmocka).
        .target(name: "CWren", path: "Sources/CWren"),
        .target(name: "WrenC", dependencies: ["CWren", "WrenCore", "WrenHost", "WrenImage"], path: "Sources/WrenC"),
        .executableTarget(
            name: "wren",
            dependencies: [
                "WrenCore", "WrenConvert", "WrenNetwork", "WrenReference", "WrenImage", "WrenHost", "WrenTrain", "WrenCharts", "WrenPhotos", "WrenFiles",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/wren"),
        .testTarget(name: "WrenCoreTests", dependencies: ["WrenCore", "WrenTestSupport"], path: "Tests/WrenCoreTests"),
        // Interposes malloc in the test binary to count allocations (NoAllocationTests).
        .target(name: "AllocationCounter", path: "Tests/AllocationCounter"),
        // What several test targets share (the seeded generator, the `.wren` file editor).
        .target(name: "WrenTestSupport", dependencies: ["WrenCore"], path: "Tests/WrenTestSupport"),
        .testTarget(
            name: "WrenHostTests", dependencies: ["WrenHost", "WrenCore", "WrenKernelsAVX512VNNI", "WrenKernelsAVX2", "WrenConvert", "AllocationCounter", "WrenTestSupport"],
            path: "Tests/WrenHostTests"),
        .testTarget(name: "WrenNetworkTests", dependencies: ["WrenNetwork", "WrenTestSupport"], path: "Tests/WrenNetworkTests"),
        .testTarget(
            name: "WrenReferenceTests", dependencies: ["WrenReference", "WrenNetwork", "WrenConvert", "WrenTestSupport"],
            path: "Tests/WrenReferenceTests"),
        .testTarget(
            name: "WrenConvertTests", dependencies: ["WrenConvert", "WrenCore", "WrenNetwork", "WrenReference", "WrenHost", "WrenTestSupport"],
            path: "Tests/WrenConvertTests"),
        .testTarget(
            name: "WrenONNXTests", dependencies: ["WrenONNX", "WrenConvert", "WrenNetwork", "WrenReference", "WrenCore", "WrenHost"],
            path: "Tests/WrenONNXTests"),
        .testTarget(name: "WrenTrainTests", dependencies: ["WrenTrain", "WrenNetwork", "WrenConvert", "WrenTestSupport", "AllocationCounter"], path: "Tests/WrenTrainTests"),
        .testTarget(name: "WrenImageTests", dependencies: ["WrenImage"], path: "Tests/WrenImageTests"),
        .testTarget(name: "WrenPhotosTests", dependencies: ["WrenPhotos", "WrenImage"], path: "Tests/WrenPhotosTests"),
        // WrenConvert and WrenCore build the odd .wren files (other input sizes, hostile scales) the CLI must survive.
        .testTarget(name: "WrenCLITests", dependencies: ["wren", "WrenPhotos", "WrenImage", "WrenConvert", "WrenCore", "WrenTestSupport"], path: "Tests/WrenCLITests"),
    ]
)
