// The C half of the Wren C API: status descriptions, the version string, the per-thread
// last-error message and the default context options. C owns these because `_Thread_local` storage and static strings are plain C;
// everything that touches a model lives in Swift (Sources/WrenC).
#include <string.h>

#include "wren_bridge.h"

// Per thread, so concurrent failures on different threads never overwrite each other's detail.
static _Thread_local char last_error[WREN_LAST_ERROR_CAPACITY];

void wren_bridge_set_last_error(const char *message) {
    if (message == NULL) {
        last_error[0] = '\0';
        return;
    }
    size_t length = strlen(message);
    if (length >= WREN_LAST_ERROR_CAPACITY) {
        length = WREN_LAST_ERROR_CAPACITY - 1;
        // Do not cut a UTF-8 sequence in half: back off over continuation bytes (10xxxxxx).
        while (length > 0 && ((unsigned char)message[length] & 0xC0) == 0x80) length--;
    }
    memcpy(last_error, message, length);
    last_error[length] = '\0';
}

const char *wren_last_error(void) { return last_error; }

const char *wren_version(void) { return WREN_VERSION_STRING; }

const char *wren_status_message(wren_status status) {
    switch (status) {
    case WREN_OK: return "success";
    case WREN_ERROR_NULL_ARGUMENT: return "a required pointer argument is NULL";
    case WREN_ERROR_INVALID_HANDLE: return "the handle is not a live object of the expected kind";
    case WREN_ERROR_FILE_UNREADABLE: return "the file cannot be opened or read";
    case WREN_ERROR_NOT_A_MODEL: return "not a .wren model (bad magic)";
    case WREN_ERROR_UNSUPPORTED_VERSION: return "unsupported .wren format version";
    case WREN_ERROR_TRUNCATED: return "the model data is truncated";
    case WREN_ERROR_CORRUPT_MODEL: return "the model data holds an invalid field";
    case WREN_ERROR_CHECKSUM_MISMATCH: return "the model's checksum does not match its bytes";
    case WREN_ERROR_INVALID_BATCH: return "the batch size is out of range";
    case WREN_ERROR_BATCH_TOO_LARGE: return "the batch exceeds the context's maximum batch";
    case WREN_ERROR_ARENA_TOO_SMALL: return "the arena is too small for this model and batch";
    case WREN_ERROR_ARENA_MISALIGNED: return "the arena is not 64-byte aligned";
    case WREN_ERROR_INPUT_NOT_FINITE: return "an input value is NaN or infinite";
    case WREN_ERROR_OUT_OF_MEMORY: return "out of memory";
    case WREN_ERROR_INVALID_ARGUMENT: return "an argument is out of range";
    case WREN_ERROR_INTERNAL: return "internal error";
    case WREN_ERROR_ARENA_LIMIT_EXCEEDED: return "the arena Wren would allocate exceeds the arena limit";
    case WREN_ERROR_BUSY: return "the context is running on another thread";
    case WREN_ERROR_BAD_IMAGE: return "not a JPEG or PNG image Wren can decode";
    }
    return "unknown wren_status";
}

void wren_context_options_init(wren_context_options *options) {
    if (options == NULL) return;
    memset(options, 0, sizeof *options);
    options->max_batch = 1;
    options->threads = 1;
    options->arena_limit = WREN_DEFAULT_ARENA_LIMIT;
    options->retain_activations = 0;
}
