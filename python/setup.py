"""Builds (or finds) the Swift side of the wren package and puts it inside the package.

`pip install ./python` (from the repository root) runs this. Where libwren-shared.so comes from:

- WREN_LIBRARY set: that file is copied (and the `wren` CLI next to it, or WREN_CLI, if there is one);
- otherwise `swift build -c release --product wren-shared` and `--product wren` run in the
  repository that holds this directory (WREN_SWIFT_BUILD_FLAGS adds flags, e.g. "-Xswiftc
  -enable-testing" to reuse tools/test.sh's build, WREN_SCRATCH_PATH another build directory than
  .build; WREN_BUILD_CLI=0 skips the CLI, which
  wren.convert/validate then find through WREN_CLI or PATH).

It says which it used on stderr (shown by `pip install -v`) and in wren/_build_info.py
(`python -m wren` prints it). The wheel is platform-specific: the library links the Swift runtime
of the toolchain it was built with (its RUNPATH), as `wren` itself does.
"""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
LIBRARY = "libwren-shared.so"


def say(message: str) -> None:
    print(f"wren: {message}", file=sys.stderr, flush=True)


def swift_build(root: Path, product: str, flags: list) -> Path:
    command = ["swift", "build", "-c", "release", "--package-path", str(root), *flags, "--product", product]
    say("running " + " ".join(shlex.quote(part) for part in command))
    try:
        subprocess.run(command, check=True)
        out = subprocess.run(
            ["swift", "build", "-c", "release", "--package-path", str(root), *flags, "--show-bin-path"],
            check=True, capture_output=True, text=True,
        )
    except FileNotFoundError:
        sys.exit("wren: `swift` is not on PATH; install Swift 6.3 or set WREN_LIBRARY to a built libwren-shared.so")
    except subprocess.CalledProcessError as error:
        sys.exit(f"wren: `{' '.join(command)}` failed with status {error.returncode} (see above)")
    return Path(out.stdout.strip())


def find_native() -> tuple:
    """(library path, CLI path or None, a sentence saying where they came from)."""
    override = os.environ.get("WREN_LIBRARY")
    cli_override = os.environ.get("WREN_CLI")
    if override:
        library = Path(override).expanduser().resolve()
        if library.is_dir():
            library = library / LIBRARY
        if not library.is_file():
            sys.exit(f"wren: WREN_LIBRARY={override!r} is not a file")
        cli = Path(cli_override) if cli_override else library.parent / "wren"
        cli = cli if cli.is_file() else None
        return library, cli, f"copied from WREN_LIBRARY={library}" + (f", CLI from {cli}" if cli else ", no CLI bundled")
    root = HERE.parent
    if not (root / "Package.swift").is_file():
        sys.exit(f"wren: {root} has no Package.swift; build from the Wren repository or set WREN_LIBRARY")
    flags = shlex.split(os.environ.get("WREN_SWIFT_BUILD_FLAGS", ""))
    if os.environ.get("WREN_SCRATCH_PATH"):
        flags = ["--scratch-path", os.environ["WREN_SCRATCH_PATH"], *flags]
    bin_dir = swift_build(root, "wren-shared", flags)
    cli = None
    if cli_override:
        cli = Path(cli_override)
    elif os.environ.get("WREN_BUILD_CLI", "1") != "0":
        cli = swift_build(root, "wren", flags) / "wren"
    shown = " ".join(["swift build -c release", *flags])
    return bin_dir / LIBRARY, cli, f"built by `{shown} --product wren-shared` in {root}" + (f", CLI {cli}" if cli else ", no CLI bundled")


class BuildWithNative(build_py):
    def run(self):
        super().run()
        library, cli, source = find_native()
        target = Path(self.build_lib) / "wren" / "_lib"
        # pip builds in the source tree, whose build/ survives: never ship an earlier build's files.
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.copy2(library, target / LIBRARY)
        if cli is not None:
            shutil.copy2(cli, target / "wren")
        (Path(self.build_lib) / "wren" / "_build_info.py").write_text(
            f"# Written by python/setup.py at install time.\nLIBRARY_SOURCE = {source!r}\n", encoding="utf-8"
        )
        say(f"using libwren-shared.so {source}")


class BinaryDistribution(Distribution):
    """A platform wheel: the package carries a native library."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithNative}, distclass=BinaryDistribution)
