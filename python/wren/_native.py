"""ctypes bindings to libwren-shared.so (the C API of Sources/CWren/include/wren.h, 0.2.0).

Where the library comes from, first match wins:

1. the environment variable ``WREN_LIBRARY`` (a path to ``libwren-shared.so``);
2. the copy ``pip install`` put inside this package (``wren/_lib/libwren-shared.so``).

``ctypes.CDLL`` releases the GIL around every call, so ``wren_run`` runs while other Python threads
go on. The library is loaded on first use, so ``import wren`` works without it.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

from .errors import LibraryNotFoundError, error_for_status

LIBRARY_NAME = "libwren-shared.so"
PACKAGE_LIB_DIR = Path(__file__).resolve().parent / "_lib"

c_int32_p = ctypes.POINTER(ctypes.c_int32)
c_float_p = ctypes.POINTER(ctypes.c_float)
c_char_pp = ctypes.POINTER(ctypes.c_char_p)


class ContextOptions(ctypes.Structure):
    """wren_context_options."""

    _fields_ = [
        ("max_batch", ctypes.c_int32),
        ("threads", ctypes.c_int32),
        ("arena_limit", ctypes.c_size_t),
        ("retain_activations", ctypes.c_int32),
    ]


class TensorInfo(ctypes.Structure):
    """wren_tensor_info."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("channels", ctypes.c_int32),
        ("height", ctypes.c_int32),
        ("width", ctypes.c_int32),
        ("scale", ctypes.c_float),
        ("zero_point", ctypes.c_int32),
        ("element_size", ctypes.c_int32),
    ]


_PROTOTYPES = {
    # name: (restype, argtypes); c_int restype means a wren_status
    "wren_version": (ctypes.c_char_p, []),
    "wren_last_error": (ctypes.c_char_p, []),
    "wren_status_message": (ctypes.c_char_p, [ctypes.c_int]),
    "wren_model_load_file": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]),
    "wren_model_free": (None, [ctypes.c_void_p]),
    "wren_model_num_classes": (ctypes.c_int32, [ctypes.c_void_p]),
    "wren_model_input_shape": (ctypes.c_int, [ctypes.c_void_p, c_int32_p, c_int32_p, c_int32_p]),
    "wren_context_options_init": (None, [ctypes.POINTER(ContextOptions)]),
    "wren_context_create_with_options": (
        ctypes.c_int,
        [ctypes.c_void_p, ctypes.POINTER(ContextOptions), ctypes.POINTER(ctypes.c_void_p)],
    ),
    "wren_context_free": (None, [ctypes.c_void_p]),
    "wren_context_threads": (ctypes.c_int32, [ctypes.c_void_p]),
    "wren_context_last_batch": (ctypes.c_int32, [ctypes.c_void_p]),
    "wren_context_activations": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p, ctypes.c_size_t]),
    "wren_run": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p]),
    "wren_model_num_tensors": (ctypes.c_int32, [ctypes.c_void_p]),
    "wren_model_tensor": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int32, ctypes.POINTER(TensorInfo)]),
    "wren_model_num_metadata": (ctypes.c_int32, [ctypes.c_void_p]),
    "wren_model_metadata": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int32, c_char_pp, c_char_pp]),
    "wren_model_label": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int32, c_char_pp]),
    "wren_model_normalization": (ctypes.c_int, [ctypes.c_void_p, c_float_p, c_float_p, ctypes.c_int32]),
    "wren_model_preprocess_file": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]),
    "wren_model_preprocess_rgb": (
        ctypes.c_int,
        [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p],
    ),
}

_lock = threading.Lock()
_library: ctypes.CDLL | None = None
_library_path: str | None = None
_library_source: str | None = None


def locate_library() -> tuple[str, str]:
    """(path, how it was chosen) of the library this package would load, without loading it."""
    override = os.environ.get("WREN_LIBRARY")
    if override:
        path = Path(override).expanduser()
        if path.is_dir():
            path = path / LIBRARY_NAME
        if not path.is_file():
            raise LibraryNotFoundError(f"WREN_LIBRARY={override!r}: no such file (expected a path to {LIBRARY_NAME})")
        return str(path.resolve()), "the environment variable WREN_LIBRARY"
    bundled = PACKAGE_LIB_DIR / LIBRARY_NAME
    if bundled.is_file():
        return str(bundled), "the copy installed with the package"
    raise LibraryNotFoundError(
        f"{LIBRARY_NAME} not found: set WREN_LIBRARY to its path (built by `swift build -c release "
        f"--product wren-shared` in the Wren repository, in .build/release/), or install the package with "
        f"`pip install ./python`, which builds it"
    )


def library() -> ctypes.CDLL:
    """The loaded library (loaded and checked on first call)."""
    global _library, _library_path, _library_source
    if _library is not None:
        return _library
    with _lock:
        if _library is not None:
            return _library
        path, source = locate_library()
        try:
            lib = ctypes.CDLL(path)
        except OSError as error:
            raise LibraryNotFoundError(f"cannot load {path} (from {source}): {error}") from error
        missing = [name for name in _PROTOTYPES if not hasattr(lib, name)]
        if missing:
            raise LibraryNotFoundError(
                f"{path} (from {source}) is an older Wren C API without {', '.join(missing[:3])}"
                f"{'...' if len(missing) > 3 else ''}; this package needs 0.2.0 (rebuild libwren-shared)"
            )
        for name, (restype, argtypes) in _PROTOTYPES.items():
            function = getattr(lib, name)
            function.restype = restype
            function.argtypes = argtypes
        _library, _library_path, _library_source = lib, path, source
        return lib


def library_info() -> tuple[str, str]:
    """(path, source) of the loaded library, loading it if needed."""
    library()
    assert _library_path is not None and _library_source is not None
    return _library_path, _library_source


def check(status: int) -> None:
    """Raises the WrenError subclass for a failed status, with wren_last_error()'s message (read
    on this thread, right after the call: the C library keeps it per thread)."""
    if status != 0:
        message = library().wren_last_error().decode("utf-8", "replace")
        raise error_for_status(status, message or library().wren_status_message(status).decode())


def last_error() -> str:
    return library().wren_last_error().decode("utf-8", "replace")
