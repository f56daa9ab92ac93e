"""wren: run int8 Wide Residual Networks (.wren files) from Python.

    import wren
    wren.convert("model.pth", "model.wren", calibration="calib.npy")
    m = wren.Model("model.wren", threads=2)
    logits = m.run(x)                      # float32 [N, 3, H, W] -> [N, classes]
    m.classify(["photo.jpg"])              # with the model's own preprocessing
    m.activations(x)["block1.layer.0"]     # dequantized int8 activations by layer
    wren.validate("model.wren", "model.pth", x, labels=y)

The runtime is libwren-shared.so (the C API, through ctypes; ``WREN_LIBRARY`` overrides the copy
installed with the package); conversion and validation run the ``wren`` CLI (``WREN_CLI``).
"""

from ._version import __version__
from .cli import cli_path, convert, validate
from . import errors
from .errors import *  # noqa: F401,F403  (the exception classes; errors.__all__ lists them)
from .model import Classification, Model, Tensor

__all__ = [
    "__version__",
    "Model",
    "Tensor",
    "Classification",
    "convert",
    "validate",
    "library_path",
    "library_version",
    "cli_path",
] + [name for name in errors.__all__ if name != "STATUS_NAMES"]


def library_path() -> tuple[str, str]:
    """(path, how it was chosen) of libwren-shared.so, loading it if needed."""
    from . import _native

    return _native.library_info()


def library_version() -> str:
    """wren_version() of the loaded library (the C API version, e.g. "0.2.0")."""
    from . import _native

    return _native.library().wren_version().decode()
