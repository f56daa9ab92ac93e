// The little C a bare-metal Embedded Swift program needs on QEMU's AArch64 `virt` machine: the
// memory functions and allocator the Swift runtime calls, stack-protector hooks, semihosting
// output, and `main`, which runs WrenCore over the embedded images and prints every logit as the
// hex of its float32 bits (so the host can compare them with `wren run` exactly).
#include <stddef.h>
#include <stdint.h>

// MARK: semihosting (ARM "Semihosting for AArch32 and AArch64", HLT #0xF000)

static uint64_t semihost(uint64_t operation, const void *parameter) {
    register uint64_t x0 __asm__("x0") = operation;
    register const void *x1 __asm__("x1") = parameter;
    __asm__ volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
    return x0;
}

static void put_string(const char *text) { semihost(0x04 /* SYS_WRITE0 */, text); }

void semihost_exit(int status) {
    const uint64_t block[2] = {0x20026 /* ADP_Stopped_ApplicationExit */, (uint64_t)status};
    semihost(0x18 /* SYS_EXIT */, block);
}

// MARK: memory functions (volatile stores keep the compiler from turning the loops into calls to
// these very functions)

void *memset(void *destination, int value, size_t count) {
    volatile unsigned char *d = destination;
    while (count--) *d++ = (unsigned char)value;
    return destination;
}

void *memcpy(void *restrict destination, const void *restrict source, size_t count) {
    volatile unsigned char *d = destination;
    const unsigned char *s = source;
    while (count--) *d++ = *s++;
    return destination;
}

void *memmove(void *destination, const void *source, size_t count) {
    volatile unsigned char *d = destination;
    const unsigned char *s = source;
    if (d < s) {
        while (count--) *d++ = *s++;
    } else {
        while (count--) d[count] = s[count];
    }
    return destination;
}

int memcmp(const void *a, const void *b, size_t count) {
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < count; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

// A bump allocator: WrenCore allocates only while loading and planning, never while running.
static _Alignas(64) unsigned char heap[8 << 20];
static size_t heap_used;

int posix_memalign(void **result, size_t alignment, size_t size) {
    size_t start = (heap_used + alignment - 1) & ~(alignment - 1);
    if (start + size > sizeof heap) return 12;  // ENOMEM
    heap_used = start + size;
    *result = heap + start;
    return 0;
}

void free(void *pointer) { (void)pointer; }

uintptr_t __stack_chk_guard = 0x5A17C0DEu;

void __stack_chk_fail(void) {
    put_string("stack smashing detected\n");
    semihost_exit(3);
    for (;;) {}
}

// MARK: main

extern const unsigned char wren_model_bytes[], wren_model_end[];
extern const float wren_input_values[], wren_input_end[];

int32_t wren_bare_run(const void *model, ptrdiff_t length, const float *input, ptrdiff_t images, float *logits,
                      void *arena, ptrdiff_t arena_capacity, ptrdiff_t *arena_used, ptrdiff_t *classes);

int32_t wren_bare_check_kernels(ptrdiff_t *checked, ptrdiff_t *failure);

static _Alignas(64) unsigned char arena[1 << 20];
static float logits[64 * 1024];

static void put_unsigned(uint64_t value, int base, int digits) {
    char text[24];
    int n = 0;
    do {
        text[n++] = "0123456789abcdef"[value % (uint64_t)base];
        value /= (uint64_t)base;
    } while (value != 0 || n < digits);
    char reversed[24];
    for (int i = 0; i < n; i++) reversed[i] = text[n - 1 - i];
    reversed[n] = '\0';
    put_string(reversed);
}

int main(void) {
    ptrdiff_t images = (wren_input_end - wren_input_values) / (3 * 32 * 32);
    ptrdiff_t arena_used = 0, classes = 0, tiles = 0, failure[10] = {0};
    int32_t mismatching = wren_bare_check_kernels(&tiles, failure);
    put_string("tiles ");
    put_unsigned((uint64_t)tiles, 10, 1);
    put_string(" mismatching ");
    put_unsigned((uint64_t)mismatching, 10, 1);
    put_string("\n");
    if (mismatching != 0) {
        static const char *const names[10] = {"trial", "in", "out", "height", "width", "kernel", "stride", "padding",
                                               "tile", "residual"};
        put_string("first mismatch:");
        for (int i = 0; i < 10; i++) {
            put_string(" ");
            put_string(names[i]);
            put_string(" ");
            put_unsigned((uint64_t)failure[i], 10, 1);
        }
        put_string("\n");
        return 4;
    }
    int32_t status = wren_bare_run(wren_model_bytes, wren_model_end - wren_model_bytes, wren_input_values, images,
                                   logits, arena, sizeof arena, &arena_used, &classes);
    put_string("status ");
    put_unsigned((uint64_t)status, 10, 1);
    put_string("\narena ");
    put_unsigned((uint64_t)arena_used, 10, 1);
    put_string("\nheap ");
    put_unsigned(heap_used, 10, 1);
    put_string("\n");
    if (status != 0) return (int)status;
    for (ptrdiff_t i = 0; i < images * classes; i++) {
        uint32_t bits;
        __builtin_memcpy(&bits, &logits[i], 4);
        put_string("logit ");
        put_unsigned(bits, 16, 8);
        put_string("\n");
    }
    return 0;
}
