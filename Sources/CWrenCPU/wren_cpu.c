#include "wren_cpu.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#endif

int wren_cpu_has_avx512vnni(void) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    __builtin_cpu_init();
    /* x86-64-v4 (AVX-512 F/BW/CD/DQ/VL over v3's AVX2, BMI1/2, FMA, F16C, LZCNT, MOVBE) plus VNNI:
       exactly what WrenKernelsAVX512VNNI is compiled for. */
    return __builtin_cpu_supports("x86-64-v4") && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

int wren_cpu_has_avx2(void) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    __builtin_cpu_init();
    /* x86-64-v3 (AVX2, BMI1/2, FMA, F16C, LZCNT, MOVBE): what WrenKernelsAVX2 is compiled for. */
    return __builtin_cpu_supports("x86-64-v3");
#else
    return 0;
#endif
}

int wren_cpu_has_arm64_dotprod(void) {
#if defined(__aarch64__) && defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
    return 0;
#endif
}
