"""The exceptions of the wren package.

Every failure of the runtime comes back from the C API as a ``wren_status``; it is raised here as a
:class:`WrenError` subclass chosen by that status, carrying the runtime's own message
(``wren_last_error()``, which names the C function and the bad value). Input checks done in Python
before anything reaches the runtime raise plain :class:`TypeError` / :class:`ValueError`.
"""

from __future__ import annotations

__all__ = [
    "WrenError",
    "LibraryNotFoundError",
    "FileUnreadableError",
    "InvalidModelError",
    "InvalidArgumentError",
    "InputNotFiniteError",
    "BadImageError",
    "ResourceError",
    "BusyError",
    "CLIError",
    "STATUS_NAMES",
]

# wren_status of Sources/CWren/include/wren.h, by value (0.2.0).
STATUS_NAMES = {
    0: "WREN_OK",
    1: "WREN_ERROR_NULL_ARGUMENT",
    2: "WREN_ERROR_INVALID_HANDLE",
    3: "WREN_ERROR_FILE_UNREADABLE",
    4: "WREN_ERROR_NOT_A_MODEL",
    5: "WREN_ERROR_UNSUPPORTED_VERSION",
    6: "WREN_ERROR_TRUNCATED",
    7: "WREN_ERROR_CORRUPT_MODEL",
    8: "WREN_ERROR_CHECKSUM_MISMATCH",
    9: "WREN_ERROR_INVALID_BATCH",
    10: "WREN_ERROR_BATCH_TOO_LARGE",
    11: "WREN_ERROR_ARENA_TOO_SMALL",
    12: "WREN_ERROR_ARENA_MISALIGNED",
    13: "WREN_ERROR_INPUT_NOT_FINITE",
    14: "WREN_ERROR_OUT_OF_MEMORY",
    15: "WREN_ERROR_INVALID_ARGUMENT",
    16: "WREN_ERROR_INTERNAL",
    17: "WREN_ERROR_ARENA_LIMIT_EXCEEDED",
    18: "WREN_ERROR_BUSY",
    19: "WREN_ERROR_BAD_IMAGE",
}


class WrenError(Exception):
    """A failure reported by the Wren runtime or the ``wren`` CLI.

    ``status`` is the C API's ``wren_status`` value (None for failures that are not one, such as a
    CLI error), ``status_name`` its name, and ``message`` the runtime's detail.
    """

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.status_name = STATUS_NAMES.get(status) if status is not None else None

    def __str__(self) -> str:
        if self.status_name:
            return f"{self.message} [{self.status_name}]"
        return self.message


class LibraryNotFoundError(WrenError, ImportError):
    """libwren-shared.so (or the ``wren`` CLI) could not be found or loaded."""


class FileUnreadableError(WrenError, OSError):
    """A model or image file cannot be opened or read (WREN_ERROR_FILE_UNREADABLE)."""


class InvalidModelError(WrenError, ValueError):
    """The bytes are not a valid .wren model: bad magic, version, truncation, corruption, checksum."""


class InvalidArgumentError(WrenError, ValueError):
    """An argument the runtime refused: batch, index, size, option out of range."""


class InputNotFiniteError(InvalidArgumentError):
    """An input value is NaN or infinite (WREN_ERROR_INPUT_NOT_FINITE); the message locates it."""


class BadImageError(WrenError, ValueError):
    """Not a JPEG or PNG image Wren can decode (WREN_ERROR_BAD_IMAGE)."""


class ResourceError(WrenError, MemoryError):
    """Out of memory, or an arena over its limit (WREN_ERROR_OUT_OF_MEMORY, _ARENA_*)."""


class BusyError(WrenError, RuntimeError):
    """A context was used by two threads at once (WREN_ERROR_BUSY). The Model class never does this."""


class CLIError(WrenError):
    """The ``wren`` command-line tool failed; ``returncode``, ``command`` and its ``stderr`` are kept."""

    def __init__(self, message: str, returncode: int | None = None, command: list[str] | None = None, stderr: str = ""):
        super().__init__(message)
        self.returncode = returncode
        self.command = command or []
        self.stderr = stderr


_BY_STATUS = {
    3: FileUnreadableError,
    4: InvalidModelError,
    5: InvalidModelError,
    6: InvalidModelError,
    7: InvalidModelError,
    8: InvalidModelError,
    9: InvalidArgumentError,
    10: InvalidArgumentError,
    11: ResourceError,
    12: InvalidArgumentError,
    13: InputNotFiniteError,
    14: ResourceError,
    15: InvalidArgumentError,
    17: ResourceError,
    18: BusyError,
    19: BadImageError,
}


def error_for_status(status: int, message: str) -> WrenError:
    """The exception for a failed C call: its class chosen by ``status``."""
    return _BY_STATUS.get(status, WrenError)(message, status)
