import CWrenCPU
import WrenCore
#if arch(x86_64)
import WrenKernelsAVX512VNNI
import WrenKernelsAVX2
#endif
#if arch(arm64)
import WrenKernelsARM64
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Which kernel tables this CPU can run, and the one a context uses (WrenCore leaves the choice to
/// the host; threads are `ThreadPool`'s).
public enum KernelSelection {
    /// Every kernel table usable on this machine, fastest first. Setting `WREN_KERNELS` in the
    /// environment to a table's name or its last part (`avx512vnni`, `avx2`, `neondot`, `portable`,
    /// `reference`) forces that one, so tests and users can cover each path.
    public static func availableKernels() -> [KernelTable] {
        var tables: [KernelTable] = []
        #if arch(x86_64)
        if wren_cpu_has_avx512vnni() != 0 { tables.append(X86Kernels.avx512vnni) }
        if wren_cpu_has_avx2() != 0 { tables.append(X86AVX2Kernels.avx2) }
        #endif
        #if arch(arm64)
        if wren_cpu_has_arm64_dotprod() != 0 { tables.append(ARM64Kernels.neonDot) }
        #endif
        tables.append(.portable)
        tables.append(.reference)
        return tables
    }

    /// The kernel table to use: `WREN_KERNELS` (a table name or `portable`/`reference`/`auto`) or the fastest.
    public static func selectedKernels(_ requested: String? = nil) throws -> KernelTable {
        let choice = requested ?? getenv("WREN_KERNELS").map { String(cString: $0) } ?? "auto"
        let tables = availableKernels()
        if choice.isEmpty || choice == "auto" { return tables[0] }
        if let match = tables.first(where: { $0.name == choice || $0.name.hasSuffix("-" + choice) }) { return match }
        if knownKernelISAs.contains(where: { choice == $0 || choice.hasSuffix("-" + $0) }) {
            throw KernelSelectionError.unavailableKernels(choice, available: tables.map(\.name))
        }
        throw KernelSelectionError.unknownKernels(choice, available: tables.map(\.name))
    }

    /// The last part of every kernel table's name on any CPU Wren supports, so a table built for
    /// another CPU is reported as unavailable here rather than unknown.
    public static let knownKernelISAs = ["avx512vnni", "avx2", "neondot", "portable", "reference"]
}

public enum KernelSelectionError: Error, CustomStringConvertible {
    case unknownKernels(String, available: [String])
    /// Kernels Wren has, but not for this CPU (e.g. neondot on x86-64).
    case unavailableKernels(String, available: [String])

    public var description: String {
        switch self {
        case .unknownKernels(let name, let available):
            return "unknown kernels '\(name)'; this machine offers: \(available.joined(separator: ", "))"
        case .unavailableKernels(let name, let available):
            return "kernels '\(name)' are not available on this CPU; it offers: \(available.joined(separator: ", "))"
        }
    }
}
