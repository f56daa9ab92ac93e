// cmocka tests of the Wren C API (Sources/CWren/include/wren.h): every function, every failure
// status, caller-provided and Wren-allocated arenas, models loaded from files and from memory,
// and logits compared bit for bit with `wren run --logits`.
//
// Run through Tests/CAPI/run-capi-tests.sh, which converts the model and writes the expected
// logits with the `wren` CLI, then builds this file against the shared and the static library.
// Inputs (environment): WREN_CAPI_MODEL (.wren), WREN_CAPI_INPUT (.npy [N,3,32,32]),
// WREN_CAPI_LOGITS (.npy [N,classes] from `wren run`), WREN_CAPI_ARENA_BATCH1 (arena bytes at
// batch 1 as `wren inspect` reports them), WREN_CAPI_TMPDIR (scratch directory). For the 0.2.0
// functions: WREN_CAPI_DIGITS_MODEL (the bundled digits model converted with class names),
// WREN_CAPI_DIGITS_JPEG and _PNG (two images) with WREN_CAPI_DIGITS_LOGITS (`wren run` on the two),
// WREN_CAPI_RGB_JPEG with WREN_CAPI_RGB_NPY (its decoded pixels, uint8 [H,W,3]).
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "npy_float32.h"
#include "wren.h"

// MARK: - Fixtures shared by all tests (loaded once in the group setup)

static struct {
    const char *model_path;
    const char *temp_dir;
    unsigned char *model_bytes;  // the .wren file, WREN_ARENA_ALIGNMENT-aligned
    size_t model_length;
    npy_float32 input;     // [images, 3, 32, 32]
    npy_float32 expected;  // [images, classes], from `wren run --logits`
    size_t images, per_image, classes;
    size_t arena_batch1;  // from `wren inspect`
} fx;

// A non-NULL value stored in out-parameters before a failing call, to check they are reset to NULL.
#define NOT_SET ((void *)(uintptr_t)0x1)

static const char *required_env(const char *name) {
    const char *value = getenv(name);
    if (value == NULL || *value == '\0') {
        fprintf(stderr, "capi_tests: set %s (Tests/CAPI/run-capi-tests.sh does)\n", name);
        return NULL;
    }
    return value;
}

static int group_setup(void **state) {
    (void)state;
    const char *input = required_env("WREN_CAPI_INPUT");
    const char *logits = required_env("WREN_CAPI_LOGITS");
    const char *arena = required_env("WREN_CAPI_ARENA_BATCH1");
    fx.model_path = required_env("WREN_CAPI_MODEL");
    fx.temp_dir = required_env("WREN_CAPI_TMPDIR");
    if (!input || !logits || !arena || !fx.model_path || !fx.temp_dir) return -1;
    fx.arena_batch1 = strtoull(arena, NULL, 10);

    char error[256];
    if (npy_float32_read(input, &fx.input, error) != 0 || npy_float32_read(logits, &fx.expected, error) != 0) {
        fprintf(stderr, "capi_tests: %s\n", error);
        return -1;
    }
    fx.images = fx.input.shape[0];
    fx.per_image = fx.input.count / fx.images;
    fx.classes = fx.expected.count / fx.expected.shape[0];
    if (fx.input.rank != 4 || fx.expected.shape[0] != fx.images || fx.images < 4) {
        fprintf(stderr, "capi_tests: need >= 4 inputs [N,3,32,32] and logits [N,classes]\n");
        return -1;
    }

    FILE *file = fopen(fx.model_path, "rb");
    if (file == NULL) return -1;
    fseek(file, 0, SEEK_END);
    fx.model_length = (size_t)ftell(file);
    fseek(file, 0, SEEK_SET);
    fx.model_bytes = aligned_alloc(WREN_ARENA_ALIGNMENT, (fx.model_length + 63) / 64 * 64);
    size_t read = fread(fx.model_bytes, 1, fx.model_length, file);
    fclose(file);
    return read == fx.model_length ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    npy_float32_free(&fx.input);
    npy_float32_free(&fx.expected);
    free(fx.model_bytes);
    return 0;
}

// MARK: - Helpers

static wren_model *load_model(void) {
    wren_model *model = NULL;
    wren_status status = wren_model_load_file(fx.model_path, &model);
    if (status != WREN_OK) fprintf(stderr, "load failed: %s\n", wren_last_error());
    assert_int_equal(status, WREN_OK);
    assert_non_null(model);
    return model;
}

static const float *image(size_t index) { return fx.input.values + index * fx.per_image; }
static const float *expected_logits(size_t index) { return fx.expected.values + index * fx.classes; }

// Bit-for-bit comparison (memcmp, so -0.0 vs 0.0 or different NaNs would count as different).
static void assert_logits_equal(const float *actual, size_t first_image, size_t count) {
    if (memcmp(actual, expected_logits(first_image), count * fx.classes * sizeof(float)) != 0) {
        for (size_t i = 0; i < count * fx.classes; i++) {
            if (memcmp(&actual[i], &expected_logits(first_image)[i], sizeof(float)) != 0) {
                print_error("image %zu class %zu: wren_run %.9g, wren run %.9g\n", first_image + i / fx.classes,
                            i % fx.classes, actual[i], expected_logits(first_image)[i]);
            }
        }
        fail_msg("logits differ from `wren run` for images %zu..%zu", first_image, first_image + count - 1);
    }
}

static void assert_last_error_contains(const char *needle) {
    const char *message = wren_last_error();
    assert_non_null(message);
    if (strstr(message, needle) == NULL) fail_msg("wren_last_error() = \"%s\" lacks \"%s\"", message, needle);
}

static void fill_floats(float *values, size_t count, float value) {
    for (size_t i = 0; i < count; i++) values[i] = value;
}

static int all_floats_equal(const float *values, size_t count, float value) {
    for (size_t i = 0; i < count; i++)
        if (values[i] != value) return 0;
    return 1;
}

static void *aligned_arena(size_t size) {
    void *arena = aligned_alloc(WREN_ARENA_ALIGNMENT, (size + 63) / 64 * 64);
    assert_non_null(arena);
    return arena;
}

// MARK: - Version and status messages

static void test_version_matches_header(void **state) {
    (void)state;
    assert_string_equal(wren_version(), WREN_VERSION_STRING);
}

static void test_status_messages_are_distinct(void **state) {
    (void)state;
    assert_string_equal(wren_status_message(WREN_OK), "success");
    const char *unknown = wren_status_message((wren_status)999);
    assert_string_equal(unknown, "unknown wren_status");
    assert_string_equal(wren_status_message((wren_status)-1), "unknown wren_status");
    for (int a = WREN_OK; a <= WREN_ERROR_BAD_IMAGE; a++) {
        const char *message = wren_status_message((wren_status)a);
        assert_non_null(message);
        assert_true(strlen(message) > 0);
        assert_string_not_equal(message, unknown);
        for (int b = WREN_OK; b < a; b++) assert_string_not_equal(message, wren_status_message((wren_status)b));
    }
}

static void *read_last_error_on_new_thread(void *result) {
    snprintf(result, 256, "%s", wren_last_error());
    return NULL;
}

static void test_last_error_starts_empty(void **state) {
    (void)state;
    char message[256] = "not run";
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, read_last_error_on_new_thread, message), 0);
    pthread_join(thread, NULL);
    assert_string_equal(message, "");
}

// MARK: - Loading

static void test_load_file_describes_model(void **state) {
    (void)state;
    wren_model *model = load_model();
    assert_int_equal(wren_model_num_classes(model), (int32_t)fx.classes);
    int32_t channels = 0, height = 0, width = 0;
    assert_int_equal(wren_model_input_shape(model, &channels, &height, &width), WREN_OK);
    assert_int_equal(channels, fx.input.shape[1]);
    assert_int_equal(height, fx.input.shape[2]);
    assert_int_equal(width, fx.input.shape[3]);
    assert_int_equal(wren_model_is_zero_copy(model), 0);  // Wren read the file into its own memory
    wren_model_free(model);
}

static void test_load_aligned_memory_is_zero_copy_and_outlives_handle(void **state) {
    (void)state;
    assert_int_equal((uintptr_t)fx.model_bytes % WREN_ARENA_ALIGNMENT, 0);
    wren_model *model = NOT_SET;
    assert_int_equal(wren_model_load(fx.model_bytes, fx.model_length, &model), WREN_OK);
    assert_int_equal(wren_model_is_zero_copy(model), 1);
    wren_context *context = NULL;
    assert_int_equal(wren_context_create(model, 1, NULL, 0, &context), WREN_OK);
    // The context keeps the model alive: freeing the caller's handle first is allowed.
    wren_model_free(model);
    float logits[64];
    assert_int_equal(wren_run(context, image(2), 1, logits), WREN_OK);
    assert_logits_equal(logits, 2, 1);
    wren_context_free(context);
}

static void test_load_unaligned_memory_copies(void **state) {
    (void)state;
    unsigned char *buffer = malloc(fx.model_length + WREN_ARENA_ALIGNMENT + 1);
    assert_non_null(buffer);
    unsigned char *misaligned = buffer + (WREN_ARENA_ALIGNMENT - (uintptr_t)buffer % WREN_ARENA_ALIGNMENT) + 1;
    memcpy(misaligned, fx.model_bytes, fx.model_length);
    wren_model *model = NULL;
    assert_int_equal(wren_model_load(misaligned, fx.model_length, &model), WREN_OK);
    assert_int_equal(wren_model_is_zero_copy(model), 0);
    // Wren copied the bytes: wiping and releasing the caller's buffer must not matter.
    memset(buffer, 0, fx.model_length + WREN_ARENA_ALIGNMENT + 1);
    free(buffer);
    wren_context *context = NULL;
    assert_int_equal(wren_context_create(model, (int32_t)fx.images, NULL, 0, &context), WREN_OK);
    float *logits = calloc(fx.images * fx.classes, sizeof(float));
    assert_int_equal(wren_run(context, fx.input.values, (int32_t)fx.images, logits), WREN_OK);
    assert_logits_equal(logits, 0, fx.images);
    free(logits);
    wren_context_free(context);
    wren_model_free(model);
}

// MARK: - Running, arenas and batches

static void test_caller_arena_batch_matches_cli(void **state) {
    (void)state;
    wren_model *model = load_model();
    int32_t batch = (int32_t)fx.images;
    size_t size = wren_context_arena_size(model, batch);
    assert_true(size > 0);
    // Guard bytes after the arena catch any write past the size Wren asked for.
    const size_t guard = 256;
    unsigned char *arena = aligned_arena(size + guard);
    memset(arena, 0xA5, size + guard);
    wren_context *context = NOT_SET;
    assert_int_equal(wren_context_create(model, batch, arena, size, &context), WREN_OK);
    float *logits = calloc(fx.images * fx.classes, sizeof(float));
    assert_int_equal(wren_run(context, fx.input.values, batch, logits), WREN_OK);
    assert_logits_equal(logits, 0, fx.images);

    size_t touched = 0;
    for (size_t i = 0; i < size; i++) touched += arena[i] != 0xA5;
    assert_true(touched > size / 4);  // the activations really live in the caller's memory
    for (size_t i = size; i < size + guard; i++) assert_int_equal(arena[i], 0xA5);

    // A second run in the same arena gives the same answer (no state leaks between runs).
    fill_floats(logits, fx.images * fx.classes, 0);
    assert_int_equal(wren_run(context, fx.input.values, batch, logits), WREN_OK);
    assert_logits_equal(logits, 0, fx.images);
    free(logits);
    wren_context_free(context);
    // Wren never frees a caller's arena: it is still ours to write and free.
    memset(arena, 0, size);
    free(arena);
    wren_model_free(model);
}

static void test_wren_arena_single_images_match_cli(void **state) {
    (void)state;
    wren_model *model = load_model();
    wren_context *context = NULL;
    assert_int_equal(wren_context_create(model, 1, NULL, 12345 /* ignored without an arena */, &context), WREN_OK);
    for (size_t i = 0; i < fx.images; i++) {
        float logits[64];
        assert_int_equal(wren_run(context, image(i), 1, logits), WREN_OK);
        assert_logits_equal(logits, i, 1);
    }
    wren_context_free(context);
    wren_model_free(model);
}

static void test_partial_batches_match_cli(void **state) {
    (void)state;
    wren_model *model = load_model();
    wren_context *context = NULL;
    int32_t max_batch = (int32_t)fx.images - 1;
    assert_int_equal(wren_context_create(model, max_batch, NULL, 0, &context), WREN_OK);
    float *logits = calloc(fx.images * fx.classes, sizeof(float));
    assert_int_equal(wren_run(context, image(0), max_batch, logits), WREN_OK);
    assert_int_equal(wren_run(context, image((size_t)max_batch), 1, logits + (size_t)max_batch * fx.classes), WREN_OK);
    assert_logits_equal(logits, 0, fx.images);
    free(logits);
    wren_context_free(context);
    wren_model_free(model);
}

// A context runs its images one after another on the calling thread, so the arena holds one
// image's activations whatever the batch.
static void test_arena_size_agrees_with_cli_and_does_not_grow_with_batch(void **state) {
    (void)state;
    wren_model *model = load_model();
    size_t one = wren_context_arena_size(model, 1);
    assert_int_equal(one, fx.arena_batch1);
    assert_int_equal(one % WREN_ARENA_ALIGNMENT, 0);
    assert_int_equal(wren_context_arena_size(model, 4), one);
    assert_int_equal(wren_context_arena_size(model, WREN_MAX_BATCH_LIMIT), one);
    wren_model_free(model);
}

static void test_exact_arena_size_is_enough(void **state) {
    (void)state;
    wren_model *model = load_model();
    size_t size = wren_context_arena_size(model, 1);
    void *arena = aligned_arena(size);
    wren_context *context = NULL;
    assert_int_equal(wren_context_create(model, 1, arena, size, &context), WREN_OK);
    float logits[64];
    assert_int_equal(wren_run(context, image(1), 1, logits), WREN_OK);
    assert_logits_equal(logits, 1, 1);
    wren_context_free(context);
    free(arena);
    wren_model_free(model);
}

static void test_arena_too_small(void **state) {
    (void)state;
    wren_model *model = load_model();
    size_t size = wren_context_arena_size(model, 2);
    void *arena = aligned_arena(size);
    wren_context *context = NOT_SET;
    assert_int_equal(wren_context_create(model, 2, arena, size - 1, &context), WREN_ERROR_ARENA_TOO_SMALL);
    assert_null(context);
    char needed[64];
    snprintf(needed, sizeof needed, "%zu bytes, %zu needed for max_batch 2", size - 1, size);
    assert_last_error_contains(needed);
    context = NOT_SET;
    assert_int_equal(wren_context_create(model, 2, arena, 0, &context), WREN_ERROR_ARENA_TOO_SMALL);
    free(arena);
    wren_model_free(model);
}

static void test_arena_misaligned(void **state) {
    (void)state;
    wren_model *model = load_model();
    size_t size = wren_context_arena_size(model, 1);
    unsigned char *arena = aligned_arena(size + WREN_ARENA_ALIGNMENT);
    const size_t offsets[] = {1, 8, 32};
    for (size_t i = 0; i < 3; i++) {
        wren_context *context = NOT_SET;
        assert_int_equal(wren_context_create(model, 1, arena + offsets[i], size, &context), WREN_ERROR_ARENA_MISALIGNED);
        assert_null(context);
        assert_last_error_contains("64-byte aligned");
    }
    free(arena);
    wren_model_free(model);
}

static void test_max_batch_out_of_range(void **state) {
    (void)state;
    wren_model *model = load_model();
    const int32_t bad[] = {0, -1, INT32_MIN, WREN_MAX_BATCH_LIMIT + 1, INT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wren_context *context = NOT_SET;
        assert_int_equal(wren_context_create(model, bad[i], NULL, 0, &context), WREN_ERROR_INVALID_BATCH);
        assert_null(context);
        char text[64];
        snprintf(text, sizeof text, "max_batch %d is outside 1...%d", bad[i], WREN_MAX_BATCH_LIMIT);
        assert_last_error_contains(text);
        assert_int_equal(wren_context_arena_size(model, bad[i]), 0);
        assert_last_error_contains("wren_context_arena_size: max_batch");
    }
    wren_model_free(model);
}

static void test_run_batch_out_of_range(void **state) {
    (void)state;
    wren_model *model = load_model();
    wren_context *context = NULL;
    assert_int_equal(wren_context_create(model, 2, NULL, 0, &context), WREN_OK);
    float logits[4 * 64];
    fill_floats(logits, 4 * 64, -7.0f);
    assert_int_equal(wren_run(context, fx.input.values, 0, logits), WREN_ERROR_INVALID_BATCH);
    assert_last_error_contains("batch 0 is below 1");
    assert_int_equal(wren_run(context, fx.input.values, -3, logits), WREN_ERROR_INVALID_BATCH);
    assert_int_equal(wren_run(context, fx.input.values, 3, logits), WREN_ERROR_BATCH_TOO_LARGE);
    assert_last_error_contains("batch 3 exceeds the context's max_batch 2");
    assert_true(all_floats_equal(logits, 4 * 64, -7.0f));  // failed runs leave the output alone
    wren_context_free(context);
    wren_model_free(model);
}

static void test_run_rejects_non_finite_input(void **state) {
    (void)state;
    wren_model *model = load_model();
    wren_context *context = NULL;
    assert_int_equal(wren_context_create(model, 2, NULL, 0, &context), WREN_OK);
    float *input = malloc(2 * fx.per_image * sizeof(float));
    float logits[2 * 64];
    const float bad[] = {NAN, INFINITY, -INFINITY};
    // Image 1, channel 2, row 3, column 4 of a 3x32x32 input.
    const size_t index = fx.per_image + 2 * 32 * 32 + 3 * 32 + 4;
    for (size_t i = 0; i < 3; i++) {
        memcpy(input, fx.input.values, 2 * fx.per_image * sizeof(float));
        input[index] = bad[i];
        fill_floats(logits, 2 * 64, -7.0f);
        assert_int_equal(wren_run(context, input, 2, logits), WREN_ERROR_INPUT_NOT_FINITE);
        assert_last_error_contains("(image 1, channel 2, row 3, column 4)");
        assert_true(all_floats_equal(logits, 2 * 64, -7.0f));
    }
    // The same buffer with the value repaired runs normally.
    input[index] = fx.input.values[index];
    assert_int_equal(wren_run(context, input, 2, logits), WREN_OK);
    assert_logits_equal(logits, 0, 2);
    free(input);
    wren_context_free(context);
    wren_model_free(model);
}

// MARK: - NULL arguments and wrong handles

static void test_null_arguments(void **state) {
    (void)state;
    wren_model *model = load_model();
    wren_context *context = NULL;
    assert_int_equal(wren_context_create(model, 1, NULL, 0, &context), WREN_OK);
    float logits[64];
    int32_t c, h, w;

    wren_model *out_model = NOT_SET;
    assert_int_equal(wren_model_load(NULL, 100, &out_model), WREN_ERROR_NULL_ARGUMENT);
    assert_null(out_model);
    assert_last_error_contains("wren_model_load: bytes is NULL");
    assert_int_equal(wren_model_load(fx.model_bytes, fx.model_length, NULL), WREN_ERROR_NULL_ARGUMENT);
    assert_last_error_contains("out_model is NULL");
    out_model = NOT_SET;
    assert_int_equal(wren_model_load_file(NULL, &out_model), WREN_ERROR_NULL_ARGUMENT);
    assert_null(out_model);
    assert_last_error_contains("wren_model_load_file: path is NULL");
    assert_int_equal(wren_model_load_file(fx.model_path, NULL), WREN_ERROR_NULL_ARGUMENT);

    assert_int_equal(wren_model_num_classes(NULL), -1);
    assert_last_error_contains("wren_model_num_classes: model is NULL");
    assert_int_equal(wren_model_is_zero_copy(NULL), -1);
    assert_int_equal(wren_model_input_shape(NULL, &c, &h, &w), WREN_ERROR_NULL_ARGUMENT);
    assert_int_equal(wren_model_input_shape(model, NULL, &h, &w), WREN_ERROR_NULL_ARGUMENT);
    assert_int_equal(wren_model_input_shape(model, &c, NULL, &w), WREN_ERROR_NULL_ARGUMENT);
    assert_int_equal(wren_model_input_shape(model, &c, &h, NULL), WREN_ERROR_NULL_ARGUMENT);
    assert_last_error_contains("width is NULL");

    assert_int_equal(wren_context_arena_size(NULL, 1), 0);
    assert_last_error_contains("wren_context_arena_size: model is NULL");
    wren_context *out_context = NOT_SET;
    assert_int_equal(wren_context_create(NULL, 1, NULL, 0, &out_context), WREN_ERROR_NULL_ARGUMENT);
    assert_null(out_context);
    assert_int_equal(wren_context_create(model, 1, NULL, 0, NULL), WREN_ERROR_NULL_ARGUMENT);
    assert_last_error_contains("out_context is NULL");

    assert_int_equal(wren_run(NULL, image(0), 1, logits), WREN_ERROR_NULL_ARGUMENT);
    assert_last_error_contains("wren_run: context is NULL");
    assert_int_equal(wren_run(context, NULL, 1, logits), WREN_ERROR_NULL_ARGUMENT);
    assert_last_error_contains("input_nchw is NULL");
    assert_int_equal(wren_run(context, image(0), 1, NULL), WREN_ERROR_NULL_ARGUMENT);
    assert_last_error_contains("logits_out is NULL");

    wren_model_free(NULL);    // no-ops
    wren_context_free(NULL);

    // Everything still works after all those failures.
    assert_int_equal(wren_run(context, image(0), 1, logits), WREN_OK);
    assert_logits_equal(logits, 0, 1);
    wren_context_free(context);
    wren_model_free(model);
}

static void test_wrong_handle_kinds(void **state) {
    (void)state;
    wren_model *model = load_model();
    wren_context *context = NULL;
    assert_int_equal(wren_context_create(model, 1, NULL, 0, &context), WREN_OK);
    wren_model *context_as_model = (wren_model *)context;
    wren_context *model_as_context = (wren_context *)model;
    float logits[64];

    assert_int_equal(wren_model_num_classes(context_as_model), -1);
    assert_last_error_contains("is a wren_context");
    assert_int_equal(wren_context_arena_size(context_as_model, 1), 0);
    wren_context *out = NOT_SET;
    assert_int_equal(wren_context_create(context_as_model, 1, NULL, 0, &out), WREN_ERROR_INVALID_HANDLE);
    assert_null(out);
    int32_t c, h, w;
    assert_int_equal(wren_model_input_shape(context_as_model, &c, &h, &w), WREN_ERROR_INVALID_HANDLE);
    assert_int_equal(wren_model_is_zero_copy(context_as_model), -1);
    assert_int_equal(wren_run(model_as_context, image(0), 1, logits), WREN_ERROR_INVALID_HANDLE);
    assert_last_error_contains("wren_run: context");
    assert_last_error_contains("is a wren_model");
    // Freeing the wrong kind is refused (and recorded) instead of corrupting either object.
    wren_model_free(context_as_model);
    assert_last_error_contains("wren_model_free: model");
    wren_context_free(model_as_context);
    assert_last_error_contains("wren_context_free: context");

    // Memory that was never a handle, aligned or not.
    _Alignas(64) unsigned char zeros[128] = {0};
    assert_int_equal(wren_model_num_classes((wren_model *)zeros), -1);
    assert_last_error_contains("is not a Wren handle");
    assert_int_equal(wren_run((wren_context *)(zeros + 1), image(0), 1, logits), WREN_ERROR_INVALID_HANDLE);
    assert_last_error_contains("misaligned");

    // Both real handles survived.
    assert_int_equal(wren_model_num_classes(model), (int32_t)fx.classes);
    assert_int_equal(wren_run(context, image(3), 1, logits), WREN_OK);
    assert_logits_equal(logits, 3, 1);
    wren_context_free(context);
    wren_model_free(model);
}

// MARK: - Corrupt and unreadable models

static uint32_t crc32_ieee(const unsigned char *bytes, size_t length) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < length; i++) {
        crc ^= bytes[i];
        for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

// Rewrites the header checksum (formats/wren-v1.md §2: CRC-32 with bytes 32-35 read as zero).
static void reseal(unsigned char *bytes, size_t length) {
    memset(bytes + 32, 0, 4);
    uint32_t crc = crc32_ieee(bytes, length);
    memcpy(bytes + 32, &crc, 4);
}

static uint32_t read_u32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

// Offset of the MODL section (formats/wren-v1.md §3), or 0 if absent.
static size_t model_section_offset(const unsigned char *bytes) {
    uint32_t count = read_u32(bytes + 24), table = read_u32(bytes + 28);
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *entry = bytes + table + 32 * i;
        if (memcmp(entry, "MODL", 4) == 0) return read_u32(entry + 8);
    }
    return 0;
}

typedef struct corruption {
    const char *name;
    size_t length;  // bytes of the (modified) copy handed to Wren
    wren_status status;
    const char *detail;
} corruption;

static void expect_load_failure(const unsigned char *bytes, const corruption *c) {
    wren_model *model = NOT_SET;
    wren_status status = wren_model_load(bytes, c->length, &model);
    if (status != c->status)
        fail_msg("%s: status %d (%s), expected %d: %s", c->name, status, wren_status_message(status), c->status, wren_last_error());
    assert_null(model);
    assert_last_error_contains("wren_model_load: ");
    assert_last_error_contains(c->detail);
}

static void test_corrupt_models_in_memory(void **state) {
    (void)state;
    const size_t n = fx.model_length;
    unsigned char *copy = aligned_alloc(WREN_ARENA_ALIGNMENT, (n + 63) / 64 * 64);
    assert_non_null(copy);
#define FRESH() memcpy(copy, fx.model_bytes, n)

    FRESH();
    expect_load_failure(copy, &(corruption){"empty", 0, WREN_ERROR_NOT_A_MODEL, "bad magic"});
    copy[0] ^= 0xFF;
    expect_load_failure(copy, &(corruption){"magic", n, WREN_ERROR_NOT_A_MODEL, "bad magic"});
    FRESH();
    copy[8] = 3;  // major version (1 and 2 are read)
    expect_load_failure(copy, &(corruption){"major version", n, WREN_ERROR_UNSUPPORTED_VERSION, "version 3.0"});
    FRESH();
    expect_load_failure(copy, &(corruption){"truncated by one byte", n - 1, WREN_ERROR_TRUNCATED, "truncated file"});
    expect_load_failure(copy, &(corruption){"header only", 40, WREN_ERROR_TRUNCATED, "header"});
    copy[12] = 13;  // header size: not a multiple of 8
    expect_load_failure(copy, &(corruption){"header size", n, WREN_ERROR_CORRUPT_MODEL, "invalid header size at offset 12"});
    FRESH();
    copy[n - 1] ^= 0x01;
    expect_load_failure(copy, &(corruption){"flipped last byte", n, WREN_ERROR_CHECKSUM_MISMATCH, "checksum mismatch"});
    FRESH();
    copy[n / 2] ^= 0x80;
    expect_load_failure(copy, &(corruption){"flipped middle byte", n, WREN_ERROR_CHECKSUM_MISMATCH, "checksum mismatch"});
    // Past the checksum: a class count of 0 with a correct CRC must still be refused.
    FRESH();
    size_t record = model_section_offset(copy);
    assert_true(record > 0);
    memset(copy + record + 12, 0, 4);
    reseal(copy, n);
    char detail[64];
    snprintf(detail, sizeof detail, "invalid class count at offset %zu", record + 12);
    expect_load_failure(copy, &(corruption){"class count 0", n, WREN_ERROR_CORRUPT_MODEL, detail});
    // The same buffer resealed without the change loads again (the CRC helper is right).
    FRESH();
    reseal(copy, n);
    wren_model *model = NULL;
    assert_int_equal(wren_model_load(copy, n, &model), WREN_OK);
    wren_model_free(model);
    // Lengths beyond any buffer are refused before a byte is read.
    model = NOT_SET;
    assert_int_equal(wren_model_load(copy, SIZE_MAX, &model), WREN_ERROR_INVALID_ARGUMENT);
    assert_null(model);
    assert_last_error_contains("length");
#undef FRESH
    free(copy);
}

static char *temp_path(const char *name) {
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", fx.temp_dir, name) > 0);
    return path;
}

static void write_file(const char *path, const void *bytes, size_t length) {
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(bytes, 1, length, file), length);
    fclose(file);
}

static void test_corrupt_and_empty_files(void **state) {
    (void)state;
    char *truncated = temp_path("truncated.wren");
    write_file(truncated, fx.model_bytes, fx.model_length / 2);
    wren_model *model = NOT_SET;
    assert_int_equal(wren_model_load_file(truncated, &model), WREN_ERROR_TRUNCATED);
    assert_null(model);
    assert_last_error_contains(truncated);  // the detail names the file
    assert_last_error_contains("truncated file");

    char *empty = temp_path("empty.wren");
    write_file(empty, "", 0);
    assert_int_equal(wren_model_load_file(empty, &model), WREN_ERROR_NOT_A_MODEL);
    assert_last_error_contains(empty);

    char *flipped = temp_path("flipped.wren");
    unsigned char *bytes = malloc(fx.model_length);
    memcpy(bytes, fx.model_bytes, fx.model_length);
    bytes[fx.model_length - 100] ^= 0x10;
    write_file(flipped, bytes, fx.model_length);
    assert_int_equal(wren_model_load_file(flipped, &model), WREN_ERROR_CHECKSUM_MISMATCH);
    free(bytes);
    free(truncated);
    free(empty);
    free(flipped);
}

static void test_unreadable_files(void **state) {
    (void)state;
    char *missing = temp_path("does-not-exist.wren");
    wren_model *model = NOT_SET;
    assert_int_equal(wren_model_load_file(missing, &model), WREN_ERROR_FILE_UNREADABLE);
    assert_null(model);
    assert_last_error_contains(missing);
    assert_last_error_contains(strerror(ENOENT));
    free(missing);

    model = NOT_SET;
    assert_int_equal(wren_model_load_file(fx.temp_dir, &model), WREN_ERROR_FILE_UNREADABLE);
    assert_null(model);
    assert_last_error_contains("not a regular file");

    // A path far longer than the message buffer: the detail is cut, not overflowed.
    char long_path[3000];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    assert_int_equal(wren_model_load_file(long_path, &model), WREN_ERROR_FILE_UNREADABLE);
    const char *message = wren_last_error();
    assert_true(strlen(message) == 1023);
    assert_true(strncmp(message, "wren_model_load_file: 'aaaa", 27) == 0);
}

// MARK: - Arena limit

// A little-endian byte buffer for writing a .wren file by hand.
typedef struct bytes {
    unsigned char data[8192];
    size_t length;
} bytes;

static void put_u32(bytes *b, uint32_t value) {
    assert_true(b->length + 4 <= sizeof b->data);
    for (int i = 0; i < 4; i++) b->data[b->length++] = (unsigned char)(value >> (8 * i));
}
static void put_u64(bytes *b, uint64_t value) {
    put_u32(b, (uint32_t)value);
    put_u32(b, (uint32_t)(value >> 32));
}
static void put_f32(bytes *b, float value) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    put_u32(b, bits);
}
static void put_zeros(bytes *b, size_t count) {
    assert_true(b->length + count <= sizeof b->data);
    memset(b->data + b->length, 0, count);
    b->length += count;
}
static void pad_to_64(bytes *b) { put_zeros(b, (64 - b->length % 64) % 64); }
static uint32_t four_cc(const char *text) { return read_u32((const unsigned char *)text); }

enum { LIVE_CHANNELS = 4, LIVE_CLASSES = 2, NO_TENSOR = -1 };

// One layer record (formats/wren-v1.md §5) with its blobs, all zero, appended to `data`.
static void put_layer(bytes *layers, bytes *data, uint32_t op, uint32_t input, int32_t output, int32_t residual,
                      uint32_t stride, uint32_t in_channels) {
    const uint32_t c = LIVE_CHANNELS;
    uint32_t blob_lengths[5] = {0};
    if (op == 1) {  // conv2d 1x1: packed weights (out channels padded to 16, depth to 4), bias, multipliers, shifts
        blob_lengths[0] = 16 * ((in_channels + 3) / 4 * 4);
        blob_lengths[1] = blob_lengths[2] = blob_lengths[3] = 4 * c;
    } else if (op == 2) {  // channel_affine_relu: offsets, multipliers, shifts
        blob_lengths[1] = blob_lengths[2] = blob_lengths[3] = 4 * c;
    } else {  // average_pool_linear: float weights and bias
        blob_lengths[0] = 4 * LIVE_CLASSES * c;
        blob_lengths[1] = 4 * LIVE_CLASSES;
    }
    put_u32(layers, op);
    put_u32(layers, input);
    put_u32(layers, (uint32_t)output);
    put_u32(layers, (uint32_t)residual);
    for (int i = 0; i < 3; i++) put_u32(layers, i == 1 ? stride : i == 0 ? 1 : 0);  // kernel, stride, padding
    put_zeros(layers, 12);  // relu, residual multiplier and shift
    put_u32(layers, op == 3 ? LIVE_CLASSES : c);
    put_u32(layers, 0);
    for (int slot = 0; slot < 5; slot++) {
        if (blob_lengths[slot] == 0) {
            put_zeros(layers, 16);
            continue;
        }
        pad_to_64(data);
        put_u64(layers, data->length);
        put_u64(layers, blob_lengths[slot]);
        put_zeros(data, blob_lengths[slot]);
    }
}

// A .wren of about 2 KB (every constant zero) whose activations at side x side are 4 channels,
// five alive at once: stem conv, three affines, three residual convs reading the stem and the
// first two affines' outputs, a stride-4 conv, the classifier. At 8192 each one is 256 MiB.
// (The same graph as ArenaLimitTests.manyLiveActivations in Tests/WrenHostTests.)
static bytes *many_live_activations_model(uint32_t side) {
    bytes *file = calloc(1, sizeof *file);
    bytes *sections[5];
    for (int i = 0; i < 5; i++) sections[i] = calloc(1, sizeof(bytes));
    bytes *meta = sections[0], *modl = sections[1], *tens = sections[2], *layr = sections[3], *data = sections[4];
    put_u32(meta, 0);
    put_u32(modl, 3);
    put_u32(modl, side);
    put_u32(modl, side);
    put_u32(modl, LIVE_CLASSES);
    for (int i = 0; i < 3; i++) put_f32(modl, 0.0f);
    for (int i = 0; i < 3; i++) put_f32(modl, 1.0f);
    put_u32(modl, 0);  // input tensor
    put_u32(modl, 1);  // rounding rule
    put_zeros(modl, 16);
    put_u32(tens, 9);
    put_u32(tens, 0);
    for (uint32_t t = 0; t < 9; t++) {
        put_u32(tens, t == 0 ? 3 : LIVE_CHANNELS);
        put_u32(tens, t == 8 ? side / 4 : side);
        put_u32(tens, t == 8 ? side / 4 : side);
        put_f32(tens, 0.05f);
        put_u32(tens, 0);  // zero point
        put_u32(tens, 0);  // int8
        char name[40] = {0};
        snprintf(name, sizeof name, "t%u", t);
        memcpy(tens->data + tens->length, name, sizeof name);
        tens->length += sizeof name;
    }
    put_u32(layr, 9);
    put_u32(layr, 0);
    put_layer(layr, data, 1, 0, 1, NO_TENSOR, 1, 3);
    for (uint32_t t = 1; t <= 3; t++) put_layer(layr, data, 2, t, (int32_t)t + 1, NO_TENSOR, 1, LIVE_CHANNELS);
    for (uint32_t t = 4; t <= 6; t++) put_layer(layr, data, 1, t, (int32_t)t + 1, (int32_t)t - 3, 1, LIVE_CHANNELS);
    put_layer(layr, data, 1, 7, 8, NO_TENSOR, 4, LIVE_CHANNELS);
    put_layer(layr, data, 3, 8, NO_TENSOR, NO_TENSOR, 1, LIVE_CHANNELS);

    // Header (§2), section table (§3), then the sections at multiples of 64.
    const char *kinds[5] = {"META", "MODL", "TENS", "LAYR", "DATA"};
    uint64_t offset = 64 + 5 * 32, offsets[5];
    for (int i = 0; i < 5; i++) {
        offset = (offset + 63) / 64 * 64;
        offsets[i] = offset;
        offset += sections[i]->length;
    }
    memcpy(file->data, "\x89WREN\r\n\x1a", 8);
    file->length = 8;
    put_u32(file, 1);  // major 1, minor 0
    put_u32(file, 64);
    put_u64(file, offset);
    put_u32(file, 5);
    put_u32(file, 64);
    put_zeros(file, 32);  // checksum (below) and reserved
    for (int i = 0; i < 5; i++) {
        put_u32(file, four_cc(kinds[i]));
        put_u32(file, 1);  // required
        put_u64(file, offsets[i]);
        put_u64(file, sections[i]->length);
        put_u64(file, 0);
    }
    for (int i = 0; i < 5; i++) {
        pad_to_64(file);
        assert_int_equal(file->length, offsets[i]);
        memcpy(file->data + file->length, sections[i]->data, sections[i]->length);
        file->length += sections[i]->length;
        free(sections[i]);
    }
    reseal(file->data, file->length);
    return file;
}

static wren_model *load_many_live_activations_model(uint32_t side) {
    bytes *file = many_live_activations_model(side);
    // One byte past malloc's alignment, so Wren copies the bytes and they can be freed here.
    unsigned char *unaligned = malloc(file->length + 1);
    assert_non_null(unaligned);
    memcpy(unaligned + 1, file->data, file->length);
    wren_model *model = NULL;
    wren_status status = wren_model_load(unaligned + 1, file->length, &model);
    if (status != WREN_OK) fail_msg("the hand-written model does not load: %s", wren_last_error());
    assert_int_equal(wren_model_is_zero_copy(model), 0);
    free(unaligned);
    free(file);
    return model;
}

// A 2 KB file declaring 1.25 GiB of live activations gets no arena unless the caller asks for one
// that large: wren_context_create refuses it before allocating anything.
static void test_huge_arena_is_refused_by_default(void **state) {
    (void)state;
    wren_model *model = load_many_live_activations_model(8192);
    size_t needed = wren_context_arena_size(model, 1);
    assert_true(needed >= (size_t)5 * LIVE_CHANNELS * 8192 * 8192);
    assert_true(needed > WREN_DEFAULT_ARENA_LIMIT);
    wren_context *context = NOT_SET;
    assert_int_equal(wren_context_create(model, 1, NULL, 0, &context), WREN_ERROR_ARENA_LIMIT_EXCEEDED);
    assert_null(context);
    char detail[128];
    snprintf(detail, sizeof detail, "wren_context_create: the arena for maximum batch 1 needs %zu bytes, over the limit of %u bytes",
             needed, WREN_DEFAULT_ARENA_LIMIT);
    assert_last_error_contains(detail);
    context = NOT_SET;
    assert_int_equal(wren_context_create_with_arena_limit(model, 1, 64u << 20, &context), WREN_ERROR_ARENA_LIMIT_EXCEEDED);
    assert_null(context);
    assert_last_error_contains("wren_context_create_with_arena_limit: the arena for maximum batch 1");
    wren_model_free(model);
}

static void test_arena_limit_override_is_exact(void **state) {
    (void)state;
    wren_model *model = load_many_live_activations_model(64);
    size_t needed = wren_context_arena_size(model, 2);
    assert_true(needed > 0);
    wren_context *context = NOT_SET;
    assert_int_equal(wren_context_create_with_arena_limit(model, 2, needed - 1, &context), WREN_ERROR_ARENA_LIMIT_EXCEEDED);
    assert_null(context);
    assert_int_equal(wren_context_create_with_arena_limit(model, 2, needed, NULL), WREN_ERROR_NULL_ARGUMENT);
    assert_int_equal(wren_context_create_with_arena_limit(NULL, 2, needed, &context), WREN_ERROR_NULL_ARGUMENT);
    assert_int_equal(wren_context_create_with_arena_limit(model, 0, needed, &context), WREN_ERROR_INVALID_BATCH);
    assert_int_equal(wren_context_create_with_arena_limit(model, 2, needed, &context), WREN_OK);
    float *input = calloc(2 * 3 * 64 * 64, sizeof(float));
    float logits[2 * LIVE_CLASSES];
    fill_floats(logits, 2 * LIVE_CLASSES, -7.0f);
    assert_int_equal(wren_run(context, input, 2, logits), WREN_OK);
    assert_true(all_floats_equal(logits, 2 * LIVE_CLASSES, 0.0f));  // every weight and bias is zero
    free(input);
    wren_context_free(context);
    assert_int_equal(wren_context_create_with_arena_limit(model, 2, SIZE_MAX, &context), WREN_OK);
    wren_context_free(context);
    wren_model_free(model);
}

// MARK: - Threads

typedef struct thread_run {
    const wren_model *model;
    int status;             // first failing status, WREN_OK if none
    int mismatches;         // images whose logits differ from `wren run`
    char last_error[256];   // this thread's wren_last_error() at the end
} thread_run;

static void *run_all_images(void *argument) {
    thread_run *run = argument;
    wren_context *context = NULL;
    run->status = wren_context_create(run->model, 1, NULL, 0, &context);
    float logits[64];
    for (int round = 0; round < 5 && run->status == WREN_OK; round++) {
        for (size_t i = 0; i < fx.images && run->status == WREN_OK; i++) {
            run->status = wren_run(context, image(i), 1, logits);
            run->mismatches += memcmp(logits, expected_logits(i), fx.classes * sizeof(float)) != 0;
        }
    }
    wren_context_free(context);
    // A failure on this thread...
    wren_model_load_file("/nonexistent/thread-only.wren", &(wren_model *){NULL});
    snprintf(run->last_error, sizeof run->last_error, "%s", wren_last_error());
    return NULL;
}

static void test_model_shared_across_threads(void **state) {
    (void)state;
    wren_model *model = load_model();
    // ...must not show up on the main thread, whose own last error is set here.
    assert_int_equal(wren_model_num_classes(NULL), -1);
    enum { THREADS = 4 };
    thread_run runs[THREADS];
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        runs[t] = (thread_run){.model = model};
        assert_int_equal(pthread_create(&threads[t], NULL, run_all_images, &runs[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(runs[t].status, WREN_OK);
        assert_int_equal(runs[t].mismatches, 0);
        assert_non_null(strstr(runs[t].last_error, "thread-only.wren"));
    }
    assert_string_equal(wren_last_error(), "wren_model_num_classes: model is NULL");
    wren_model_free(model);
}

typedef struct shared_run {
    wren_context *context;
    int thread;
    int right, busy, wrong, other;  // outcomes of this thread's calls
    char other_error[256];
} shared_run;

enum { SHARED_THREADS = 4, SHARED_RUNS = 50 };

// Runs SHARED_RUNS images on the shared context, trying again after each BUSY, so that the
// threads take turns and keep arriving while another one runs.
static void *run_shared_context(void *argument) {
    shared_run *run = argument;
    float logits[64];
    for (int round = 0; round < SHARED_RUNS && run->other == 0;) {
        size_t i = (size_t)(run->thread + round) % fx.images;
        wren_status status = wren_run(run->context, image(i), 1, logits);
        if (status == WREN_OK) {
            if (memcmp(logits, expected_logits(i), fx.classes * sizeof(float)) == 0) run->right++;
            else run->wrong++;
            round++;
        } else if (status == WREN_ERROR_BUSY) {
            run->busy++;
            if (strstr(wren_last_error(), "wren_run: the context is already running on another thread") == NULL) {
                run->other++;
                snprintf(run->other_error, sizeof run->other_error, "BUSY with detail \"%s\"", wren_last_error());
            }
            sched_yield();
        } else {
            run->other++;
            snprintf(run->other_error, sizeof run->other_error, "%s", wren_last_error());
        }
    }
    return NULL;
}

// wren.h forbids sharing a context between threads; doing it anyway gives, call by call, either the
// right logits or WREN_ERROR_BUSY, never another thread's half-computed activations.
static void test_context_shared_across_threads_is_right_or_busy(void **state) {
    (void)state;
    wren_model *model = load_model();
    wren_context *context = NULL;
    assert_int_equal(wren_context_create(model, 1, NULL, 0, &context), WREN_OK);
    enum { THREADS = SHARED_THREADS };
    shared_run runs[THREADS];
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        runs[t] = (shared_run){.context = context, .thread = t};
        assert_int_equal(pthread_create(&threads[t], NULL, run_shared_context, &runs[t]), 0);
    }
    int right = 0, busy = 0, wrong = 0, other = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        right += runs[t].right;
        busy += runs[t].busy;
        wrong += runs[t].wrong;
        other += runs[t].other;
        if (runs[t].other_error[0] != '\0') print_error("thread %d: %s\n", t, runs[t].other_error);
    }
    print_message("shared context: %d runs right, %d wrong, %d calls refused as busy\n", right, wrong, busy);
    if (wrong > 0 || other > 0) fail_msg("%d calls gave wrong logits, %d failed otherwise (%d right, %d busy)", wrong, other, right, busy);
    assert_int_equal(right, THREADS * SHARED_RUNS);
    // Once the threads are done the context is free again.
    float logits[64];
    assert_int_equal(wren_run(context, image(0), 1, logits), WREN_OK);
    assert_logits_equal(logits, 0, 1);
    wren_context_free(context);
    wren_model_free(model);
}

// MARK: - 0.2.0: contexts with options

static void test_options_init_sets_defaults(void **state) {
    (void)state;
    wren_context_options options;
    memset(&options, 0x5A, sizeof options);
    wren_context_options_init(&options);
    assert_int_equal(options.max_batch, 1);
    assert_int_equal(options.threads, 1);
    assert_int_equal(options.arena_limit, WREN_DEFAULT_ARENA_LIMIT);
    assert_int_equal(options.retain_activations, 0);
    wren_context_options_init(NULL);  // ignored
}

// Every thread count gives the CLI's logits bit for bit, for a whole batch and image by image.
static void test_threaded_contexts_match_cli(void **state) {
    (void)state;
    wren_model *model = load_model();
    const int32_t counts[] = {0, 1, 2, 3};
    float *logits = calloc(fx.images * fx.classes, sizeof(float));
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        wren_context_options options;
        wren_context_options_init(&options);
        options.max_batch = (int32_t)fx.images;
        options.threads = counts[c];
        wren_context *context = NOT_SET;
        assert_int_equal(wren_context_create_with_options(model, &options, &context), WREN_OK);
        int32_t threads = wren_context_threads(context);
        if (counts[c] == 0) assert_true(threads >= 1);
        else assert_int_equal(threads, counts[c]);
        fill_floats(logits, fx.images * fx.classes, 0);
        assert_int_equal(wren_run(context, fx.input.values, (int32_t)fx.images, logits), WREN_OK);
        assert_logits_equal(logits, 0, fx.images);
        assert_int_equal(wren_context_last_batch(context), (int32_t)fx.images);
        for (size_t i = 0; i < fx.images; i++) {
            assert_int_equal(wren_run(context, image(i), 1, logits), WREN_OK);
            assert_logits_equal(logits, i, 1);
        }
        assert_int_equal(wren_context_last_batch(context), 1);
        wren_context_free(context);
    }
    free(logits);
    assert_int_equal(wren_context_threads(NULL), -1);
    assert_int_equal(wren_context_last_batch(NULL), -1);
    wren_model_free(model);
}

static void test_options_out_of_range(void **state) {
    (void)state;
    wren_model *model = load_model();
    wren_context_options options;
    wren_context *context = NOT_SET;
    assert_int_equal(wren_context_create_with_options(model, NULL, &context), WREN_ERROR_NULL_ARGUMENT);
    assert_null(context);
    assert_last_error_contains("options is NULL");

    const int32_t bad_threads[] = {-1, WREN_MAX_THREADS + 1};
    for (int i = 0; i < 2; i++) {
        wren_context_options_init(&options);
        options.threads = bad_threads[i];
        context = NOT_SET;
        assert_int_equal(wren_context_create_with_options(model, &options, &context), WREN_ERROR_INVALID_ARGUMENT);
        assert_null(context);
        assert_last_error_contains("threads");
    }
    wren_context_options_init(&options);
    options.max_batch = 0;
    assert_int_equal(wren_context_create_with_options(model, &options, &context), WREN_ERROR_INVALID_BATCH);
    assert_last_error_contains("max_batch 0");

    wren_context_options_init(&options);
    options.arena_limit = fx.arena_batch1 - 1;
    context = NOT_SET;
    assert_int_equal(wren_context_create_with_options(model, &options, &context), WREN_ERROR_ARENA_LIMIT_EXCEEDED);
    assert_null(context);
    assert_last_error_contains("options.arena_limit");
    options.arena_limit = fx.arena_batch1;  // exactly enough
    assert_int_equal(wren_context_create_with_options(model, &options, &context), WREN_OK);
    wren_context_free(context);
    wren_model_free(model);
}

// MARK: - 0.2.0: model information

static void test_tensors_describe_the_model(void **state) {
    (void)state;
    wren_model *model = load_model();
    int32_t count = wren_model_num_tensors(model);
    assert_true(count >= 3);
    wren_tensor_info info;
    assert_int_equal(wren_model_tensor(model, 0, &info), WREN_OK);
    assert_string_equal(info.name, "input");
    assert_int_equal(info.channels, fx.input.shape[1]);
    assert_int_equal(info.height, fx.input.shape[2]);
    assert_int_equal(info.width, fx.input.shape[3]);
    assert_int_equal(info.element_size, 1);
    assert_true(info.scale > 0);
    assert_int_equal(wren_model_tensor(model, count - 1, &info), WREN_OK);
    assert_string_equal(info.name, "relu");  // the final BN-ReLU, what the classifier pools
    for (int32_t i = 0; i < count; i++) {
        assert_int_equal(wren_model_tensor(model, i, &info), WREN_OK);
        assert_true(strlen(info.name) > 0);
        assert_true(info.channels >= 1 && info.height >= 1 && info.width >= 1);
    }
    memset(&info, 0, sizeof info);
    assert_int_equal(wren_model_tensor(model, count, &info), WREN_ERROR_INVALID_ARGUMENT);
    assert_last_error_contains("outside 0...");
    assert_null(info.name);  // unchanged on failure
    assert_int_equal(wren_model_tensor(model, -1, &info), WREN_ERROR_INVALID_ARGUMENT);
    assert_int_equal(wren_model_tensor(model, 0, NULL), WREN_ERROR_NULL_ARGUMENT);
    assert_int_equal(wren_model_num_tensors(NULL), -1);
    wren_model_free(model);
}

static wren_model *load_digits_model(void) {
    const char *path = required_env("WREN_CAPI_DIGITS_MODEL");
    assert_non_null(path);
    wren_model *model = NULL;
    assert_int_equal(wren_model_load_file(path, &model), WREN_OK);
    return model;
}

static void test_metadata_labels_and_normalization(void **state) {
    (void)state;
    wren_model *model = load_model();
    int32_t entries = wren_model_num_metadata(model);
    assert_true(entries >= 1);
    const char *key = NULL, *value = NULL;
    int found = 0;
    for (int32_t i = 0; i < entries; i++) {
        assert_int_equal(wren_model_metadata(model, i, &key, &value), WREN_OK);
        if (strcmp(key, "architecture") == 0) {
            assert_string_equal(value, "WRN-10-1");
            found = 1;
        }
    }
    assert_true(found);
    assert_int_equal(wren_model_metadata(model, entries, &key, &value), WREN_ERROR_INVALID_ARGUMENT);
    assert_int_equal(wren_model_metadata(model, 0, NULL, &value), WREN_ERROR_NULL_ARGUMENT);
    // Converted without --labels: no names.
    const char *label = NOT_SET;
    assert_int_equal(wren_model_label(model, 0, &label), WREN_OK);
    assert_null(label);
    float mean[3] = {0}, std[3] = {0};
    assert_int_equal(wren_model_normalization(model, mean, std, 3), WREN_OK);
    for (int c = 0; c < 3; c++) {
        assert_true(mean[c] == 0.5f);  // `wren convert`'s default
        assert_true(std[c] == 0.5f);
    }
    assert_int_equal(wren_model_normalization(model, mean, std, 4), WREN_ERROR_INVALID_ARGUMENT);
    assert_last_error_contains("the model's input has 3");
    assert_int_equal(wren_model_num_metadata(NULL), -1);
    wren_model_free(model);

    model = load_digits_model();
    const char *names[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
    assert_int_equal(wren_model_num_classes(model), 10);
    for (int32_t i = 0; i < 10; i++) {
        assert_int_equal(wren_model_label(model, i, &label), WREN_OK);
        assert_string_equal(label, names[i]);
    }
    assert_int_equal(wren_model_label(model, 10, &label), WREN_ERROR_INVALID_ARGUMENT);
    assert_last_error_contains("class 10 is outside 0...9");
    assert_int_equal(wren_model_label(model, -1, &label), WREN_ERROR_INVALID_ARGUMENT);
    wren_model_free(model);
}

// MARK: - 0.2.0: activations

static wren_context *retaining_context(wren_model *model, int32_t max_batch, int32_t threads) {
    wren_context_options options;
    wren_context_options_init(&options);
    options.max_batch = max_batch;
    options.threads = threads;
    options.retain_activations = 1;
    wren_context *context = NULL;
    assert_int_equal(wren_context_create_with_options(model, &options, &context), WREN_OK);
    return context;
}

static size_t tensor_bytes(const wren_tensor_info *info) {
    return (size_t)info->channels * (size_t)info->height * (size_t)info->width * (size_t)info->element_size;
}

// The "input" tensor is the input quantized: dequantized, each value is within half a step of the
// float input (or at the end of the int8 range the input lies beyond), stored NHWC.
static void test_activations_hold_the_quantized_input(void **state) {
    (void)state;
    wren_model *model = load_model();
    int32_t batch = (int32_t)fx.images;
    wren_context *context = retaining_context(model, batch, 2);
    wren_tensor_info info;
    assert_int_equal(wren_model_tensor(model, 0, &info), WREN_OK);
    size_t per_image = tensor_bytes(&info);
    int8_t *values = malloc(per_image * fx.images);
    // Before any run there is nothing to copy.
    assert_int_equal(wren_context_activations(context, 0, values, per_image * fx.images), WREN_ERROR_INVALID_ARGUMENT);
    assert_last_error_contains("not run yet");

    float *logits = calloc(fx.images * fx.classes, sizeof(float));
    assert_int_equal(wren_run(context, fx.input.values, batch, logits), WREN_OK);
    assert_logits_equal(logits, 0, fx.images);  // retaining changes nothing in the results
    assert_int_equal(wren_context_activations(context, 0, values, per_image * fx.images), WREN_OK);
    float lowest = (float)(-128 - info.zero_point) * info.scale, highest = (float)(127 - info.zero_point) * info.scale;
    size_t plane = (size_t)info.height * (size_t)info.width;
    for (size_t n = 0; n < fx.images; n++) {
        for (size_t c = 0; c < (size_t)info.channels; c++) {
            for (size_t p = 0; p < plane; p++) {
                float x = fx.input.values[n * fx.per_image + c * plane + p];
                float y = (float)(values[n * per_image + p * (size_t)info.channels + c] - info.zero_point) * info.scale;
                float target = x < lowest ? lowest : x > highest ? highest : x;
                if (fabsf(y - target) > info.scale * 0.5001f)
                    fail_msg("image %zu channel %zu pixel %zu: input %g, dequantized %g (scale %g, zero point %d)", n, c, p, x, y,
                             info.scale, info.zero_point);
            }
        }
    }
    // Too small a buffer is refused with the size needed.
    assert_int_equal(wren_context_activations(context, 0, values, per_image * fx.images - 1), WREN_ERROR_INVALID_ARGUMENT);
    char needed[64];
    snprintf(needed, sizeof needed, "needs %zu", per_image * fx.images);
    assert_last_error_contains(needed);
    assert_int_equal(wren_context_activations(context, wren_model_num_tensors(model), values, per_image), WREN_ERROR_INVALID_ARGUMENT);
    assert_int_equal(wren_context_activations(context, 0, NULL, per_image), WREN_ERROR_NULL_ARGUMENT);
    free(values);
    free(logits);
    wren_context_free(context);
    wren_model_free(model);
}

// Every tensor of image i is the same after a batch run (2 threads) as after a run of image i alone
// (1 thread): the copy takes each image's own values, whatever the threads.
static void test_activations_of_batch_equal_single_runs(void **state) {
    (void)state;
    wren_model *model = load_model();
    int32_t batch = (int32_t)fx.images;
    wren_context *together = retaining_context(model, batch, 2);
    wren_context *alone = retaining_context(model, 1, 1);
    float *logits = calloc(fx.images * fx.classes, sizeof(float));
    assert_int_equal(wren_run(together, fx.input.values, batch, logits), WREN_OK);
    int32_t tensors = wren_model_num_tensors(model);
    for (size_t i = 0; i < fx.images; i++) {
        assert_int_equal(wren_run(alone, image(i), 1, logits), WREN_OK);
        for (int32_t t = 0; t < tensors; t++) {
            wren_tensor_info info;
            assert_int_equal(wren_model_tensor(model, t, &info), WREN_OK);
            size_t bytes = tensor_bytes(&info);
            unsigned char *all = malloc(bytes * fx.images), *one = malloc(bytes);
            assert_int_equal(wren_context_activations(together, t, all, bytes * fx.images), WREN_OK);
            assert_int_equal(wren_context_activations(alone, t, one, bytes), WREN_OK);
            if (memcmp(all + i * bytes, one, bytes) != 0) fail_msg("tensor %s of image %zu differs between batch and single runs", info.name, i);
            free(all);
            free(one);
        }
    }
    // A context that keeps no activations says so.
    wren_context *plain = NULL;
    assert_int_equal(wren_context_create(model, 1, NULL, 0, &plain), WREN_OK);
    assert_int_equal(wren_run(plain, image(0), 1, logits), WREN_OK);
    unsigned char byte;
    assert_int_equal(wren_context_activations(plain, 0, &byte, 1), WREN_ERROR_INVALID_ARGUMENT);
    assert_last_error_contains("retain_activations");
    free(logits);
    wren_context_free(plain);
    wren_context_free(alone);
    wren_context_free(together);
    wren_model_free(model);
}

// MARK: - 0.2.0: images

// A JPEG and a PNG, preprocessed by the library and run, give `wren run IMAGE`'s logits bit for bit.
static void test_preprocess_file_matches_cli(void **state) {
    (void)state;
    const char *files[2] = {required_env("WREN_CAPI_DIGITS_JPEG"), required_env("WREN_CAPI_DIGITS_PNG")};
    const char *expected_path = required_env("WREN_CAPI_DIGITS_LOGITS");
    assert_non_null(files[0]);
    assert_non_null(files[1]);
    assert_non_null(expected_path);
    npy_float32 expected;
    char error[256];
    assert_int_equal(npy_float32_read(expected_path, &expected, error), 0);
    assert_int_equal(expected.count, 20);
    wren_model *model = load_digits_model();
    float input[2 * 3 * 32 * 32];
    fill_floats(input, 2 * 3 * 32 * 32, 1e9f);
    for (int i = 0; i < 2; i++) assert_int_equal(wren_model_preprocess_file(model, files[i], input + i * 3 * 32 * 32), WREN_OK);
    assert_false(all_floats_equal(input, 3 * 32 * 32, 1e9f));
    wren_context *context = NULL;
    assert_int_equal(wren_context_create(model, 2, NULL, 0, &context), WREN_OK);
    float logits[20];
    assert_int_equal(wren_run(context, input, 2, logits), WREN_OK);
    if (memcmp(logits, expected.values, sizeof logits) != 0) {
        for (int i = 0; i < 20; i++) print_error("%s class %d: %.9g vs wren run %.9g\n", files[i / 10], i % 10, logits[i], expected.values[i]);
        fail_msg("preprocessed images give other logits than `wren run`");
    }
    wren_context_free(context);
    npy_float32_free(&expected);

    // Failures: a missing file, a file that is no image, NULLs.
    float untouched[3 * 32 * 32];
    fill_floats(untouched, 3 * 32 * 32, 7);
    char missing[512];
    snprintf(missing, sizeof missing, "%s/no-such-image.jpg", fx.temp_dir);
    assert_int_equal(wren_model_preprocess_file(model, missing, untouched), WREN_ERROR_FILE_UNREADABLE);
    assert_last_error_contains("no-such-image.jpg");
    assert_int_equal(wren_model_preprocess_file(model, fx.model_path, untouched), WREN_ERROR_BAD_IMAGE);
    assert_last_error_contains("is not a JPEG or PNG image");
    assert_true(all_floats_equal(untouched, 3 * 32 * 32, 7));
    assert_int_equal(wren_model_preprocess_file(model, NULL, untouched), WREN_ERROR_NULL_ARGUMENT);
    assert_int_equal(wren_model_preprocess_file(model, files[0], NULL), WREN_ERROR_NULL_ARGUMENT);
    assert_int_equal(wren_model_preprocess_file(NULL, files[0], untouched), WREN_ERROR_NULL_ARGUMENT);
    wren_model_free(model);
}

// Reads a uint8 .npy (version 1.0 header) into malloc'd bytes.
static unsigned char *read_npy_bytes(const char *path, size_t *count) {
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    unsigned char head[10];
    assert_int_equal(fread(head, 1, 10, file), 10);
    assert_memory_equal(head, "\x93NUMPY\x01\x00", 8);
    size_t header = (size_t)head[8] | (size_t)head[9] << 8;
    fseek(file, 0, SEEK_END);
    size_t total = (size_t)ftell(file);
    *count = total - 10 - header;
    fseek(file, (long)(10 + header), SEEK_SET);
    unsigned char *bytes = malloc(*count);
    assert_int_equal(fread(bytes, 1, *count, file), *count);
    fclose(file);
    return bytes;
}

static void test_preprocess_rgb_equals_decoding_the_file(void **state) {
    (void)state;
    const char *jpeg = required_env("WREN_CAPI_RGB_JPEG"), *npy = required_env("WREN_CAPI_RGB_NPY");
    assert_non_null(jpeg);
    assert_non_null(npy);
    size_t count = 0;
    unsigned char *rgb = read_npy_bytes(npy, &count);
    assert_int_equal(count, 24 * 40 * 3);  // gradient_40x24: 40 wide, 24 high
    wren_model *model = load_digits_model();
    float from_file[3 * 32 * 32], from_pixels[3 * 32 * 32];
    assert_int_equal(wren_model_preprocess_file(model, jpeg, from_file), WREN_OK);
    assert_int_equal(wren_model_preprocess_rgb(model, rgb, 40, 24, from_pixels), WREN_OK);
    assert_memory_equal(from_file, from_pixels, sizeof from_file);
    // Letterboxed: 40x24 becomes 32x19 (rounded half up), rows 0..5 above it are black padding.
    for (int c = 0; c < 3; c++)
        for (int x = 0; x < 32; x++) assert_true(from_pixels[c * 1024 + x] == -1.0f);  // (0 - 0.5) / 0.5

    // A 32x32 image passes through unchanged: each value is (v / 255 - mean) / std.
    unsigned char square[32 * 32 * 3];
    for (size_t i = 0; i < sizeof square; i++) square[i] = (unsigned char)(i * 7 % 256);
    assert_int_equal(wren_model_preprocess_rgb(model, square, 32, 32, from_pixels), WREN_OK);
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 1024; p++) {
            float want = (float)(((double)square[p * 3 + c] / 255 - 0.5) / 0.5);
            if (from_pixels[c * 1024 + p] != want) fail_msg("channel %d pixel %d: %.9g, expected %.9g", c, p, from_pixels[c * 1024 + p], want);
        }
    assert_int_equal(wren_model_preprocess_rgb(model, square, 0, 32, from_pixels), WREN_ERROR_INVALID_ARGUMENT);
    assert_last_error_contains("0x32");
    assert_int_equal(wren_model_preprocess_rgb(model, square, 32, 16385, from_pixels), WREN_ERROR_INVALID_ARGUMENT);
    assert_int_equal(wren_model_preprocess_rgb(model, NULL, 32, 32, from_pixels), WREN_ERROR_NULL_ARGUMENT);
    free(rgb);
    wren_model_free(model);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_matches_header),
        cmocka_unit_test(test_status_messages_are_distinct),
        cmocka_unit_test(test_last_error_starts_empty),
        cmocka_unit_test(test_load_file_describes_model),
        cmocka_unit_test(test_load_aligned_memory_is_zero_copy_and_outlives_handle),
        cmocka_unit_test(test_load_unaligned_memory_copies),
        cmocka_unit_test(test_caller_arena_batch_matches_cli),
        cmocka_unit_test(test_wren_arena_single_images_match_cli),
        cmocka_unit_test(test_partial_batches_match_cli),
        cmocka_unit_test(test_arena_size_agrees_with_cli_and_does_not_grow_with_batch),
        cmocka_unit_test(test_exact_arena_size_is_enough),
        cmocka_unit_test(test_arena_too_small),
        cmocka_unit_test(test_arena_misaligned),
        cmocka_unit_test(test_max_batch_out_of_range),
        cmocka_unit_test(test_run_batch_out_of_range),
        cmocka_unit_test(test_run_rejects_non_finite_input),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_wrong_handle_kinds),
        cmocka_unit_test(test_corrupt_models_in_memory),
        cmocka_unit_test(test_corrupt_and_empty_files),
        cmocka_unit_test(test_unreadable_files),
        cmocka_unit_test(test_huge_arena_is_refused_by_default),
        cmocka_unit_test(test_arena_limit_override_is_exact),
        cmocka_unit_test(test_model_shared_across_threads),
        cmocka_unit_test(test_context_shared_across_threads_is_right_or_busy),
        cmocka_unit_test(test_options_init_sets_defaults),
        cmocka_unit_test(test_threaded_contexts_match_cli),
        cmocka_unit_test(test_options_out_of_range),
        cmocka_unit_test(test_tensors_describe_the_model),
        cmocka_unit_test(test_metadata_labels_and_normalization),
        cmocka_unit_test(test_activations_hold_the_quantized_input),
        cmocka_unit_test(test_activations_of_batch_equal_single_runs),
        cmocka_unit_test(test_preprocess_file_matches_cli),
        cmocka_unit_test(test_preprocess_rgb_equals_decoding_the_file),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
