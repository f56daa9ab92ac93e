# The package version: the C API version it binds (WREN_VERSION_STRING in Sources/CWren/include/wren.h).
__version__ = "0.2.0"
