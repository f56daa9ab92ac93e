#ifndef WREN_CPU_H
#define WREN_CPU_H
/// What the CPU running this process supports, for choosing kernels at load time (as XNNPACK does).
/// 1 when the CPU and OS support x86-64-v4 (AVX-512 F/BW/CD/DQ/VL and everything in v3) plus
/// AVX-512 VNNI, the ISA the WrenKernelsAVX512VNNI kernels are compiled for; else 0.
int wren_cpu_has_avx512vnni(void);
/// 1 when the CPU and OS support x86-64-v3 (AVX2, BMI1/2, FMA, F16C, LZCNT, MOVBE), the ISA the
/// WrenKernelsAVX2 kernels are compiled for; else 0.
int wren_cpu_has_avx2(void);
/// 1 when the CPU is AArch64 with the Armv8.2 dot-product instructions (the WrenKernelsARM64
/// kernels), as Linux reports them (HWCAP_ASIMDDP), else 0.
int wren_cpu_has_arm64_dotprod(void);
#endif
