"""Shared fixtures: the bundled digits model converted by `wren convert` (through wren.convert),
and a way to run the `wren` CLI for the expected results.

The package under test is whatever `import wren` finds: installed by pip, or used in place with
PYTHONPATH=python and WREN_LIBRARY=.build/release/libwren-shared.so (tools/test.sh does that).
"""

import subprocess
from pathlib import Path

import numpy as np
import pytest

import wren

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "fixtures" / "digits"
IMAGES = ROOT / "fixtures" / "images"
DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def run_cli(*arguments):
    """Runs the `wren` CLI the package uses; returns its stdout."""
    binary, _ = wren.cli_path()
    process = subprocess.run([binary, *map(str, arguments)], capture_output=True, text=True)
    assert process.returncode == 0, f"wren {' '.join(map(str, arguments))} failed: {process.stderr}"
    return process.stdout


def cli_logits(model, inputs, scratch):
    """`wren run MODEL INPUTS... --logits` as an array."""
    out = Path(scratch) / "cli_logits.npy"
    if out.exists():
        out.unlink()
    run_cli("run", model, *inputs, "--logits", out, "--quiet")
    return np.load(out)


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory):
    """fixtures/digits/wrn16_2_digits.pth converted with class names (path to the .wren)."""
    path = tmp_path_factory.mktemp("digits") / "digits.wren"
    wren.convert(DIGITS / "wrn16_2_digits.pth", path, calibration=DIGITS / "calib_x.npy", labels=DIGIT_NAMES)
    return path


@pytest.fixture(scope="session")
def cifar_norm_model(tmp_path_factory):
    """The digits network converted with the mean/std of fixtures/images' letterbox references."""
    mean, std = np.load(IMAGES / "letterbox_mean_std.npy")
    path = tmp_path_factory.mktemp("cifar") / "cifar-norm.wren"
    wren.convert(DIGITS / "wrn16_2_digits.pth", path, calibration=DIGITS / "calib_x.npy", mean=mean, std=std)
    return path


@pytest.fixture(scope="session")
def test_x():
    return np.load(DIGITS / "test_x.npy")


@pytest.fixture(scope="session")
def test_y():
    return np.load(DIGITS / "test_y.npy")


@pytest.fixture(scope="session")
def cli_test_logits(digits_model, tmp_path_factory):
    """`wren run digits.wren test_x.npy --logits`, once per session."""
    return cli_logits(digits_model, [DIGITS / "test_x.npy"], tmp_path_factory.mktemp("cli"))
