"""python -m wren: which library and CLI this package uses."""

import sys

from . import __version__, _native, cli_path
from .errors import LibraryNotFoundError


def main() -> int:
    print(f"wren (Python) {__version__}")
    status = 0
    try:
        path, source = _native.library_info()
        version = _native.library().wren_version().decode()
        print(f"library: {path} (C API {version}; from {source})")
    except LibraryNotFoundError as error:
        print(f"library: not found: {error}")
        status = 1
    try:
        path, source = cli_path()
        print(f"cli:     {path} (from {source})")
    except LibraryNotFoundError as error:
        print(f"cli:     not found: {error}")
    try:
        from . import _build_info

        print(f"built:   {_build_info.LIBRARY_SOURCE}")
    except ImportError:
        print("built:   not installed by pip (used in place)")
    return status


if __name__ == "__main__":
    sys.exit(main())
