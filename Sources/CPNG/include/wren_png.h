// A setjmp-guarded PNG decoder for Swift.
//
// libpng reports fatal errors through a callback that must not return; the usual answer is to
// longjmp out of it, which Swift cannot do. As in CJPEG, setjmp/longjmp stay inside C and Swift
// gets a status code plus libpng's own message.
#ifndef WREN_PNG_H
#define WREN_PNG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Largest accepted width or height (the JPEG decoder's limit too).
#define WREN_PNG_MAX_DIMENSION 16384

/// Most pixels an image may have: decoding holds 4 bytes per pixel, so this caps a PNG's
/// memory at 256 MiB whatever its header says (a 2 KB file can announce 16384x16384).
#define WREN_PNG_MAX_PIXELS (1L << 26)

/// Largest ancillary chunk kept in memory while decoding (iCCP, zTXt, ... inflate); libpng's
/// default, spelled out because it is the bomb guard for compressed metadata.
#define WREN_PNG_MAX_CHUNK_BYTES 8000000

typedef enum {
    WREN_PNG_OK = 0,
    /// `bytes` is NULL, or an out-pointer is NULL.
    WREN_PNG_INVALID_ARGUMENT = 1,
    /// libpng raised an error (bad signature, CRC, truncated data, ...). Message in error_message.
    WREN_PNG_CORRUPT = 2,
    /// Width or height exceeds WREN_PNG_MAX_DIMENSION, or width x height WREN_PNG_MAX_PIXELS;
    /// *width and *height hold the header's values.
    WREN_PNG_TOO_LARGE = 3,
    /// The pixel buffer could not be allocated; *width and *height hold the header's values.
    WREN_PNG_OUT_OF_MEMORY = 4,
} wren_png_status;

/// Decodes a PNG held in memory into interleaved 8-bit RGB (row-major, height x width x 3).
///
/// Every colour type, bit depth and interlacing is read; the pixels are the file's own values
/// (gAMA, cHRM, sRGB and iCCP are ignored, as Pillow and torchvision ignore them):
/// - 1, 2 and 4-bit gray are scaled to 8 bits (v * 255 / (2^depth - 1), exact); palettes are
///   expanded; gray becomes R = G = B.
/// - 16-bit samples become round(v * 255 / 65535) (libpng's png_set_scale_16).
/// - Transparency (an alpha channel or a tRNS chunk) is composited on black, like the
///   letterbox's padding: c' = round(c * a / 255), computed on the 8-bit values.
/// On WREN_PNG_OK, *rgb_out points to width * height * 3 bytes the caller releases with
/// wren_png_free. On any other status *rgb_out is NULL and error_message (if not NULL and
/// error_capacity > 0) holds a NUL-terminated explanation.
int wren_png_decode_rgb(const unsigned char *bytes, size_t length, int *width, int *height,
                        unsigned char **rgb_out, char *error_message, size_t error_capacity);

/// Releases a buffer returned by wren_png_decode_rgb. NULL is accepted.
void wren_png_free(unsigned char *rgb);

#ifdef __cplusplus
}
#endif

#endif
