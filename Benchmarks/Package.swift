// swift-tools-version:6.1
//
// Microkernel benchmarks (ordo-one/package-benchmark), kept in their own package so the main
// build and `swift test` never pay for the benchmark harness. Run from this folder:
//   swift package benchmark                 # every kernel table this CPU offers, GMAC/s per shape
//   swift package benchmark --filter 8x32   # one kernel
import PackageDescription

let package = Package(
    name: "WrenBenchmarks",
    dependencies: [
        .package(name: "Wren", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "Kernels",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "WrenCore", package: "Wren"),
                .product(name: "WrenHost", package: "Wren"),
            ],
            path: "Kernels",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]),
    ]
)
