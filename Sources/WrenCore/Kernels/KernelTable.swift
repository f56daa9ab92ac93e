/// The convolution kernel a context runs, chosen once when the context is made. Kernels differ
/// only in speed: every entry is bit-exact with `s8Conv2DReference` (tests iterate this table).
/// ISA-specific modules (e.g. WrenKernelsAVX512VNNI) add entries; `WrenCore` itself knows only the
/// portable ones, so it builds everywhere.
public struct KernelTable: Sendable {
    /// Name by datatype, op, tile and ISA, e.g. `s8-conv2d-gemm-4x16-portable`.
    public var name: String
    /// Output pixels one call of `conv2d` should receive at most (a multiple of the kernel's rows).
    public var pixelsPerTile: Int
    /// Scratch bytes one worker needs for a convolution of `paddedDepth`.
    public var scratchBytes: @Sendable (_ paddedDepth: Int) -> Int
    public var conv2d: @Sendable (S8Conv2DTile) -> Void
    public var channelAffineReLU: @Sendable (S8ChannelAffineTile) -> Void
    /// Convolutions that read or write an int16 tensor (`ModelDescription.isWide`): the portable
    /// wide kernel in every table but `reference`, which runs the wide reference.
    public var wideConv2D: @Sendable (WideConv2DTile) -> Void

    public init(
        name: String, pixelsPerTile: Int, scratchBytes: @escaping @Sendable (Int) -> Int,
        conv2d: @escaping @Sendable (S8Conv2DTile) -> Void,
        channelAffineReLU: @escaping @Sendable (S8ChannelAffineTile) -> Void = { $0.runReference() },
        wideConv2D: @escaping @Sendable (WideConv2DTile) -> Void = wideConv2DPortable
    ) {
        self.wideConv2D = wideConv2D
        self.name = name
        self.pixelsPerTile = pixelsPerTile
        self.scratchBytes = scratchBytes
        self.conv2d = conv2d
        self.channelAffineReLU = channelAffineReLU
    }

    /// The portable Swift-SIMD kernel.
    public static let portable = KernelTable(
        name: "s8-conv2d-gemm-4x16-portable", pixelsPerTile: 32,
        scratchBytes: { 4 * $0 }, conv2d: s8Conv2DGemm4x16Portable)

    /// The scalar reference (the definition; slow). It ignores the im2col scratch.
    public static let reference = KernelTable(
        name: "s8-conv2d-reference", pixelsPerTile: 1 << 30,
        scratchBytes: { 4 * $0 }, conv2d: s8Conv2DReference, wideConv2D: wideConv2DReference)
}
