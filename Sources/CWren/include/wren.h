/*
 * wren.h — the C API of Wren, an int8 runtime for Wide Residual Networks stored as `.wren` files.
 *
 * Link with the shared library (-lwren) or the static one (libwren-static.a plus the Swift
 * runtime; `tools/cc-wren` does both). Typical use:
 *
 *     wren_model *model;
 *     if (wren_model_load_file("model.wren", &model) != WREN_OK) { puts(wren_last_error()); ... }
 *     size_t size = wren_context_arena_size(model, 1);
 *     void *arena = aligned_alloc(WREN_ARENA_ALIGNMENT, round_up(size, WREN_ARENA_ALIGNMENT));
 *     wren_context *context;
 *     wren_context_create(model, 1, arena, size, &context);   // or arena = NULL: Wren allocates
 *     float logits[10];
 *     wren_run(context, image_nchw, 1, logits);
 *     wren_context_free(context); free(arena); wren_model_free(model);
 *
 * Errors. Every function that can fail returns a `wren_status` (or, for the three that return a
 * value, a documented sentinel) and records a message naming the bad value on the calling thread,
 * read with `wren_last_error()`. No failure aborts the process or unwinds through C: NULL
 * pointers, sizes and batches out of range, misaligned or short arenas, non-finite inputs and
 * corrupted or unreadable files all come back as a status. What the API cannot detect is memory
 * that lies about itself: a dangling or forged handle, or a buffer shorter than its stated length.
 * Large buffers (model copies, file contents, arenas) come from the C allocator, so running out of
 * memory for them is WREN_ERROR_OUT_OF_MEMORY; the few small bookkeeping allocations of the Swift
 * runtime (the model and context objects, the parsed layer table) abort on exhaustion, as Swift does.
 * An arena Wren allocates is capped at WREN_DEFAULT_ARENA_LIMIT (see `wren_context_create`), so a
 * small file declaring enormous tensors is refused with WREN_ERROR_ARENA_LIMIT_EXCEEDED before any
 * memory is taken.
 *
 * Kernels. This library runs the fastest int8 kernels the CPU supports (AVX-512 VNNI, else AVX2 on
 * x86-64; the Armv8.2 dot product on AArch64; else WrenCore's portable ones), on the calling thread
 * only, unless a context is created with `wren_context_create_with_options` and more threads. The environment variable WREN_KERNELS, read once per process, forces one by name (e.g.
 * `avx2`, `portable`); a name this CPU does not offer selects the portable kernels. The results are
 * bit-identical to the `wren` CLI's, whatever kernels and threads the CLI uses.
 *
 * Threading. A `wren_model` is immutable after loading and may be used from any number of threads
 * at once (creating contexts, querying it). A `wren_context` holds the scratch memory of a run:
 * use it from one thread at a time (create one per thread). A `wren_run` that finds another thread
 * already running the same context returns WREN_ERROR_BUSY without touching its arena, so misuse
 * is reported instead of producing wrong logits. `wren_last_error()` is per thread.
 *
 * Memory. Wren never allocates inside `wren_run`. The caller may supply a context's arena, so a
 * whole inference can run in memory the caller controls.
 *
 * Versions. 0.1.0: loading, contexts on the calling thread, `wren_run`, errors. 0.2.0 (marked "Since
 * 0.2.0" below) adds, without changing any 0.1.0 function: contexts with their own threads and
 * retained activations (`wren_context_create_with_options`), the model's tensors, metadata, labels and
 * normalization, per-layer activations after a run (`wren_context_activations`), and image
 * preprocessing exactly as `wren run` does it (`wren_model_preprocess_file`, `_rgb`; this is why the
 * library links libjpeg and libpng). The Python package in python/ is built on these.
 */
#ifndef WREN_H
#define WREN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Version of this API, also returned at run time by `wren_version()`. */
#define WREN_VERSION_STRING "0.2.0"

/** Required alignment, in bytes, of a caller-provided arena (and of zero-copy model bytes). */
#define WREN_ARENA_ALIGNMENT 64

/** Largest `max_batch` a context accepts. */
#define WREN_MAX_BATCH_LIMIT 65536

/**
 * The most bytes of arena `wren_context_create` allocates itself (1 GiB). A WRN-28-10 on 32x32
 * images needs under 2 MB; larger arenas take `wren_context_create_with_arena_limit` or an arena
 * the caller allocates.
 */
#define WREN_DEFAULT_ARENA_LIMIT (1u << 30)

/** A loaded, validated `.wren` model. Opaque; free with `wren_model_free`. */
typedef struct wren_model wren_model;

/** The run state of one model at one maximum batch size. Opaque; free with `wren_context_free`. */
typedef struct wren_context wren_context;

/**
 * The outcome of a call. `WREN_OK` is 0; every failure kind has its own value, stable across
 * releases (new kinds are appended). `wren_status_message` gives a fixed description of each;
 * `wren_last_error` gives the detail of the latest failure.
 */
typedef enum wren_status {
    WREN_OK = 0,
    /** A required pointer argument (handle, buffer, path or out-parameter) is NULL. */
    WREN_ERROR_NULL_ARGUMENT = 1,
    /** A handle is not a live object of the expected kind (e.g. a context passed as a model,
     *  or a handle already freed; the latter is detected on a best-effort basis only). */
    WREN_ERROR_INVALID_HANDLE = 2,
    /** The file cannot be opened, is not a regular file, or cannot be read completely. */
    WREN_ERROR_FILE_UNREADABLE = 3,
    /** The bytes do not start with the `.wren` magic. */
    WREN_ERROR_NOT_A_MODEL = 4,
    /** The file's major format version is not one this library reads. */
    WREN_ERROR_UNSUPPORTED_VERSION = 5,
    /** A field or data range extends past the end of the bytes. */
    WREN_ERROR_TRUNCATED = 6,
    /** A field holds a value the format does not allow (offset and reason in the detail). */
    WREN_ERROR_CORRUPT_MODEL = 7,
    /** The stored CRC-32 does not match the bytes. */
    WREN_ERROR_CHECKSUM_MISMATCH = 8,
    /** A batch or `max_batch` below 1, or a `max_batch` above `WREN_MAX_BATCH_LIMIT`. */
    WREN_ERROR_INVALID_BATCH = 9,
    /** `wren_run` was given a batch larger than the context's `max_batch`. */
    WREN_ERROR_BATCH_TOO_LARGE = 10,
    /** The caller's arena is smaller than `wren_context_arena_size` reports. */
    WREN_ERROR_ARENA_TOO_SMALL = 11,
    /** The caller's arena does not start at a multiple of `WREN_ARENA_ALIGNMENT`. */
    WREN_ERROR_ARENA_MISALIGNED = 12,
    /** An input value is NaN or infinite (its index is in the detail). */
    WREN_ERROR_INPUT_NOT_FINITE = 13,
    /** Wren could not allocate memory it needed (a model copy, a file buffer, an arena). */
    WREN_ERROR_OUT_OF_MEMORY = 14,
    /** An argument is out of range in a way not covered above (e.g. a length above SIZE_MAX/2). */
    WREN_ERROR_INVALID_ARGUMENT = 15,
    /** An internal check failed; the detail says which. Please report it. */
    WREN_ERROR_INTERNAL = 16,
    /** The arena Wren would allocate is larger than the limit (WREN_DEFAULT_ARENA_LIMIT, or the one
     *  given to `wren_context_create_with_arena_limit`), or larger than any memory can be. */
    WREN_ERROR_ARENA_LIMIT_EXCEEDED = 17,
    /** `wren_run` was called while another thread was running the same context. */
    WREN_ERROR_BUSY = 18,
    /** Since 0.2.0. The bytes are not a JPEG or PNG image Wren can decode (unknown format, corrupt
     *  data, or larger than the decoder accepts; the detail says which). */
    WREN_ERROR_BAD_IMAGE = 19
} wren_status;

/**
 * Loads and validates a model from memory.
 *
 * Zero-copy: when `bytes` is `WREN_ARENA_ALIGNMENT`-aligned, the model reads them in place and the
 * caller must keep them alive and unchanged until the model *and every context created from it*
 * are freed. Unaligned bytes are copied (the kernels read int32/float32 data in place), and the
 * caller may then release them as soon as this returns; `wren_model_is_zero_copy` tells which.
 *
 * On success stores a new model in `*out_model` (free with `wren_model_free`). On failure
 * `*out_model` is set to NULL (when `out_model` is not NULL) and the status says why:
 * NULL_ARGUMENT, INVALID_ARGUMENT, NOT_A_MODEL, UNSUPPORTED_VERSION, TRUNCATED, CORRUPT_MODEL,
 * CHECKSUM_MISMATCH, OUT_OF_MEMORY. Thread-safe.
 */
wren_status wren_model_load(const void *bytes, size_t length, wren_model **out_model);

/**
 * Reads `path` into memory Wren owns and validates it as `wren_model_load` does. Fails with
 * FILE_UNREADABLE (cannot open, not a regular file, short read; the detail carries the path and
 * the system's reason) or any status of `wren_model_load`. Thread-safe.
 */
wren_status wren_model_load_file(const char *path, wren_model **out_model);

/**
 * Releases the caller's reference to `model`. Contexts created from it keep what they need, so
 * they remain usable until freed themselves. NULL is ignored. Do not use `model` afterwards.
 * Must not race with other calls using the same handle.
 */
void wren_model_free(wren_model *model);

/** The number of classes (logits per image), or -1 if `model` is NULL or not a model. */
int32_t wren_model_num_classes(const wren_model *model);

/**
 * The input shape of one image (float32 NCHW, so `wren_run` reads channels*height*width floats per
 * image). Fails with NULL_ARGUMENT or INVALID_HANDLE; out-parameters are left unchanged then.
 */
wren_status wren_model_input_shape(const wren_model *model, int32_t *channels, int32_t *height, int32_t *width);

/** 1 if `model` reads the caller's bytes in place (see `wren_model_load`), 0 if it owns a copy,
 *  -1 if `model` is NULL or not a model. */
int wren_model_is_zero_copy(const wren_model *model);

/**
 * Bytes of arena a context for `model` at `max_batch` images needs (activations and scratch).
 * Images run one after another, so this is one image's worth whatever `max_batch` is. Returns 0 on
 * failure (NULL or invalid model, `max_batch` outside 1...WREN_MAX_BATCH_LIMIT, a size beyond any
 * memory) and records the detail for `wren_last_error`. No arena limit applies here. Thread-safe.
 */
size_t wren_context_arena_size(const wren_model *model, int32_t max_batch);

/**
 * Creates a context that runs `model` on up to `max_batch` images per call.
 *
 * `arena`: NULL lets Wren allocate (and free) the arena, at most WREN_DEFAULT_ARENA_LIMIT bytes
 * (ARENA_LIMIT_EXCEEDED beyond it); `arena_size` is then ignored. Otherwise
 * the arena must be `WREN_ARENA_ALIGNMENT`-aligned, hold at least `wren_context_arena_size(model,
 * max_batch)` bytes, stay alive until `wren_context_free`, and be used by nothing else meanwhile;
 * Wren never frees it.
 *
 * The context keeps its own reference to the model, so `wren_model_free` may come first (but
 * zero-copy model bytes must still outlive the context). Fails with NULL_ARGUMENT, INVALID_HANDLE,
 * INVALID_BATCH, ARENA_TOO_SMALL, ARENA_MISALIGNED, ARENA_LIMIT_EXCEEDED, OUT_OF_MEMORY;
 * `*out_context` is set to NULL then. Thread-safe with respect to the model.
 */
wren_status wren_context_create(const wren_model *model, int32_t max_batch, void *arena, size_t arena_size,
                                wren_context **out_context);

/**
 * `wren_context_create` with `arena` NULL, except that Wren may allocate up to `arena_limit` bytes
 * instead of WREN_DEFAULT_ARENA_LIMIT (SIZE_MAX: no limit but the memory itself). Fails as
 * `wren_context_create` does.
 */
wren_status wren_context_create_with_arena_limit(const wren_model *model, int32_t max_batch, size_t arena_limit,
                                                 wren_context **out_context);

/** Frees a context (and the arena, if Wren allocated it). NULL is ignored. */
void wren_context_free(wren_context *context);

/**
 * Runs `batch` images. `input_nchw` holds batch*C*H*W float32 values (see
 * `wren_model_input_shape`), already normalized with the model's mean and std; `logits_out`
 * receives batch*num_classes float32 values, image after image. Allocates nothing and takes no
 * locks. Results are bit-identical to `wren run` on the same model and inputs.
 *
 * Fails with NULL_ARGUMENT, INVALID_HANDLE, INVALID_BATCH (batch < 1), BATCH_TOO_LARGE,
 * INPUT_NOT_FINITE, BUSY (another thread is running this context: one thread at a time per
 * context); `logits_out` is untouched on failure.
 */
wren_status wren_run(wren_context *context, const float *input_nchw, int32_t batch, float *logits_out);

/** A fixed, static description of `status` (never NULL; "unknown wren_status" for other values). */
const char *wren_status_message(wren_status status);

/**
 * The detail of the most recent failure on the calling thread (e.g. "arena holds 100 bytes,
 * 54528 needed for max_batch 1"), or "" if none. Successful calls do not clear it. The pointer
 * stays valid until the next failing Wren call on this thread.
 */
const char *wren_last_error(void);

/** The library version, e.g. "0.2.0" (equal to WREN_VERSION_STRING for a matching header). */
const char *wren_version(void);

/* ---------------------------------------------------------------------------------------------
 * Since 0.2.0: threads, model information, activations, images.
 * ------------------------------------------------------------------------------------------- */

/** Largest `threads` a context accepts. */
#define WREN_MAX_THREADS 1024

/**
 * Since 0.2.0. How `wren_context_create_with_options` builds a context. Always fill it with
 * `wren_context_options_init` first (fields may be appended in later versions; init sets them all).
 */
typedef struct wren_context_options {
    /** Most images per `wren_run` (default 1), 1...WREN_MAX_BATCH_LIMIT. */
    int32_t max_batch;
    /**
     * Threads that run each `wren_run` (default 1: the calling thread only). 0 means one per online
     * processor, what `wren run` uses. Above 1 the context owns a thread pool (the calling thread
     * plus threads-1 helpers, joined by `wren_context_free`): a single image shares every layer
     * among them, a batch runs image-parallel. Results are bit-identical whatever the count.
     */
    int32_t threads;
    /** Most bytes of arena Wren may allocate (default WREN_DEFAULT_ARENA_LIMIT; SIZE_MAX: no limit). */
    size_t arena_limit;
    /**
     * Non-zero: keep every tensor's values of every image after `wren_run` (no buffer reuse), for
     * `wren_context_activations`. The arena then holds all activations of `max_batch` images, and
     * images run one after another (layers are still shared among the threads). Default 0.
     */
    int32_t retain_activations;
} wren_context_options;

/** Since 0.2.0. Sets every field of `*options` to its default (see `wren_context_options`). NULL is ignored. */
void wren_context_options_init(wren_context_options *options);

/**
 * Since 0.2.0. Creates a context as `wren_context_create_with_arena_limit` does, with the options'
 * thread count and activation retention; the kernels are those of `wren_context_create` (the fastest
 * this CPU has, or WREN_KERNELS). Fails with NULL_ARGUMENT, INVALID_HANDLE, INVALID_BATCH,
 * INVALID_ARGUMENT (threads outside 0...WREN_MAX_THREADS), ARENA_LIMIT_EXCEEDED, OUT_OF_MEMORY;
 * `*out_context` is set to NULL then. Thread-safe with respect to the model.
 */
wren_status wren_context_create_with_options(const wren_model *model, const wren_context_options *options,
                                             wren_context **out_context);

/** Since 0.2.0. The threads running each `wren_run` of `context` (at least 1), or -1 if it is not a context. */
int32_t wren_context_threads(const wren_context *context);

/**
 * Since 0.2.0. One activation tensor of a model: the model's input after quantization, then each
 * layer's output, in file order (`wren inspect` lists them; the names are those `wren validate`
 * reports, e.g. "input", "block1.layer.0.relu1", ..., "relu"). At run time a tensor is stored per
 * image as height x width x channels (NHWC) values of `element_size` bytes (int8, or int16 in a
 * .wren 2.0 file), and value q stands for (q - zero_point) * scale.
 */
typedef struct wren_tensor_info {
    /** NUL-terminated; valid until the model and every context created from it are freed. */
    const char *name;
    int32_t channels;
    int32_t height;
    int32_t width;
    float scale;
    int32_t zero_point;
    /** 1 (int8) or 2 (int16). */
    int32_t element_size;
} wren_tensor_info;

/** Since 0.2.0. The number of tensors of `model` (at least 2), or -1 if it is not a model. */
int32_t wren_model_num_tensors(const wren_model *model);

/**
 * Since 0.2.0. Stores tensor `index` (0...wren_model_num_tensors-1) in `*out_info`. Fails with
 * NULL_ARGUMENT, INVALID_HANDLE, INVALID_ARGUMENT (index out of range); `*out_info` is unchanged then.
 */
wren_status wren_model_tensor(const wren_model *model, int32_t index, wren_tensor_info *out_info);

/** Since 0.2.0. The number of metadata entries (key/value strings) of `model`, or -1 if it is not a model. */
int32_t wren_model_num_metadata(const wren_model *model);

/**
 * Since 0.2.0. Metadata entry `index` in file order (`wren inspect` prints them): `*key` and `*value`
 * point at NUL-terminated UTF-8 owned by the model, valid as tensor names are. Fails with
 * NULL_ARGUMENT, INVALID_HANDLE, INVALID_ARGUMENT (index out of range).
 */
wren_status wren_model_metadata(const wren_model *model, int32_t index, const char **key, const char **value);

/**
 * Since 0.2.0. The name of class `class_index` (0...num_classes-1) from the model's `labels` metadata
 * (one per line, as `wren convert --labels` stores them), or NULL in `*label` when the model has no
 * complete label list. Fails with NULL_ARGUMENT, INVALID_HANDLE, INVALID_ARGUMENT (index out of range).
 */
wren_status wren_model_label(const wren_model *model, int32_t class_index, const char **label);

/**
 * Since 0.2.0. The per-channel mean and std (on 0...1 pixel values) the model's inputs are normalized
 * with: `channels` must equal the model's input channels, and `mean` and `std` hold that many floats.
 * Fails with NULL_ARGUMENT, INVALID_HANDLE, INVALID_ARGUMENT (channel count differs).
 */
wren_status wren_model_normalization(const wren_model *model, float *mean, float *std, int32_t channels);

/**
 * Since 0.2.0. Copies the values of tensor `tensor` for every image of the context's latest successful
 * `wren_run` into `out`: batch x height x width x channels elements of the tensor's element_size,
 * image after image (NHWC, not dequantized; see `wren_tensor_info`). The context must have been
 * created with `retain_activations`. Same threading rule as `wren_run`: not while another thread runs
 * the context. Fails with NULL_ARGUMENT, INVALID_HANDLE, INVALID_ARGUMENT (no retained activations,
 * no run yet, tensor out of range, `out_size` below the bytes needed, which the detail gives).
 */
wren_status wren_context_activations(const wren_context *context, int32_t tensor, void *out, size_t out_size);

/** Since 0.2.0. The batch of the context's latest successful `wren_run`, 0 before the first, -1 if not a context. */
int32_t wren_context_last_batch(const wren_context *context);

/**
 * Since 0.2.0. Reads the JPEG or PNG image at `path` and turns it into the model's input exactly as
 * `wren run MODEL IMAGE` does: decoded to 8-bit RGB (PNG transparency composited on black),
 * letterboxed onto a black square of the model's input size (bilinear, half-pixel centres), and
 * normalized with the model's mean and std. Writes channels x height x width float32 values (one
 * image of `wren_run`'s input) to `out_chw`. Fails with NULL_ARGUMENT, INVALID_HANDLE,
 * FILE_UNREADABLE, BAD_IMAGE, OUT_OF_MEMORY, INVALID_ARGUMENT (the model's input is not 3 channels
 * square); `out_chw` is untouched on failure. Thread-safe.
 */
wren_status wren_model_preprocess_file(const wren_model *model, const char *path, float *out_chw);

/**
 * Since 0.2.0. `wren_model_preprocess_file` for pixels already decoded: `rgb` holds height x width x 3
 * bytes (rows top to bottom, R G B interleaved), each side in 1...16384. Fails with NULL_ARGUMENT,
 * INVALID_HANDLE, INVALID_ARGUMENT (a side out of range, the model's input not 3 channels square).
 */
wren_status wren_model_preprocess_rgb(const wren_model *model, const uint8_t *rgb, int32_t width, int32_t height,
                                      float *out_chw);

#ifdef __cplusplus
}
#endif

#endif /* WREN_H */
