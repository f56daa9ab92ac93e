"""wren.Model: a loaded .wren file, run from NumPy.

Threading: one Model may be used from any number of Python threads at once. It keeps a pool of C
contexts (``wren_context``, the scratch memory of a run): each call takes an idle one, or creates one
when all are busy, and gives it back afterwards, so a context is never used by two threads at once
(the C API would refuse with WREN_ERROR_BUSY). The GIL is released while the runtime runs (ctypes
does that for every call into the library), so N Python threads keep N contexts busy. Each context
runs its images on ``threads`` threads of its own (see ``Model(threads=...)``).
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np

from . import _native
from ._native import ContextOptions, TensorInfo, check
from .errors import InputNotFiniteError

__all__ = ["Model", "Tensor", "Classification"]

#: Largest side of an image the decoder and `preprocess` accept (ImageDecoder.maxDimension).
MAX_IMAGE_SIDE = 16384


class Tensor(NamedTuple):
    """One activation tensor of the model (the input after quantization, then each layer's output):
    value q stands for (q - zero_point) * scale. ``shape`` is (channels, height, width) per image."""

    name: str
    shape: tuple[int, int, int]
    scale: float
    zero_point: int
    dtype: np.dtype


@dataclass(frozen=True)
class Classification:
    """What `Model.classify` says about one image."""

    #: the file path, or "<image i>" for an in-memory image
    source: str
    #: the best class: index, label (the model's label, else the index as text) and softmax probability
    index: int
    label: str
    probability: float
    #: the `top` best classes as (index, label, probability), best first (ties: lower index first)
    top: list[tuple[int, str, float]] = field(default_factory=list)
    #: the logits, float32 [classes], exactly what `wren run` computes for the same file
    logits: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]


class Model:
    """A .wren model loaded through libwren-shared.

    >>> m = wren.Model("digits.wren", threads=2)
    >>> m.input_shape, m.labels, m.mean, m.std
    >>> logits = m.run(x)                 # x: float32 [N, 3, H, W], normalized
    >>> m.classify(["a.jpg", "b.png"])    # files, PIL images or uint8 HWC arrays
    >>> m.activations(x)["block1.layer.0"]

    ``threads``: threads per run (1: the calling thread only; 0: one per processor, as ``wren run``);
    results are bit-identical whatever the count. ``max_batch``: images per C call (bigger inputs run
    in chunks of this size; the arena does not grow with it).
    """

    def __init__(self, path: str | os.PathLike, threads: int = 1, max_batch: int = 64):
        if isinstance(threads, bool) or not isinstance(threads, int):
            raise TypeError(f"threads must be an int (0: one per processor), got {type(threads).__name__}")
        if not 0 <= threads <= 1024:
            raise ValueError(f"threads is {threads}; it must be in 0...1024 (0: one per processor)")
        if isinstance(max_batch, bool) or not isinstance(max_batch, int):
            raise TypeError(f"max_batch must be an int, got {type(max_batch).__name__}")
        if not 1 <= max_batch <= 65536:
            raise ValueError(f"max_batch is {max_batch}; it must be in 1...65536")
        self._lib = _native.library()
        self.path = os.fspath(path)
        self._handle = ctypes.c_void_p()
        check(self._lib.wren_model_load_file(os.fsencode(self.path), ctypes.byref(self._handle)))
        self._lock = threading.Lock()
        self._idle: list[ctypes.c_void_p] = []
        self._contexts: list[ctypes.c_void_p] = []
        self._busy = 0
        self._threads = threads
        self._max_batch = max_batch
        try:
            self._describe()
        except BaseException:
            self.close()
            raise

    # MARK: - What the model is

    def _describe(self) -> None:
        lib, model = self._lib, self._handle
        c, h, w = ctypes.c_int32(), ctypes.c_int32(), ctypes.c_int32()
        check(lib.wren_model_input_shape(model, ctypes.byref(c), ctypes.byref(h), ctypes.byref(w)))
        self.input_shape: tuple[int, int, int] = (c.value, h.value, w.value)
        self.num_classes: int = lib.wren_model_num_classes(model)

        mean = (ctypes.c_float * c.value)()
        std = (ctypes.c_float * c.value)()
        check(lib.wren_model_normalization(model, mean, std, c.value))
        self.mean: tuple[float, ...] = tuple(float(v) for v in mean)
        self.std: tuple[float, ...] = tuple(float(v) for v in std)

        label = ctypes.c_char_p()
        labels = []
        for index in range(self.num_classes):
            check(lib.wren_model_label(model, index, ctypes.byref(label)))
            if label.value is None:
                labels = None
                break
            labels.append(label.value.decode("utf-8", "replace"))
        self.labels: list[str] | None = labels

        metadata: dict[str, str] = {}
        key, value = ctypes.c_char_p(), ctypes.c_char_p()
        for index in range(lib.wren_model_num_metadata(model)):
            check(lib.wren_model_metadata(model, index, ctypes.byref(key), ctypes.byref(value)))
            # The first entry of a key wins, as in the runtime (ModelDescription.metadataValue).
            metadata.setdefault(key.value.decode("utf-8", "replace"), value.value.decode("utf-8", "replace"))
        self.metadata: dict[str, str] = metadata

        tensors = []
        info = TensorInfo()
        for index in range(lib.wren_model_num_tensors(model)):
            check(lib.wren_model_tensor(model, index, ctypes.byref(info)))
            tensors.append(
                Tensor(
                    name=info.name.decode("utf-8", "replace"),
                    shape=(info.channels, info.height, info.width),
                    scale=float(np.float32(info.scale)),
                    zero_point=info.zero_point,
                    dtype=np.dtype(np.int8 if info.element_size == 1 else np.int16),
                )
            )
        self.tensors: list[Tensor] = tensors

    @property
    def threads(self) -> int:
        """Threads per run as given (0: one per processor)."""
        return self._threads

    @property
    def max_batch(self) -> int:
        return self._max_batch

    def __repr__(self) -> str:
        architecture = self.metadata.get("architecture", "?")
        return (
            f"wren.Model({self.path!r}: {architecture}, {self.num_classes} classes, input "
            f"{'x'.join(map(str, self.input_shape))}, threads={self._threads})"
        )

    # MARK: - Lifetime and the context pool

    def close(self) -> None:
        """Frees the contexts and the model. Not while another thread is running it."""
        with self._lock:
            if self._busy:
                raise RuntimeError(f"Model.close() while {self._busy} run(s) are in progress on other threads")
            contexts, self._contexts, self._idle = self._contexts, [], []
            handle, self._handle = getattr(self, "_handle", None), None
        for context in contexts:
            self._lib.wren_context_free(context)
        if handle:
            self._lib.wren_model_free(handle)

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if getattr(self, "_handle", None) and not self._busy:
                self.close()
        except Exception:
            pass

    def _model(self) -> ctypes.c_void_p:
        if not self._handle:
            raise ValueError(f"the model {self.path!r} is closed")
        return self._handle

    def _new_context(self, max_batch: int, retain: bool) -> ctypes.c_void_p:
        options = ContextOptions()
        self._lib.wren_context_options_init(ctypes.byref(options))
        options.max_batch = max_batch
        options.threads = self._threads
        options.retain_activations = 1 if retain else 0
        context = ctypes.c_void_p()
        check(self._lib.wren_context_create_with_options(self._model(), ctypes.byref(options), ctypes.byref(context)))
        return context

    def _acquire(self) -> ctypes.c_void_p:
        with self._lock:
            self._model()
            self._busy += 1
            if self._idle:
                return self._idle.pop()
        try:
            context = self._new_context(self._max_batch, retain=False)
        except BaseException:
            with self._lock:
                self._busy -= 1
            raise
        with self._lock:
            self._contexts.append(context)
        return context

    def _release(self, context: ctypes.c_void_p) -> None:
        with self._lock:
            self._busy -= 1
            self._idle.append(context)

    @property
    def context_count(self) -> int:
        """How many C contexts the pool holds (at most one per thread that ran at the same time)."""
        with self._lock:
            return len(self._contexts)

    # MARK: - Running

    def _check_input(self, x: Any) -> np.ndarray:
        c, h, w = self.input_shape
        expected = f"float32 [N, {c}, {h}, {w}] (N images, channels first, normalized with the model's mean/std)"
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy.ndarray {expected}; got {type(x).__name__}")
        if x.dtype != np.float32:
            raise TypeError(f"x has dtype {x.dtype}; expected {expected} (x.astype(numpy.float32) converts)")
        if x.ndim != 4 or tuple(x.shape[1:]) != (c, h, w):
            hint = ""
            if x.ndim == 3 and tuple(x.shape) == (c, h, w):
                hint = "; for one image pass x[None]"
            elif x.ndim == 4 and tuple(x.shape[1:]) == (h, w, c):
                hint = "; this looks like NHWC: x.transpose(0, 3, 1, 2)"
            raise ValueError(f"x has shape {list(x.shape)}; expected {expected}{hint}")
        if x.shape[0] == 0:
            raise ValueError(f"x holds no images; expected {expected} with N >= 1")
        x = np.ascontiguousarray(x)
        finite = np.isfinite(x)
        if not finite.all():
            n, channel, row, column = (int(v) for v in np.argwhere(~finite)[0])
            raise InputNotFiniteError(
                f"x[{n}, {channel}, {row}, {column}] is {x[n, channel, row, column]}; inputs must be finite"
            )
        return x

    def run(self, x: np.ndarray) -> np.ndarray:
        """Logits float32 [N, classes] for x, float32 [N, C, H, W] normalized with the model's
        mean/std (C-contiguous or not); bit-identical to ``wren run MODEL x.npy --logits``."""
        x = self._check_input(x)
        count = x.shape[0]
        logits = np.empty((count, self.num_classes), dtype=np.float32)
        context = self._acquire()
        try:
            for start in range(0, count, self._max_batch):
                n = min(self._max_batch, count - start)
                check(self._lib.wren_run(context, x[start:].ctypes.data, n, logits[start:].ctypes.data))
        finally:
            self._release(context)
        return logits

    __call__ = run

    def activations(self, x: np.ndarray, dequantize: bool = True, chunk: int = 16) -> dict[str, np.ndarray]:
        """Every activation tensor of the int8 model for x (as `run` takes it), by name, in file order:
        the names are those ``wren validate`` reports ("input", "block1.layer.0.relu1", ..., "relu").

        Each value is [N, C, H, W] (channels first, like PyTorch): float32 (q - zero_point) * scale
        when ``dequantize`` (exactly as ``wren validate`` dequantizes), else the stored int8 (int16)
        values. Runs x on a context that keeps every tensor, ``chunk`` images at a time."""
        x = self._check_input(x)
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk must be a positive int, got {chunk!r}")
        count = x.shape[0]
        batch = min(chunk, count)
        parts: dict[str, list[np.ndarray]] = {tensor.name: [] for tensor in self.tensors}
        logits = np.empty((batch, self.num_classes), dtype=np.float32)
        with self._lock:
            self._model()
            self._busy += 1
        try:
            context = self._new_context(batch, retain=True)
            try:
                for start in range(0, count, batch):
                    n = min(batch, count - start)
                    check(self._lib.wren_run(context, x[start:].ctypes.data, n, logits.ctypes.data))
                    for index, tensor in enumerate(self.tensors):
                        c, h, w = tensor.shape
                        values = np.empty((n, h, w, c), dtype=tensor.dtype)
                        check(self._lib.wren_context_activations(context, index, values.ctypes.data, values.nbytes))
                        parts[tensor.name].append(values.transpose(0, 3, 1, 2))
            finally:
                self._lib.wren_context_free(context)
        finally:
            with self._lock:
                self._busy -= 1
        result = {}
        for tensor in self.tensors:
            values = np.ascontiguousarray(np.concatenate(parts[tensor.name]))
            if dequantize:
                values = (values.astype(np.int32) - np.int32(tensor.zero_point)).astype(np.float32) * np.float32(tensor.scale)
            result[tensor.name] = values
        return result

    # MARK: - Images

    def preprocess(self, images: Any) -> np.ndarray:
        """The model's input for images, float32 [N, C, H, W], exactly as ``wren run`` prepares image
        files: decoded (files: JPEG or PNG, by content), letterboxed onto a black square of the input
        size (bilinear, half-pixel centres) and normalized with the model's mean/std.

        ``images``: one image or a list of them; an image is a file path (str or os.PathLike), a PIL
        image, or a uint8 array [H, W, 3] (RGB) or [H, W] (gray); a uint8 array [N, H, W, 3] is N images."""
        items = self._image_list(images)
        c, h, w = self.input_shape
        output = np.empty((len(items), c, h, w), dtype=np.float32)
        for index, item in enumerate(items):
            target = output[index].ctypes.data
            if isinstance(item, (str, os.PathLike)):
                check(self._lib.wren_model_preprocess_file(self._model(), os.fsencode(item), target))
            else:
                pixels = _rgb_pixels(item, index)
                height, width = pixels.shape[:2]
                check(self._lib.wren_model_preprocess_rgb(self._model(), pixels.ctypes.data, width, height, target))
        return output

    @staticmethod
    def _image_list(images: Any) -> list[Any]:
        if isinstance(images, np.ndarray) and images.ndim == 4:
            return list(images)
        if isinstance(images, (list, tuple)):
            if not images:
                raise ValueError("no images given (an empty list)")
            return list(images)
        return [images]

    def classify(self, images: Any, top: int = 1) -> list[Classification]:
        """Classifies images (as `preprocess` takes them) with the model's preprocessing; one
        `Classification` per image, whose logits equal ``wren run MODEL FILE --logits`` bit for bit."""
        if isinstance(top, bool) or not isinstance(top, int) or top < 1:
            raise ValueError(f"top must be a positive int, got {top!r}")
        items = self._image_list(images)
        logits = self.run(self.preprocess(items))
        results = []
        for index, (item, row) in enumerate(zip(items, logits)):
            probabilities = _softmax(row)
            order = sorted(range(len(row)), key=lambda k: (-probabilities[k], k))[: min(top, len(row))]
            ranked = [(k, self._label(k), probabilities[k]) for k in order]
            source = os.fspath(item) if isinstance(item, (str, os.PathLike)) else f"<image {index}>"
            results.append(
                Classification(source=source, index=ranked[0][0], label=ranked[0][1], probability=ranked[0][2], top=ranked, logits=row)
            )
        return results

    def _label(self, index: int) -> str:
        return self.labels[index] if self.labels else str(index)


def _softmax(row: np.ndarray) -> list[float]:
    """Softmax as `wren run` prints it (float exp of the shifted logits, summed in double)."""
    shifted = row.astype(np.float32) - np.float32(row.max())
    exps = np.exp(shifted).astype(np.float64)
    return [float(np.float32(v / exps.sum())) for v in exps]


def _rgb_pixels(item: Any, index: int) -> np.ndarray:
    """uint8 [H, W, 3] C-contiguous pixels of an in-memory image."""
    if not isinstance(item, np.ndarray):
        item = _from_pil(item, index)
    if item.dtype != np.uint8:
        raise TypeError(
            f"image {index}: arrays must be uint8 [H, W, 3] RGB or [H, W] gray, got dtype {item.dtype} "
            f"(float32 [N, C, H, W] inputs that are already normalized go to Model.run)"
        )
    if item.ndim == 2 or (item.ndim == 3 and item.shape[2] == 1):
        item = np.repeat(item.reshape(item.shape[0], item.shape[1], 1), 3, axis=2)
    if item.ndim != 3 or item.shape[2] != 3:
        raise ValueError(f"image {index}: arrays must be uint8 [H, W, 3] RGB or [H, W] gray, got shape {list(item.shape)}")
    height, width = item.shape[:2]
    if not (1 <= height <= MAX_IMAGE_SIDE and 1 <= width <= MAX_IMAGE_SIDE):
        raise ValueError(f"image {index} is {width}x{height}; each side must be in 1...{MAX_IMAGE_SIDE}")
    return np.ascontiguousarray(item)


def _from_pil(image: Any, index: int) -> np.ndarray:
    """A PIL image as uint8 RGB with Wren's PNG rules: transparency composited on black
    (round(c * a / 255)), 16-bit gray scaled as round(v * 255 / 65535)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - only without Pillow
        Image = None
    if Image is None or not isinstance(image, Image.Image):
        raise TypeError(
            f"image {index}: expected a file path, a PIL image or a uint8 array [H, W, 3]; got {type(image).__name__}"
        )
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.clip(np.asarray(image).astype(np.int64), 0, 65535)
        gray = ((values * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA")).astype(np.uint32)
        rgb = (rgba[:, :, :3] * rgba[:, :, 3:4] + 127) // 255
        return rgb.astype(np.uint8)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)
