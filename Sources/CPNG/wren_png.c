#include "wren_png.h"

#include <limits.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

typedef struct {
    jmp_buf jump;
    int status;
    char message[256];
    // The input, read by wren_png_read as libpng asks for it.
    const unsigned char *bytes;
    size_t length;
    size_t offset;
} wren_png_guard;

static void wren_png_fail(png_structp png, int status, const char *text) {
    wren_png_guard *guard = (wren_png_guard *)png_get_error_ptr(png);
    guard->status = status;
    snprintf(guard->message, sizeof guard->message, "%s", text);
    longjmp(guard->jump, 1);
}

static void wren_png_error(png_structp png, png_const_charp text) {
    wren_png_fail(png, WREN_PNG_CORRUPT, text);
}

// Warnings (an odd iCCP profile, a bad CRC in an ancillary chunk libpng then drops) leave the
// pixels intact; the default handler would print them to stderr.
static void wren_png_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void wren_png_read(png_structp png, png_bytep data, size_t count) {
    wren_png_guard *guard = (wren_png_guard *)png_get_io_ptr(png);
    if (count > guard->length - guard->offset) {
        wren_png_fail(png, WREN_PNG_CORRUPT, "unexpected end of file (the PNG is truncated)");
    }
    memcpy(data, guard->bytes + guard->offset, count);
    guard->offset += count;
}

static void wren_png_copy_message(char *destination, size_t capacity, const char *text) {
    if (destination == NULL || capacity == 0) return;
    snprintf(destination, capacity, "%s", text);
}

int wren_png_decode_rgb(const unsigned char *bytes, size_t length, int *width, int *height,
                        unsigned char **rgb_out, char *error_message, size_t error_capacity) {
    if (rgb_out != NULL) *rgb_out = NULL;
    if (width != NULL) *width = 0;
    if (height != NULL) *height = 0;
    if (error_message != NULL && error_capacity > 0) error_message[0] = '\0';
    if (bytes == NULL || width == NULL || height == NULL || rgb_out == NULL) {
        wren_png_copy_message(error_message, error_capacity, "NULL argument");
        return WREN_PNG_INVALID_ARGUMENT;
    }
    if (length < 8 || png_sig_cmp(bytes, 0, 8) != 0) {
        wren_png_copy_message(error_message, error_capacity, "no PNG signature");
        return WREN_PNG_CORRUPT;
    }

    wren_png_guard guard;
    memset(&guard, 0, sizeof guard);
    guard.bytes = bytes;
    guard.length = length;

    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &guard, wren_png_error, wren_png_warning);
    if (png == NULL) {
        wren_png_copy_message(error_message, error_capacity, "libpng could not allocate its decoder");
        return WREN_PNG_OUT_OF_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    // Written between setjmp and longjmp, read after: volatile keeps them out of registers.
    unsigned char *volatile rgba = NULL;
    png_bytep *volatile rows = NULL;

    if (setjmp(guard.jump)) {
        free(rgba);
        free(rows);
        png_destroy_read_struct(&png, info != NULL ? &info : NULL, NULL);
        if (guard.status != WREN_PNG_TOO_LARGE && guard.status != WREN_PNG_OUT_OF_MEMORY) {
            *width = 0;
            *height = 0;
        }
        wren_png_copy_message(error_message, error_capacity, guard.message);
        return guard.status;
    }
    if (info == NULL) wren_png_fail(png, WREN_PNG_OUT_OF_MEMORY, "libpng could not allocate its decoder");

    // IHDR must come first (libpng checks that); its size is checked here, before libpng reads
    // it, so an oversized image gets its own status instead of libpng's "Invalid IHDR data".
    if (length >= 24 && memcmp(bytes + 12, "IHDR", 4) == 0) {
        png_uint_32 header_width = png_get_uint_32(bytes + 16);
        png_uint_32 header_height = png_get_uint_32(bytes + 20);
        if (header_width > WREN_PNG_MAX_DIMENSION || header_height > WREN_PNG_MAX_DIMENSION) {
            *width = header_width > INT_MAX ? INT_MAX : (int)header_width;
            *height = header_height > INT_MAX ? INT_MAX : (int)header_height;
            char text[128];
            snprintf(text, sizeof text, "%ux%u exceeds the %dx%d limit", (unsigned)header_width,
                     (unsigned)header_height, WREN_PNG_MAX_DIMENSION, WREN_PNG_MAX_DIMENSION);
            wren_png_fail(png, WREN_PNG_TOO_LARGE, text);
        }
    }
    png_set_read_fn(png, &guard, wren_png_read);
    png_set_user_limits(png, WREN_PNG_MAX_DIMENSION, WREN_PNG_MAX_DIMENSION);
    png_set_chunk_malloc_max(png, WREN_PNG_MAX_CHUNK_BYTES);
    // Pixels need only IHDR, PLTE, tRNS and IDAT: every other chunk (text, profiles, gamma,
    // unknown ones) is skipped without being inflated or parsed.
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_read_info(png, info);

    png_uint_32 image_width = png_get_image_width(png, info);
    png_uint_32 image_height = png_get_image_height(png, info);
    *width = (int)image_width;
    *height = (int)image_height;
    if ((uint64_t)image_width * image_height > (uint64_t)WREN_PNG_MAX_PIXELS) {
        char text[128];
        snprintf(text, sizeof text, "%ux%u is more than the %ld pixels accepted",
                 (unsigned)image_width, (unsigned)image_height, (long)WREN_PNG_MAX_PIXELS);
        wren_png_fail(png, WREN_PNG_TOO_LARGE, text);
    }

    int color_type = png_get_color_type(png, info);
    int bit_depth = png_get_bit_depth(png, info);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16) png_set_scale_16(png);
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    // Opaque images get alpha 255, so every row arrives as RGBA.
    png_set_filler(png, 0xFF, PNG_FILLER_AFTER);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)image_width * 4) {
        wren_png_fail(png, WREN_PNG_CORRUPT, "unexpected row layout after conversion to RGBA");
    }

    size_t pixel_count = (size_t)image_width * image_height;
    rgba = malloc(pixel_count * 4);
    rows = malloc(sizeof(png_bytep) * image_height);
    if (rgba == NULL || rows == NULL) {
        char text[128];
        snprintf(text, sizeof text, "cannot allocate %zu bytes for %ux%u RGBA", pixel_count * 4,
                 (unsigned)image_width, (unsigned)image_height);
        wren_png_fail(png, WREN_PNG_OUT_OF_MEMORY, text);
    }
    for (png_uint_32 y = 0; y < image_height; y++) rows[y] = rgba + (size_t)y * image_width * 4;
    png_read_image(png, rows);
    // Up to IEND: the last image chunk's CRC is checked only here, and a file cut short anywhere
    // is refused, as a truncated JPEG is.
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);

    // Composite on black and drop alpha in place: pixel i's RGB goes to 3i, read from 4i >= 3i.
    unsigned char *pixels = rgba;
    for (size_t i = 0; i < pixel_count; i++) {
        unsigned int alpha = pixels[4 * i + 3];
        for (int c = 0; c < 3; c++) {
            unsigned int value = pixels[4 * i + c];
            pixels[3 * i + c] = alpha == 255 ? (unsigned char)value : (unsigned char)((value * alpha + 127u) / 255u);
        }
    }
    unsigned char *rgb = realloc(pixels, pixel_count * 3 > 0 ? pixel_count * 3 : 1);
    *rgb_out = rgb != NULL ? rgb : pixels;
    return WREN_PNG_OK;
}

void wren_png_free(unsigned char *rgb) { free(rgb); }
