"""wren.convert and wren.validate: the ``wren`` command-line tool, run as a subprocess.

Conversion and validation need the whole host toolkit (checkpoint import, calibration, the float
reference, OpenBLAS), which the C API deliberately leaves out, so these two call the CLI, the same
binary and code path a shell user runs; the results (the .wren file, the JSON report) are exactly the
CLI's. Where the binary comes from, first match wins:

1. the environment variable ``WREN_CLI``;
2. the copy ``pip install`` put inside this package (``wren/_lib/wren``);
3. a ``wren`` next to the library in use (e.g. ``WREN_LIBRARY=.build/release/libwren-shared.so``);
4. ``wren`` on ``PATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import _native
from .errors import CLIError, LibraryNotFoundError

__all__ = ["convert", "validate", "cli_path"]


def cli_path() -> tuple[str, str]:
    """(path, how it was chosen) of the ``wren`` binary these functions run."""
    override = os.environ.get("WREN_CLI")
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise LibraryNotFoundError(f"WREN_CLI={override!r} is not an executable file")
        return override, "the environment variable WREN_CLI"
    bundled = _native.PACKAGE_LIB_DIR / "wren"
    if bundled.is_file():
        return str(bundled), "the copy installed with the package"
    try:
        library, _ = _native.locate_library()
    except LibraryNotFoundError:
        library = None
    if library:
        beside = Path(library).parent / "wren"
        if beside.is_file() and os.access(beside, os.X_OK):
            return str(beside), "next to the library in use"
    found = shutil.which("wren")
    if found:
        return found, "PATH"
    raise LibraryNotFoundError(
        "the `wren` CLI was not found: set WREN_CLI to it (built by `swift build -c release --product wren` "
        "in the Wren repository, in .build/release/), or install the package with `pip install ./python`"
    )


def _run(arguments: list[str]) -> subprocess.CompletedProcess:
    binary, _ = cli_path()
    command = [binary, *arguments]
    process = subprocess.run(command, capture_output=True, text=True)
    if process.returncode != 0:
        # The CLI's own "Error: ..." lines say what went wrong; warnings and progress before them
        # stay in .stderr.
        errors = [line[len("Error: "):] for line in process.stderr.splitlines() if line.startswith("Error: ")]
        detail = "; ".join(errors) or process.stderr.strip() or process.stdout.strip() or f"exit status {process.returncode}"
        raise CLIError(f"wren {arguments[0]} failed: {detail}", returncode=process.returncode, command=command, stderr=process.stderr)
    return process


def _triple(name: str, values: Sequence[float] | None) -> list[str]:
    if values is None:
        return []
    values = list(values)
    if len(values) != 3:
        raise ValueError(f"{name} needs 3 values (R, G, B), got {len(values)}")
    return [f"--{name}", ",".join(repr(float(v)) for v in values)]


def convert(
    checkpoint: str | os.PathLike,
    output: str | os.PathLike,
    calibration: str | os.PathLike | np.ndarray | None = None,
    method: str | None = None,
    labels: str | os.PathLike | Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    weights: str | None = None,
    calibration_samples: int | None = None,
    keep_wider: Sequence[str] | None = None,
    auto_keep_wider: int | None = None,
    threads: int | None = None,
) -> str:
    """``wren convert CHECKPOINT -o OUTPUT ...``: a PyTorch/Paddle/safetensors checkpoint to an int8
    .wren file. ``calibration``: a .npy path, a folder of images, or a float32 [N, 3, H, W] array
    (normalized); ``method``: minmax, percentile[:P], entropy or mse; ``labels``: a text file (one
    per line) or a list of names; ``weights``: per-channel or per-tensor. Returns the output path;
    raises CLIError with the CLI's message on failure."""
    arguments = ["convert", os.fspath(checkpoint), "-o", os.fspath(output)]
    with tempfile.TemporaryDirectory(prefix="wren-convert-") as scratch:
        if calibration is not None:
            if isinstance(calibration, np.ndarray):
                path = os.path.join(scratch, "calibration.npy")
                np.save(path, np.ascontiguousarray(calibration, dtype=np.float32))
                calibration = path
            arguments += ["--calibration", os.fspath(calibration)]
        if method is not None:
            arguments += ["--calibration-method", method]
        if labels is not None:
            if not isinstance(labels, (str, os.PathLike)):
                names = [str(label) for label in labels]
                if any("\n" in name for name in names):
                    raise ValueError("labels must not contain line breaks")
                path = os.path.join(scratch, "labels.txt")
                Path(path).write_text("\n".join(names) + "\n", encoding="utf-8")
                labels = path
            arguments += ["--class-names", os.fspath(labels)]
        arguments += _triple("mean", mean) + _triple("std", std)
        if weights is not None:
            arguments += ["--weights", weights]
        if calibration_samples is not None:
            arguments += ["--calibration-samples", str(int(calibration_samples))]
        if keep_wider:
            arguments += ["--keep-wider", ",".join(keep_wider)]
        if auto_keep_wider is not None:
            arguments += ["--auto-keep-wider", str(int(auto_keep_wider))]
        if threads is not None:
            arguments += ["--threads", str(int(threads))]
        _run(arguments)
    return os.fspath(output)


def validate(
    model: str | os.PathLike,
    reference: str | os.PathLike,
    data: str | os.PathLike | np.ndarray,
    labels: str | os.PathLike | np.ndarray | Sequence[int] | None = None,
    limit: int | None = None,
    split_file: str | os.PathLike | None = None,
    chart: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """``wren validate MODEL --reference CHECKPOINT --data DATA --json ...``: int8 against float,
    overall and per layer. ``data``: a .npy path, a folder, or a float32 [N, 3, H, W] array;
    ``labels``: a .npy path or integer class indices. Returns the JSON report as a dict (keys
    "version", "agreement", "floatAccuracy", "int8Accuracy", "report" with "layers", ...)."""
    with tempfile.TemporaryDirectory(prefix="wren-validate-") as scratch:
        if isinstance(data, np.ndarray):
            path = os.path.join(scratch, "data.npy")
            np.save(path, np.ascontiguousarray(data, dtype=np.float32))
            data = path
        report = os.path.join(scratch, "report.json")
        arguments = ["validate", os.fspath(model), "--reference", os.fspath(reference), "--data", os.fspath(data), "--json", report]
        if labels is not None:
            if not isinstance(labels, (str, os.PathLike)):
                path = os.path.join(scratch, "labels.npy")
                np.save(path, np.asarray(labels, dtype=np.int64))
                labels = path
            arguments += ["--labels", os.fspath(labels)]
        if limit is not None:
            arguments += ["--limit", str(int(limit))]
        if split_file is not None:
            arguments += ["--split-file", os.fspath(split_file)]
        if chart is not None:
            arguments += ["--chart", os.fspath(chart)]
        _run(arguments)
        with open(report, encoding="utf-8") as file:
            return json.load(file)
