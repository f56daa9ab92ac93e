/*
 * wren_bridge.h — what the Swift implementation of wren.h (the WrenC target) needs from C.
 * Not part of the public API: C programs include only <wren.h>.
 */
#ifndef WREN_BRIDGE_H
#define WREN_BRIDGE_H

#include "wren.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Stores `message` (UTF-8, copied, truncated to WREN_LAST_ERROR_CAPACITY - 1 bytes on a character
 *  boundary) as this thread's `wren_last_error()`. */
__attribute__((visibility("hidden"))) void wren_bridge_set_last_error(const char *message);

/** Bytes kept of a last-error message, including the terminating NUL. */
#define WREN_LAST_ERROR_CAPACITY 1024

#ifdef __cplusplus
}
#endif

#endif /* WREN_BRIDGE_H */
