"""wren.convert and wren.validate through the `wren` CLI."""

import numpy as np
import pytest

import wren
from conftest import DIGITS, cli_logits


def test_validate_returns_the_json_report(report_small):
    assert report_small["version"] == 1
    assert report_small["report"]["imageCount"] == 24
    assert 0.9 <= report_small["agreement"] <= 1
    assert report_small["report"]["int8Correct"] >= 22  # the digits model is 99.7% accurate
    assert report_small["report"]["model"]["architecture"] == "WRN-16-2"


@pytest.fixture(scope="module")
def report_small(digits_model, test_x, test_y):
    return wren.validate(digits_model, DIGITS / "wrn16_2_digits.pth", test_x[:24], labels=test_y[:24].tolist())


def test_convert_from_arrays_and_options(tmp_path, test_x):
    out = tmp_path / "options.wren"
    result = wren.convert(
        DIGITS / "wrn16_2_digits.pth", out, calibration=test_x[:32], method="percentile:99.9",
        labels=[f"digit {i}" for i in range(10)], mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), weights="per-tensor",
    )
    assert result == str(out)
    with wren.Model(out) as m:
        assert m.labels == [f"digit {i}" for i in range(10)]
        assert "percentile" in m.metadata["calibration"] and "32 inputs" in m.metadata["calibration"]
        assert "per tensor" in m.metadata["weights"]
        assert m.run(test_x[:4]).tobytes() == cli_logits(out, [DIGITS / "test_x.npy"], tmp_path)[:4].tobytes()


def test_cli_failures_raise_cli_error_with_its_message(tmp_path):
    bogus = tmp_path / "bogus.pth"
    bogus.write_bytes(b"not a checkpoint at all")
    with pytest.raises(wren.CLIError, match="wren convert failed: .*bogus.pth") as caught:
        wren.convert(bogus, tmp_path / "out.wren")
    assert caught.value.returncode != 0 and caught.value.stderr
    assert not (tmp_path / "out.wren").exists()
    with pytest.raises(ValueError, match="mean needs 3 values"):
        wren.convert(DIGITS / "wrn16_2_digits.pth", tmp_path / "o.wren", mean=(0.5, 0.5))
    with pytest.raises(wren.CLIError, match="wren validate failed"):
        wren.validate(tmp_path / "missing.wren", DIGITS / "wrn16_2_digits.pth", DIGITS / "test_x.npy")
