// swift-tools-version:6.1
//
// Wren: trained Wide Residual Networks → compact int8 `.wren` files → low-latency inference.
//
// Module map (data flows one way):
//   WrenConvert   checkpoint import → WrenReference (float) → fold → calibrate → quantize → write
//   WrenCore      `.wren` bytes → validate → plan → run (no Foundation, Embedded-Swift friendly)
//   WrenReference float32 WRN straight from a checkpoint, convolutions through OpenBLAS
//   WrenImage     JPEG (libjpeg) decode, letterbox to 32x32, normalize
//   wren          the command-line tool
//
// System libraries (Debian): libopenblas-dev (CBLAS), libjpeg-dev (CJPEG), libcmocka-dev (C API tests).
import PackageDescription

let package = Package(
    name: "Wren",
    products: [
        .library(name: "WrenCore", targets: ["WrenCore"]),
        .library(name: "WrenConvert", targets: ["WrenConvert"]),
        .library(name: "WrenReference", targets: ["WrenReference"]),
        .library(name: "WrenImage", targets: ["WrenImage"]),
        .executable(name: "wren", targets: ["wren"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .target(name: "CJPEG", path: "Sources/CJPEG", linkerSettings: [.linkedLibrary("jpeg")]),
        .target(name: "WrenCore", path: "Sources/WrenCore"),
        .target(name: "WrenReference", dependencies: ["CBLAS"], path: "Sources/WrenReference"),
        .target(
            name: "WrenConvert",
            dependencies: ["WrenCore", "WrenReference", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            path: "Sources/WrenConvert"),
        .target(name: "WrenImage", dependencies: ["CJPEG"], path: "Sources/WrenImage"),
        .executableTarget(
            name: "wren",
            dependencies: [
                "WrenCore", "WrenConvert", "WrenReference", "WrenImage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/wren"),
        .testTarget(name: "WrenCoreTests", dependencies: ["WrenCore"], path: "Tests/WrenCoreTests"),
        .testTarget(name: "WrenReferenceTests", dependencies: ["WrenReference", "WrenConvert"], path: "Tests/WrenReferenceTests"),
        .testTarget(name: "WrenConvertTests", dependencies: ["WrenConvert", "WrenCore", "WrenReference"], path: "Tests/WrenConvertTests"),
        .testTarget(name: "WrenImageTests", dependencies: ["WrenImage"], path: "Tests/WrenImageTests"),
        .testTarget(name: "WrenCLITests", dependencies: ["wren"], path: "Tests/WrenCLITests"),
    ]
)
