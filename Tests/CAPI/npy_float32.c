// See npy_float32.h. Format: "\x93NUMPY", major, minor, header length (u16 for 1.x, u32 for 2.x/3.x),
// then a Python dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (4, 10), }.
#include "npy_float32.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *error, const char *path, const char *why) {
    snprintf(error, 256, "%s: %s", path, why);
    return -1;
}

int npy_float32_read(const char *path, npy_float32 *out, char *error) {
    memset(out, 0, sizeof *out);
    FILE *file = fopen(path, "rb");
    if (file == NULL) return fail(error, path, "cannot open");
    unsigned char preamble[12];
    if (fread(preamble, 1, 10, file) != 10 || memcmp(preamble, "\x93NUMPY", 6) != 0) {
        fclose(file);
        return fail(error, path, "not a .npy file");
    }
    size_t header_length;
    if (preamble[6] == 1) {
        header_length = preamble[8] | (size_t)preamble[9] << 8;
    } else {
        if (fread(preamble + 10, 1, 2, file) != 2) { fclose(file); return fail(error, path, "truncated preamble"); }
        header_length = preamble[8] | (size_t)preamble[9] << 8 | (size_t)preamble[10] << 16 | (size_t)preamble[11] << 24;
    }
    if (header_length > 65536) { fclose(file); return fail(error, path, "header too long"); }
    char *header = calloc(header_length + 1, 1);
    if (header == NULL || fread(header, 1, header_length, file) != header_length) {
        free(header);
        fclose(file);
        return fail(error, path, "truncated header");
    }
    int ok = strstr(header, "'descr': '<f4'") != NULL && strstr(header, "'fortran_order': False") != NULL;
    const char *shape = strstr(header, "'shape': (");
    if (!ok || shape == NULL) {
        free(header);
        fclose(file);
        return fail(error, path, "not a C-order little-endian float32 array");
    }
    shape += strlen("'shape': (");
    out->count = 1;
    while (*shape != ')' && out->rank < 4) {
        char *end;
        unsigned long long dimension = strtoull(shape, &end, 10);
        if (end == shape) break;
        out->shape[out->rank++] = (size_t)dimension;
        out->count *= (size_t)dimension;
        shape = end;
        while (*shape == ',' || *shape == ' ') shape++;
    }
    free(header);
    out->values = malloc(out->count * sizeof(float) + 1);
    if (out->values == NULL || fread(out->values, sizeof(float), out->count, file) != out->count) {
        fclose(file);
        npy_float32_free(out);
        return fail(error, path, "truncated data");
    }
    fclose(file);
    return 0;
}

void npy_float32_free(npy_float32 *array) {
    free(array->values);
    array->values = NULL;
}
