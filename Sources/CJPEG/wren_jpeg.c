#include "wren_jpeg.h"

#include <limits.h>
#include <setjmp.h>
#include <stdint.h>
// libjpeg needs stdio.h (FILE) before jpeglib.h.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr manager;  // first, so a j_common_ptr's err casts to this struct
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    int status;
    char message[JMSG_LENGTH_MAX];
} wren_jpeg_guard;

static void wren_jpeg_fail(j_common_ptr cinfo, int status) {
    wren_jpeg_guard *guard = (wren_jpeg_guard *)cinfo->err;
    guard->status = status;
    longjmp(guard->jump, 1);
}

static void wren_jpeg_error_exit(j_common_ptr cinfo) {
    wren_jpeg_guard *guard = (wren_jpeg_guard *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, guard->message);
    // libjpeg's own limit (65500) is still a too-large image, not corrupt data.
    int too_big = cinfo->err->msg_code == JERR_IMAGE_TOO_BIG;
    wren_jpeg_fail(cinfo, too_big ? WREN_JPEG_TOO_LARGE : WREN_JPEG_CORRUPT);
}

// Level -1 is a corrupt-data warning; libjpeg would carry on and fill the gap with gray.
// Higher levels are trace messages: ignore them (the default prints to stderr).
static void wren_jpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level < 0) {
        wren_jpeg_guard *guard = (wren_jpeg_guard *)cinfo->err;
        (*cinfo->err->format_message)(cinfo, guard->message);
        wren_jpeg_fail(cinfo, WREN_JPEG_CORRUPT);
    }
}

static void wren_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void wren_jpeg_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;
    if (dinfo->progressive_mode && dinfo->input_scan_number > WREN_JPEG_MAX_SCANS) {
        wren_jpeg_guard *guard = (wren_jpeg_guard *)cinfo->err;
        snprintf(guard->message, sizeof guard->message,
                 "progressive JPEG has more than %d scans", WREN_JPEG_MAX_SCANS);
        wren_jpeg_fail(cinfo, WREN_JPEG_TOO_MANY_SCANS);
    }
}

static void wren_jpeg_copy_message(char *destination, size_t capacity, const char *text) {
    if (destination == NULL || capacity == 0) return;
    snprintf(destination, capacity, "%s", text);
}

static unsigned char wren_jpeg_cmyk_channel(unsigned int ink, unsigned int black) {
    // (255 - ink) * (255 - black) / 255, rounded to nearest.
    unsigned int product = (255u - ink) * (255u - black);
    return (unsigned char)((product + 127u) / 255u);
}

int wren_jpeg_decode_rgb(const unsigned char *bytes, size_t length, int *width, int *height,
                         unsigned char **rgb_out, char *error_message, size_t error_capacity) {
    if (rgb_out != NULL) *rgb_out = NULL;
    if (width != NULL) *width = 0;
    if (height != NULL) *height = 0;
    if (error_message != NULL && error_capacity > 0) error_message[0] = '\0';
    if (bytes == NULL || width == NULL || height == NULL || rgb_out == NULL) {
        wren_jpeg_copy_message(error_message, error_capacity, "NULL argument");
        return WREN_JPEG_INVALID_ARGUMENT;
    }
    if (length > ULONG_MAX) {
        wren_jpeg_copy_message(error_message, error_capacity, "input longer than libjpeg accepts");
        return WREN_JPEG_INVALID_ARGUMENT;
    }

    struct jpeg_decompress_struct cinfo;
    wren_jpeg_guard guard;
    memset(&guard, 0, sizeof guard);
    cinfo.err = jpeg_std_error(&guard.manager);
    guard.manager.error_exit = wren_jpeg_error_exit;
    guard.manager.emit_message = wren_jpeg_emit_message;
    guard.manager.output_message = wren_jpeg_output_message;
    guard.progress.progress_monitor = wren_jpeg_progress;

    // Written between setjmp and longjmp, read after: volatile keeps them out of registers.
    unsigned char *volatile rgb = NULL;
    unsigned char *volatile row = NULL;

    if (setjmp(guard.jump)) {
        free(rgb);
        free(row);
        jpeg_destroy_decompress(&cinfo);
        if (guard.status == WREN_JPEG_TOO_LARGE) {
            *width = (int)cinfo.image_width;
            *height = (int)cinfo.image_height;
        }
        wren_jpeg_copy_message(error_message, error_capacity, guard.message);
        return guard.status;
    }

    jpeg_create_decompress(&cinfo);
    cinfo.progress = &guard.progress;
    jpeg_mem_src(&cinfo, bytes, (unsigned long)length);
    jpeg_read_header(&cinfo, TRUE);

    *width = (int)cinfo.image_width;
    *height = (int)cinfo.image_height;
    if (cinfo.image_width > WREN_JPEG_MAX_DIMENSION || cinfo.image_height > WREN_JPEG_MAX_DIMENSION) {
        snprintf(guard.message, sizeof guard.message, "%ux%u exceeds the %dx%d limit",
                 cinfo.image_width, cinfo.image_height, WREN_JPEG_MAX_DIMENSION,
                 WREN_JPEG_MAX_DIMENSION);
        wren_jpeg_fail((j_common_ptr)&cinfo, WREN_JPEG_TOO_LARGE);
    }

    // libjpeg-turbo converts grayscale and YCbCr to RGB itself but not CMYK/YCCK: ask for CMYK
    // then and convert here.
    int is_cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = is_cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);

    size_t pixel_count = (size_t)cinfo.output_width * (size_t)cinfo.output_height;
    rgb = malloc(pixel_count * 3 > 0 ? pixel_count * 3 : 1);
    if (is_cmyk) row = malloc((size_t)cinfo.output_width * 4);
    if (rgb == NULL || (is_cmyk && row == NULL)) {
        snprintf(guard.message, sizeof guard.message, "cannot allocate %zu bytes for %ux%u RGB",
                 pixel_count * 3, cinfo.output_width, cinfo.output_height);
        wren_jpeg_fail((j_common_ptr)&cinfo, WREN_JPEG_OUT_OF_MEMORY);
    }

    // Adobe writes CMYK inverted (0 = full ink); libjpeg reports whether it saw that marker.
    int inverted = cinfo.saw_Adobe_marker;
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        unsigned char *rgb_row = rgb + y * (size_t)cinfo.output_width * 3;
        JSAMPROW target = is_cmyk ? row : rgb_row;
        jpeg_read_scanlines(&cinfo, &target, 1);
        if (is_cmyk) {
            for (size_t x = 0; x < cinfo.output_width; x++) {
                unsigned int c = row[4 * x], m = row[4 * x + 1], ye = row[4 * x + 2], k = row[4 * x + 3];
                if (inverted) { c = 255 - c; m = 255 - m; ye = 255 - ye; k = 255 - k; }
                rgb_row[3 * x] = wren_jpeg_cmyk_channel(c, k);
                rgb_row[3 * x + 1] = wren_jpeg_cmyk_channel(m, k);
                rgb_row[3 * x + 2] = wren_jpeg_cmyk_channel(ye, k);
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    *width = (int)cinfo.output_width;
    *height = (int)cinfo.output_height;
    jpeg_destroy_decompress(&cinfo);
    free(row);
    *rgb_out = rgb;
    return WREN_JPEG_OK;
}

void wren_jpeg_free(unsigned char *rgb) { free(rgb); }
