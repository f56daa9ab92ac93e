// classify: the smallest useful Wren program in C. Loads a .wren model, runs a batch of images in an
// arena this program allocates itself, and prints the top class of each image.
//
// Build and run (from the repository root):
//   tools/cc-wren tools/examples/classify.c -o classify            (or --static for a self-contained binary)
//   ./classify model.wren images.npy                  # .npy float32 [N,3,32,32], already normalized
//   ./classify model.wren images.f32 --raw            # raw float32 (native byte order), N*3*32*32 values
//   ./classify model.wren images.npy --logits out.f32 # also write every logit as raw float32
//
// It uses only the core functions of <wren.h>: load, arena size, context create with a caller
// arena, run, free, and the error reporting pair (wren_status_message / wren_last_error).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wren.h>

enum { CHANNELS = 3, HEIGHT = 32, WIDTH = 32, MAX_BATCH = 16 };

static void die_wren(const char *what, wren_status status) {
    fprintf(stderr, "classify: %s failed: %s (%s)\n", what, wren_status_message(status), wren_last_error());
    exit(1);
}

static void die(const char *message, const char *path) {
    fprintf(stderr, "classify: %s: %s\n", path, message);
    exit(1);
}

// Reads a whole file into malloc'd memory.
static unsigned char *read_file(const char *path, size_t *length) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) die("cannot open", path);
    if (fseek(file, 0, SEEK_END) != 0) die("cannot seek", path);
    long size = ftell(file);
    if (size < 0) die("cannot tell size", path);
    rewind(file);
    unsigned char *bytes = malloc((size_t)size + 1);
    if (bytes == NULL) die("out of memory", path);
    if (fread(bytes, 1, (size_t)size, file) != (size_t)size) die("short read", path);
    fclose(file);
    *length = (size_t)size;
    return bytes;
}

// Finds the float32 data of a .npy file (version 1-3, '<f4', C order) and its leading dimension.
// The other dimensions must be 3, 32, 32.
static const float *npy_images(const unsigned char *bytes, size_t length, size_t *images, const char *path) {
    if (length < 10 || memcmp(bytes, "\x93NUMPY", 6) != 0) die("not a .npy file (use --raw for raw float32)", path);
    size_t header_length = bytes[6] == 1 ? (size_t)(bytes[8] | bytes[9] << 8)
                                         : (size_t)(bytes[8] | bytes[9] << 8 | bytes[10] << 16 | (uint32_t)bytes[11] << 24);
    size_t data_offset = (bytes[6] == 1 ? 10 : 12) + header_length;
    if (data_offset > length) die("truncated .npy header", path);
    char header[1024] = {0};
    memcpy(header, bytes + (bytes[6] == 1 ? 10 : 12), header_length < sizeof header - 1 ? header_length : sizeof header - 1);
    if (strstr(header, "'descr': '<f4'") == NULL || strstr(header, "'fortran_order': False") == NULL)
        die("need a little-endian float32 array in C order", path);
    const char *shape = strstr(header, "'shape': (");
    unsigned long n, c, h, w;
    if (shape == NULL || sscanf(shape, "'shape': (%lu, %lu, %lu, %lu)", &n, &c, &h, &w) != 4 || c != CHANNELS ||
        h != HEIGHT || w != WIDTH)
        die("need shape [N, 3, 32, 32]", path);
    if ((length - data_offset) / sizeof(float) < n * CHANNELS * HEIGHT * WIDTH) die("truncated .npy data", path);
    *images = n;
    return (const float *)(bytes + data_offset);  // numpy pads the header, so the data is float-aligned
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *input_path = NULL, *logits_path = NULL;
    int raw = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--raw") == 0) raw = 1;
        else if (strcmp(argv[i], "--logits") == 0 && i + 1 < argc) logits_path = argv[++i];
        else if (model_path == NULL) model_path = argv[i];
        else if (input_path == NULL) input_path = argv[i];
        else model_path = NULL, i = argc;  // too many arguments: print usage
    }
    if (model_path == NULL || input_path == NULL) {
        fprintf(stderr, "usage: classify MODEL.wren INPUT.npy|INPUT.f32 [--raw] [--logits OUT.f32]\n");
        return 2;
    }

    wren_model *model;
    wren_status status = wren_model_load_file(model_path, &model);
    if (status != WREN_OK) die_wren("loading the model", status);
    int32_t classes = wren_model_num_classes(model);

    size_t input_length, images;
    unsigned char *input_bytes = read_file(input_path, &input_length);
    const float *input;
    if (raw) {
        if (input_length % (sizeof(float) * CHANNELS * HEIGHT * WIDTH) != 0)
            die("raw input is not a whole number of 3x32x32 float32 images", input_path);
        images = input_length / (sizeof(float) * CHANNELS * HEIGHT * WIDTH);
        input = (const float *)input_bytes;
    } else {
        input = npy_images(input_bytes, input_length, &images, input_path);
    }
    if (images == 0) die("no images", input_path);

    // The arena: asked for once, allocated by us, aligned as wren.h requires.
    int32_t max_batch = images < MAX_BATCH ? (int32_t)images : MAX_BATCH;
    size_t arena_size = wren_context_arena_size(model, max_batch);
    if (arena_size == 0) die(wren_last_error(), model_path);
    void *arena = aligned_alloc(WREN_ARENA_ALIGNMENT, (arena_size + WREN_ARENA_ALIGNMENT - 1) / WREN_ARENA_ALIGNMENT * WREN_ARENA_ALIGNMENT);
    if (arena == NULL) die("out of memory for the arena", model_path);
    wren_context *context;
    status = wren_context_create(model, max_batch, arena, arena_size, &context);
    if (status != WREN_OK) die_wren("creating the context", status);

    float *logits = malloc(images * (size_t)classes * sizeof(float));
    if (logits == NULL) die("out of memory for the logits", input_path);
    const size_t per_image = CHANNELS * HEIGHT * WIDTH;
    for (size_t first = 0; first < images; first += (size_t)max_batch) {
        int32_t batch = images - first < (size_t)max_batch ? (int32_t)(images - first) : max_batch;
        status = wren_run(context, input + first * per_image, batch, logits + first * (size_t)classes);
        if (status != WREN_OK) die_wren("running the model", status);
    }

    for (size_t i = 0; i < images; i++) {
        const float *row = logits + i * (size_t)classes;
        int32_t best = 0;
        for (int32_t c = 1; c < classes; c++)
            if (row[c] > row[best]) best = c;
        printf("%zu: class %d (logit %.4f)\n", i, best, row[best]);
    }
    if (logits_path != NULL) {
        FILE *out = fopen(logits_path, "wb");
        if (out == NULL || fwrite(logits, sizeof(float), images * (size_t)classes, out) != images * (size_t)classes ||
            fclose(out) != 0)
            die("cannot write", logits_path);
    }

    free(logits);
    wren_context_free(context);
    free(arena);
    wren_model_free(model);
    free(input_bytes);
    return 0;
}
