/*
 * int8_peak: this CPU's peak int8 multiply-accumulate rate, measured the way Wren's kernels issue
 * the instructions, so `wren bench` and tools/bench_peers.py can state efficiency against the limit
 * (issue 16 item 4).
 *
 *   AVX-512 VNNI  vpdpbusd zmm: 64 u8 x s8 MACs per instruction (WrenKernelsAVX512VNNI's 8x32 GEMM tile)
 *   AVX-VNNI      vpdpbusd ymm: 32 MACs (the VEX form; no Wren kernel uses it yet)
 *   AVX2 s16      vpmaddwd + vpaddd ymm: 16 s16 x s16 MACs (WrenKernelsAVX2's 2x16 tile reads
 *                 int16 im2col rows, so this is its limit)
 *   AVX2 u8       vpmaddubsw + vpmaddwd (by ones) + vpaddd ymm: 32 u8 x s8 MACs, with vpmaddubsw's
 *                 int16 saturation (what oneDNN and OpenVINO use without VNNI: the machine's int8
 *                 peak on such CPUs)
 *
 * Register-only loops with 10 independent accumulators (enough to hide every latency on current
 * cores); an empty asm makes the multiplicand opaque each iteration so the compiler cannot hoist
 * the multiply out of the loop. Each ISA runs on 1 thread, then on every thread at once.
 *
 *   /opt/swift/usr/bin/clang -O2 -pthread -o /tmp/int8_peak tools/int8_peak.c && /tmp/int8_peak [threads] [seconds]
 *   (clang 15 or later, e.g. the Swift toolchain's; GCC 12 spills accumulators to the stack in these
 *   loops and measures about half; x86-64 only; one line per ISA this CPU has, then a JSON line)
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define UNROLLED_ITERATIONS 4096

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef uint64_t (*kernel_fn)(uint64_t iterations, int32_t *sink);

/* The multiplicand goes through an empty asm before every use, so each instruction has a fresh,
 * opaque operand the compiler can neither hoist nor share between accumulators. */
#define OPAQUE(x) __asm__ volatile("" : "+x"(x))

/* One register-only kernel per ISA: ten named accumulators, each updated once per iteration (ten
 * cover vpdpbusd's latency at one or two per cycle, and with x, w and a temporary still fit AVX2's
 * sixteen registers: twelve made GCC spill). */
#define PEAK_KERNEL(name, isa, vector, set1_x, set1_w, xbits, wbits, accumulate, add, macs)            \
    __attribute__((target(isa))) static uint64_t name(uint64_t iterations, int32_t *sink) {             \
        vector x = set1_x(xbits), w = set1_w(wbits);                                                     \
        vector a0 = x, a1 = x, a2 = x, a3 = x, a4 = x, a5 = x, a6 = x, a7 = x, a8 = x, a9 = x;          \
        for (uint64_t n = 0; n < iterations; n++) {                                                      \
            OPAQUE(x); a0 = accumulate(a0, x, w); OPAQUE(x); a1 = accumulate(a1, x, w);                  \
            OPAQUE(x); a2 = accumulate(a2, x, w); OPAQUE(x); a3 = accumulate(a3, x, w);                  \
            OPAQUE(x); a4 = accumulate(a4, x, w); OPAQUE(x); a5 = accumulate(a5, x, w);                  \
            OPAQUE(x); a6 = accumulate(a6, x, w); OPAQUE(x); a7 = accumulate(a7, x, w);                  \
            OPAQUE(x); a8 = accumulate(a8, x, w); OPAQUE(x); a9 = accumulate(a9, x, w);                  \
        }                                                                                                \
        vector total = add(add(add(add(a0, a1), add(a2, a3)), add(add(a4, a5), add(a6, a7))),            \
                           add(a8, a9));                                                                 \
        int32_t lanes[sizeof(vector) / 4];                                                               \
        memcpy(lanes, &total, sizeof lanes);                                                             \
        *sink = lanes[0];                                                                                \
        return iterations * 10 * (macs);                                                                 \
    }

#define DPBUSD_ZMM(acc, x, w) _mm512_dpbusd_epi32(acc, x, w)
#define DPBUSD_YMM(acc, x, w) _mm256_dpbusd_avx_epi32(acc, x, w)
#define MADDWD_YMM(acc, x, w) _mm256_add_epi32(acc, _mm256_madd_epi16(x, w))
#define MADDUBSW_YMM(acc, x, w) _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), _mm256_set1_epi16(1)))

PEAK_KERNEL(dpbusd_zmm, "avx512f,avx512vnni", __m512i, _mm512_set1_epi8, _mm512_set1_epi8, 3, -5, DPBUSD_ZMM,
            _mm512_add_epi32, 64)
PEAK_KERNEL(dpbusd_ymm, "avx2,avxvnni", __m256i, _mm256_set1_epi8, _mm256_set1_epi8, 3, -5, DPBUSD_YMM, _mm256_add_epi32, 32)
PEAK_KERNEL(maddwd_ymm, "avx2", __m256i, _mm256_set1_epi16, _mm256_set1_epi16, 3, -5, MADDWD_YMM, _mm256_add_epi32, 16)
PEAK_KERNEL(maddubsw_ymm, "avx2", __m256i, _mm256_set1_epi8, _mm256_set1_epi8, 3, -5, MADDUBSW_YMM, _mm256_add_epi32, 32)

struct job {
    kernel_fn kernel;
    double seconds;
    double macs_per_second;
    int32_t sink;
};

static void *run_job(void *argument) {
    struct job *job = argument;
    job->kernel(UNROLLED_ITERATIONS, &job->sink); /* warm up: clocks and the upper vector halves */
    uint64_t macs = 0;
    double start = now(), elapsed = 0;
    while (elapsed < job->seconds) {
        macs += job->kernel(UNROLLED_ITERATIONS, &job->sink);
        elapsed = now() - start;
    }
    job->macs_per_second = (double)macs / elapsed;
    return NULL;
}

/* Total MAC/s of `threads` copies running at once. */
static double measure(kernel_fn kernel, int threads, double seconds) {
    pthread_t handles[256];
    struct job jobs[256];
    for (int t = 0; t < threads; t++) {
        jobs[t] = (struct job){kernel, seconds, 0, 0};
        if (pthread_create(&handles[t], NULL, run_job, &jobs[t]) != 0) {
            fprintf(stderr, "int8_peak: cannot start thread %d\n", t);
            exit(1);
        }
    }
    double total = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(handles[t], NULL);
        total += jobs[t].macs_per_second;
    }
    return total;
}

int main(int argc, char **argv) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = argc > 1 ? atoi(argv[1]) : (int)(online > 0 ? online : 1);
    double seconds = argc > 2 ? atof(argv[2]) : 1.0;
    if (threads < 1 || threads > 256 || !(seconds > 0 && seconds <= 600)) {
        fprintf(stderr, "usage: int8_peak [threads 1...256] [seconds per measurement, (0, 600]]\n");
        return 2;
    }
    __builtin_cpu_init();
    struct { const char *name; int available; kernel_fn kernel; } isas[] = {
        {"avx512vnni (vpdpbusd zmm)", __builtin_cpu_supports("avx512vnni"), dpbusd_zmm},
        {"avxvnni (vpdpbusd ymm)", __builtin_cpu_supports("avxvnni"), dpbusd_ymm},
        {"avx2_u8 (vpmaddubsw+vpmaddwd ymm)", __builtin_cpu_supports("avx2"), maddubsw_ymm},
        {"avx2_s16 (vpmaddwd + vpaddd ymm)", __builtin_cpu_supports("avx2"), maddwd_ymm},
    };
    char json[1024] = "{";
    printf("%-34s %16s\n", "ISA", "1 thread G MAC/s");
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        if (!isas[i].available) {
            printf("%-34s %16s\n", isas[i].name, "not on this CPU");
            continue;
        }
        double one = measure(isas[i].kernel, 1, seconds) / 1e9;
        double all = measure(isas[i].kernel, threads, seconds) / 1e9;
        printf("%-34s %16.1f %9d threads: %7.1f G MAC/s\n", isas[i].name, one, threads, all);
        char entry[160];
        snprintf(entry, sizeof entry, "%s\"%.*s\": {\"one_thread_gmacs\": %.1f, \"threads\": %d, \"all_threads_gmacs\": %.1f}",
                 strlen(json) > 1 ? ", " : "", (int)strcspn(isas[i].name, " "), isas[i].name, one, threads, all);
        strncat(json, entry, sizeof json - strlen(json) - 2);
    }
    printf("%s}\n", json);
    return 0;
}
