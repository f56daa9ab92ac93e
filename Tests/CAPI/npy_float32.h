// A minimal reader for the .npy files the C API tests compare against: little-endian float32,
// C order, any rank up to 4 (what `wren run --logits` and the fixtures write).
#ifndef NPY_FLOAT32_H
#define NPY_FLOAT32_H

#include <stddef.h>

typedef struct npy_float32 {
    size_t rank;
    size_t shape[4];
    size_t count;   // product of shape
    float *values;  // malloc'd, `count` values
} npy_float32;

// Reads `path`; returns 0 on success, or -1 with a reason in `error` (at least 256 bytes).
int npy_float32_read(const char *path, npy_float32 *out, char *error);

void npy_float32_free(npy_float32 *array);

#endif
