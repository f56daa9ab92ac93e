// Counts the calling thread's heap allocations by interposing glibc's allocation functions in the
// test executable, so a test can prove `WrenContext.run` allocates nothing (TFLite Micro's rule).
#include <errno.h>
#include <stddef.h>
#include "allocation_counter.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static __thread long thread_allocations;

long wren_thread_allocation_count(void) { return thread_allocations; }

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WREN_SANITIZER_OWNS_MALLOC 1
#endif
#endif

// Sanitizers replace malloc themselves; interposing it too crashes their start-up. Under a
// sanitizer the counter stays at zero and NoAllocationTests' probe check fails loudly.
#ifndef WREN_SANITIZER_OWNS_MALLOC

void *malloc(size_t size) {
    thread_allocations++;
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    thread_allocations++;
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    thread_allocations++;
    return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
    thread_allocations++;
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    thread_allocations++;
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    thread_allocations++;
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *result = pointer;
    return 0;
}
#endif
