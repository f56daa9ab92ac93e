#ifndef WREN_ALLOCATION_COUNTER_H
#define WREN_ALLOCATION_COUNTER_H
/// Heap allocations (malloc, calloc, realloc, memalign, posix_memalign, aligned_alloc) made so far
/// by the calling thread. Linking this target into a test binary interposes those functions and
/// forwards to glibc's own implementations.
long wren_thread_allocation_count(void);
#endif
