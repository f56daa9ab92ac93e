"""Model.classify / preprocess: the same numbers as `wren run` on image files, and as the
independent NumPy letterbox references in fixtures/images (tools/make_image_fixtures.py)."""

import json

import numpy as np
import pytest

import wren
from conftest import DIGIT_NAMES, DIGITS, IMAGES, ROOT, cli_logits, run_cli

FILES = [
    DIGITS / "images" / "test0_label7.jpg",  # JPEG
    ROOT / "fixtures" / "digits-photos" / "one" / "0647.png",  # PNG
    IMAGES / "gradient_40x24.jpg",  # not square: letterboxed
    IMAGES / "png" / "graya8_10x4.png",  # gray + alpha, composited on black
    IMAGES / "png" / "gray16_11x6.png",  # 16-bit
]


def test_classify_files_equals_wren_run(digits_model, tmp_path):
    expected = cli_logits(digits_model, FILES, tmp_path)
    printed = json.loads(run_cli("run", digits_model, *FILES, "--json", "--top", "3"))
    with wren.Model(digits_model, threads=2) as m:
        results = m.classify(FILES, top=3)
    assert np.stack([r.logits for r in results]).tobytes() == expected.tobytes()
    for result, cli in zip(results, printed["inputs"]):
        assert result.source == str(FILES[printed["inputs"].index(cli)])
        assert [(k, label) for k, label, _ in result.top] == [(t["class"], t["label"]) for t in cli["top"]]
        assert result.label == DIGIT_NAMES[result.index] == cli["top"][0]["label"]
        assert result.probability == pytest.approx(cli["top"][0]["probability"], abs=1e-6)
    assert results[0].label == "seven"  # test0_label7.jpg


def test_a_single_path_is_one_image(digits_model, tmp_path):
    expected = cli_logits(digits_model, FILES[:1], tmp_path)
    with wren.Model(digits_model) as m:
        (result,) = m.classify(str(FILES[0]))
        assert result.logits.tobytes() == expected[0].tobytes()
        assert m.preprocess(FILES[0]).shape == (1, 3, 32, 32)


@pytest.mark.parametrize("name", sorted(p.name for p in (IMAGES / "png").glob("*.png") if (IMAGES / "png" / (p.stem + ".letterbox32.npy")).exists()) + ["gradient_40x24.jpg"])
def test_preprocess_equals_the_numpy_reference(request, name):
    """Files and their decoded pixels (.rgb.npy) give tools/make_image_fixtures.py's letterbox bit for
    bit (the PNG references use mean = std = 0.5, the JPEG ones letterbox_mean_std.npy)."""
    png = name.endswith(".png")
    folder = IMAGES / "png" if png else IMAGES
    stem = name.rsplit(".", 1)[0]
    expected = np.load(folder / f"{stem}.letterbox32.npy")
    with wren.Model(request.getfixturevalue("digits_model" if png else "cifar_norm_model")) as m:
        from_file = m.preprocess(folder / name)[0]
        from_pixels = m.preprocess(np.load(folder / f"{stem}.rgb.npy"))[0]
    assert from_file.tobytes() == expected.tobytes()
    assert from_pixels.tobytes() == expected.tobytes()


# PIL images: the pixels go through wren_model_preprocess_rgb, so a PIL image equals its file when
# Pillow decodes to the same RGB bytes as Wren (libpng, libjpeg with the same settings).
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_pil_images_equal_their_files(digits_model, path):
    PIL = pytest.importorskip("PIL.Image")
    with wren.Model(digits_model) as m:
        from_file = m.preprocess(path)
        with PIL.open(path) as image:
            from_pil = m.preprocess(image)
    assert from_pil.tobytes() == from_file.tobytes()


def test_arrays_gray_and_batches(digits_model):
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, size=(2, 20, 30, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, size=(20, 30), dtype=np.uint8)
    with wren.Model(digits_model) as m:
        batch = m.preprocess(rgb)
        assert batch.shape == (2, 3, 32, 32)
        assert m.preprocess([rgb[0], rgb[1]]).tobytes() == batch.tobytes()
        assert m.preprocess(rgb[:, ::-1][:, ::-1]).tobytes() == batch.tobytes()  # non-contiguous views
        assert m.preprocess(gray).tobytes() == m.preprocess(np.repeat(gray[:, :, None], 3, axis=2)).tobytes()
        # 30x20 becomes 32x21 (rounded half up) at row 5: rows 0-4 are black padding, (0 - 0.5) / 0.5.
        assert np.all(batch[:, :, :5, :] == -1.0) and not np.all(batch[:, :, 5, :] == -1.0)
        results = m.classify(rgb)
        assert [r.source for r in results] == ["<image 0>", "<image 1>"]
        assert np.stack([r.logits for r in results]).tobytes() == m.run(batch).tobytes()


def test_bad_images_get_typed_errors(digits_model, tmp_path):
    with wren.Model(digits_model) as m:
        with pytest.raises(wren.FileUnreadableError, match="no-such.jpg"):
            m.classify(tmp_path / "no-such.jpg")
        with pytest.raises(wren.BadImageError, match="not a JPEG or PNG") as caught:
            m.classify(digits_model)
        assert caught.value.status_name == "WREN_ERROR_BAD_IMAGE"
        with pytest.raises(wren.BadImageError, match="corrupt"):
            m.classify(IMAGES / "png" / "bad_idat_crc.png")
        with pytest.raises(TypeError, match=r"uint8 \[H, W, 3\].*float32"):
            m.classify(np.zeros((32, 32, 3), np.float32))
        with pytest.raises(ValueError, match=r"shape \[32, 32, 4\]"):
            m.classify(np.zeros((32, 32, 4), np.uint8))
        with pytest.raises(ValueError, match="each side must be in 1...16384"):
            m.classify(np.zeros((0, 5, 3), np.uint8))
        with pytest.raises(TypeError, match="file path, a PIL image or a uint8 array"):
            m.classify(object())
        with pytest.raises(ValueError, match="empty list"):
            m.classify([])
        with pytest.raises(ValueError, match="top must be a positive int"):
            m.classify(DIGITS / "images" / "test0_label7.jpg", top=0)
