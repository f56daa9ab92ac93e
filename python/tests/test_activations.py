"""Model.activations: the names `wren validate` reports, values that dequantize like validate's."""

import numpy as np
import pytest

import wren
from conftest import DIGITS


@pytest.fixture(scope="module")
def report(digits_model, test_x, test_y):
    return wren.validate(digits_model, DIGITS / "wrn16_2_digits.pth", test_x[:24], labels=test_y[:24])


def test_names_equal_validates_layers(digits_model, test_x, report):
    with wren.Model(digits_model) as m:
        activations = m.activations(test_x[:3])
    layers = report["report"]["layers"]
    assert list(activations) == [layer["name"] for layer in layers]
    for layer in layers:
        values = activations[layer["name"]]
        assert values.dtype == np.float32
        assert values.shape == (3, *layer["shape"])
    tensors = {t.name: t for t in wren.Model(digits_model).tensors}
    for layer in layers:
        assert np.float32(tensors[layer["name"]].scale) == np.float32(layer["scale"])
        assert tensors[layer["name"]].zero_point == layer["zeroPoint"]


def test_input_activation_is_the_input_quantized(digits_model, test_x):
    x = test_x[:5]
    with wren.Model(digits_model) as m:
        activations = m.activations(x)
        raw = m.activations(x, dequantize=False)
        tensor = m.tensors[0]
    assert raw["input"].dtype == np.int8 and raw["input"].shape == (5, 3, 32, 32)
    lowest = np.float32(-128 - tensor.zero_point) * np.float32(tensor.scale)
    highest = np.float32(127 - tensor.zero_point) * np.float32(tensor.scale)
    error = np.abs(activations["input"] - np.clip(x, lowest, highest))
    assert error.max() <= tensor.scale * 0.5001, f"max error {error.max()} at scale {tensor.scale}"
    # Dequantization is exactly validate's: Float(Int32(q) - zeroPoint) * scale.
    for t in m.tensors:
        expected = (raw[t.name].astype(np.int32) - t.zero_point).astype(np.float32) * np.float32(t.scale)
        assert activations[t.name].tobytes() == expected.tobytes()


def test_chunks_threads_and_single_images_agree(digits_model, test_x):
    x = test_x[:7]
    with wren.Model(digits_model, threads=2) as m:
        whole = m.activations(x, dequantize=False)
        chunked = m.activations(x, dequantize=False, chunk=3)
        single = m.activations(x[4:5], dequantize=False)
    with wren.Model(digits_model, threads=1) as m:
        serial = m.activations(x, dequantize=False)
    for name in whole:
        assert whole[name].tobytes() == chunked[name].tobytes(), name
        assert whole[name].tobytes() == serial[name].tobytes(), name
        assert whole[name][4:5].tobytes() == single[name].tobytes(), name
    assert whole["block2.layer.0"].shape == (7, 64, 16, 16)
    assert whole["relu"].shape == (7, 128, 8, 8)
    # Different images give different activations (the copy is not of one slot repeated).
    assert whole["relu"][0].tobytes() != whole["relu"][1].tobytes()


def test_activations_checks_its_input(digits_model, test_x):
    with wren.Model(digits_model) as m:
        with pytest.raises(TypeError, match="float32"):
            m.activations(test_x[:2].astype(np.float16))
        with pytest.raises(ValueError, match="chunk must be a positive int"):
            m.activations(test_x[:2], chunk=0)


def test_int16_tensors_of_a_wren_2_file(tmp_path, test_x, test_y, cli_test_logits):
    """--keep-wider stores a tensor as int16 (.wren 2.0): activations are int16 raw, named and
    dequantized like the rest, and run() still equals `wren run`."""
    path = tmp_path / "wide.wren"
    wren.convert(DIGITS / "wrn16_2_digits.pth", path, calibration=DIGITS / "calib_x.npy", keep_wider=["block3.layer.0.convShortcut"])
    report = wren.validate(path, DIGITS / "wrn16_2_digits.pth", test_x[:10], labels=test_y[:10])
    layers = {layer["name"]: layer for layer in report["report"]["layers"]}
    assert layers["block3.layer.0.convShortcut"]["elementType"] == "int16"
    with wren.Model(path) as m:
        raw = m.activations(test_x[:3], dequantize=False)
        values = m.activations(test_x[:3])
        wide = [t for t in m.tensors if t.dtype == np.int16]
        assert [t.name for t in wide] == ["block3.layer.0.convShortcut"]
        assert list(values) == list(layers)
        q = raw["block3.layer.0.convShortcut"]
        assert q.dtype == np.int16 and q.shape == (3, 128, 8, 8)
        assert np.abs(q.astype(np.int32)).max() > 127  # really 16-bit values
        expected = (q.astype(np.int32) - wide[0].zero_point).astype(np.float32) * np.float32(wide[0].scale)
        assert values["block3.layer.0.convShortcut"].tobytes() == expected.tobytes()
        logits = m.run(test_x)
    # The int16 model's logits differ from the int8 one's, and equal its own CLI run.
    from conftest import cli_logits

    assert logits.tobytes() != cli_test_logits.tobytes()
    assert logits.tobytes() == cli_logits(path, [DIGITS / "test_x.npy"], tmp_path).tobytes()
