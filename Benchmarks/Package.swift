// swift-tools-version:6.1
//
// Microkernel benchmarks (ordo-one/benchmark, formerly package-benchmark), kept in their own package
// so the main build and `swift test` never pay for the benchmark harness. Run from this folder:
//   swift package benchmark                                  # every kernel table this CPU offers, GMAC/s per shape
//   swift package benchmark --filter '.*avx512vnni.*'        # one kernel table
//   swift package benchmark --filter '.*wrn28_10\.block3.*'  # one layer shape, every kernel
// --filter and --skip are regexes that must match the WHOLE benchmark name ("<kernel> <shape>", as
// `swift package benchmark list` prints it); one that matches nothing runs nothing and prints no table.
// Only the MallocInterposer trait is on: the RuntimeInterposer trait needs swift-runtime-interposer,
// which isn't here, so the plugin's note that it skips libSwiftRuntimeInterposerSwift.so is expected.
// It only matters for the ARC metrics (retains, releases, object allocs), which would fall back to the
// runtime hooks that crash on Swift 6.3 (ordo-one/benchmark#349): don't add those metrics here.
import PackageDescription

let package = Package(
    name: "WrenBenchmarks",
    dependencies: [
        .package(name: "Wren", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The plugin only runs executable targets whose folder sits in a folder named "Benchmarks":
        // keep this one at Benchmarks/Kernels.
        .executableTarget(
            name: "Kernels",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "WrenCore", package: "Wren"),
                .product(name: "WrenHost", package: "Wren"),
            ],
            path: "Kernels",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    ]
)
