// A setjmp-guarded JPEG decoder for Swift.
//
// libjpeg reports fatal errors through `error_exit`, whose default calls exit(); the usual fix
// is to longjmp out of it, which Swift cannot do. This wrapper keeps setjmp/longjmp inside C and
// hands Swift a status code plus libjpeg's own message instead.
#ifndef WREN_JPEG_H
#define WREN_JPEG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Largest accepted width or height; bigger images are refused before any pixel is decoded.
#define WREN_JPEG_MAX_DIMENSION 16384

/// Most scans a progressive JPEG may have (libjpeg-turbo's TurboJPEG uses the same limit against
/// files that make decoding take minutes).
#define WREN_JPEG_MAX_SCANS 500

typedef enum {
    WREN_JPEG_OK = 0,
    /// `bytes` is NULL, or an out-pointer is NULL.
    WREN_JPEG_INVALID_ARGUMENT = 1,
    /// libjpeg raised an error or a warning (warnings such as "Premature end of JPEG file" are
    /// treated as errors: the pixels after that point would be invented). Message in error_message.
    WREN_JPEG_CORRUPT = 2,
    /// Width or height exceeds WREN_JPEG_MAX_DIMENSION; *width and *height hold the header's values.
    WREN_JPEG_TOO_LARGE = 3,
    /// The output buffer could not be allocated; *width and *height hold the header's values.
    WREN_JPEG_OUT_OF_MEMORY = 4,
    /// A progressive file with more than WREN_JPEG_MAX_SCANS scans.
    WREN_JPEG_TOO_MANY_SCANS = 5,
} wren_jpeg_status;

/// Decodes a JPEG held in memory into interleaved 8-bit RGB (row-major, height x width x 3).
/// Grayscale is expanded to RGB by libjpeg; CMYK and YCCK (Adobe, inverted) are converted with
/// R = (255 - C) * (255 - K) / 255 (rounded), as Pillow does.
/// On WREN_JPEG_OK, *rgb_out points to width * height * 3 bytes the caller releases with
/// wren_jpeg_free. On any other status *rgb_out is NULL and error_message (if not NULL and
/// error_capacity > 0) holds a NUL-terminated explanation.
int wren_jpeg_decode_rgb(const unsigned char *bytes, size_t length, int *width, int *height,
                         unsigned char **rgb_out, char *error_message, size_t error_capacity);

/// Releases a buffer returned by wren_jpeg_decode_rgb. NULL is accepted.
void wren_jpeg_free(unsigned char *rgb);

#ifdef __cplusplus
}
#endif

#endif
