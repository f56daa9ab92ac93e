"""wren.Model: what it reports, run() against `wren run --logits`, bad inputs, errors, threads."""

import threading
import time

import numpy as np
import pytest

import wren
from conftest import DIGIT_NAMES, DIGITS


def test_version_is_the_libraries():
    assert wren.__version__ == wren.library_version()
    path, source = wren.library_path()
    assert path.endswith("libwren-shared.so") and source


def test_model_describes_itself(digits_model):
    with wren.Model(digits_model) as m:
        assert m.input_shape == (3, 32, 32)
        assert m.num_classes == 10
        assert m.labels == DIGIT_NAMES
        assert m.mean == (0.5, 0.5, 0.5) and m.std == (0.5, 0.5, 0.5)
        assert m.metadata["architecture"] == "WRN-16-2"
        assert m.metadata["source_name"] == "wrn16_2_digits.pth"
        assert m.tensors[0].name == "input" and m.tensors[0].shape == (3, 32, 32)
        assert m.tensors[-1].name == "relu" and m.tensors[-1].shape == (128, 8, 8)
        assert all(t.scale > 0 and t.dtype == np.int8 for t in m.tensors)
        assert "WRN-16-2" in repr(m)


@pytest.mark.parametrize("threads, max_batch", [(1, 64), (2, 64), (2, 7), (0, 360)])
def test_logits_equal_wren_run_bit_for_bit(digits_model, test_x, cli_test_logits, threads, max_batch):
    expected = cli_test_logits
    with wren.Model(digits_model, threads=threads, max_batch=max_batch) as m:
        logits = m.run(test_x)
    assert logits.dtype == np.float32 and logits.shape == (360, 10)
    assert logits.tobytes() == expected.tobytes()


def test_non_contiguous_input_gives_the_same_logits(digits_model, test_x):
    with wren.Model(digits_model) as m:
        expected = m.run(test_x[:12])
        nhwc = np.ascontiguousarray(test_x[:12].transpose(0, 2, 3, 1))
        view = nhwc.transpose(0, 3, 1, 2)  # NCHW shape, not C-contiguous
        assert not view.flags.c_contiguous
        assert m.run(view).tobytes() == expected.tobytes()
        every_other = np.repeat(test_x[:12], 2, axis=0)[::2]
        assert not every_other.flags.c_contiguous
        assert m(every_other).tobytes() == expected.tobytes()


def test_bad_inputs_name_the_expected_shape_and_dtype(digits_model, test_x):
    with wren.Model(digits_model) as m:
        with pytest.raises(TypeError, match=r"numpy.ndarray float32 \[N, 3, 32, 32\].*got list"):
            m.run(test_x[:1].tolist())
        with pytest.raises(TypeError, match=r"dtype float64; expected float32 \[N, 3, 32, 32\]"):
            m.run(test_x[:2].astype(np.float64))
        with pytest.raises(TypeError, match="dtype uint8"):
            m.run(np.zeros((1, 3, 32, 32), np.uint8))
        with pytest.raises(ValueError, match=r"shape \[3, 32, 32\]; expected float32 \[N, 3, 32, 32\].*x\[None\]"):
            m.run(test_x[0])
        with pytest.raises(ValueError, match=r"shape \[2, 32, 32, 3\].*NHWC"):
            m.run(np.ascontiguousarray(test_x[:2].transpose(0, 2, 3, 1)))
        with pytest.raises(ValueError, match=r"shape \[1, 3, 28, 28\]"):
            m.run(np.zeros((1, 3, 28, 28), np.float32))
        with pytest.raises(ValueError, match="no images"):
            m.run(np.zeros((0, 3, 32, 32), np.float32))
        bad = test_x[:3].copy()
        bad[1, 2, 3, 4] = np.nan
        with pytest.raises(wren.InputNotFiniteError, match=r"x\[1, 2, 3, 4\] is nan"):
            m.run(bad)
        with pytest.raises(ValueError):  # InputNotFiniteError is a ValueError too
            m.run(np.full((1, 3, 32, 32), np.inf, np.float32))


def test_constructor_arguments_are_checked(digits_model):
    with pytest.raises(ValueError, match="threads is -1"):
        wren.Model(digits_model, threads=-1)
    with pytest.raises(TypeError, match="threads must be an int"):
        wren.Model(digits_model, threads="2")
    with pytest.raises(ValueError, match="max_batch is 0"):
        wren.Model(digits_model, max_batch=0)


def test_runtime_errors_are_typed_and_carry_the_message(digits_model, tmp_path):
    missing = tmp_path / "missing.wren"
    with pytest.raises(wren.FileUnreadableError) as caught:
        wren.Model(missing)
    assert isinstance(caught.value, OSError) and caught.value.status == 3
    assert "wren_model_load_file" in str(caught.value) and "missing.wren" in str(caught.value)
    assert caught.value.status_name == "WREN_ERROR_FILE_UNREADABLE"

    corrupt = tmp_path / "corrupt.wren"
    data = bytearray(digits_model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    with pytest.raises(wren.InvalidModelError) as caught:
        wren.Model(corrupt)
    assert caught.value.status_name == "WREN_ERROR_CHECKSUM_MISMATCH" and "checksum mismatch" in caught.value.message

    with pytest.raises(wren.InvalidModelError, match="magic") as caught:
        wren.Model(DIGITS / "images" / "test0_label7.jpg")
    assert caught.value.status_name == "WREN_ERROR_NOT_A_MODEL"


def test_closed_model_refuses_to_run(digits_model, test_x):
    m = wren.Model(digits_model)
    m.close()
    with pytest.raises(ValueError, match="closed"):
        m.run(test_x[:1])
    m.close()  # twice is fine


def test_one_model_shared_by_threads(digits_model, test_x):
    """Eight threads run one Model at once; every result equals the single-threaded one."""
    with wren.Model(digits_model, threads=1) as reference:
        expected = reference.run(test_x)
    m = wren.Model(digits_model, threads=2, max_batch=5)
    failures = []
    start = threading.Barrier(8)

    def worker(seed):
        rng = np.random.default_rng(seed)
        start.wait()
        for _ in range(6):
            first = int(rng.integers(0, 350))
            count = int(rng.integers(1, 11))
            got = m.run(test_x[first : first + count])
            if got.tobytes() != expected[first : first + count].tobytes():
                failures.append((seed, first, count))

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert 1 <= m.context_count <= 8  # a context per concurrent caller at most, reused after
    # Each context runs on the Model's thread count (wren_context_options reached C intact).
    assert all(m._lib.wren_context_threads(context) == 2 for context in m._contexts)
    m.close()


def test_the_gil_is_released_while_running(digits_model, test_x):
    """A Python thread keeps counting while run() is inside the library: with the GIL held, it
    could not take a single step between the call's start and end."""
    big = test_x  # 360 images: long enough to see (about a second on one thread)
    with wren.Model(digits_model, threads=1) as m:
        m.run(big[:1])
        ticks = []
        stop = threading.Event()

        def count():
            while not stop.is_set():
                ticks.append(time.perf_counter())

        thread = threading.Thread(target=count)
        thread.start()
        time.sleep(0.05)
        begin = time.perf_counter()
        m.run(big)
        end = time.perf_counter()
        stop.set()
        thread.join()
    inside = [t for t in ticks if begin + 0.2 * (end - begin) < t < end - 0.2 * (end - begin)]
    assert end - begin > 0.05, f"the run took only {end - begin:.3f} s, too short to tell"
    assert len(inside) > 100, f"the counting thread advanced {len(inside)} times during a {end - begin:.2f} s run"


def test_status_names_follow_the_header():
    """errors.STATUS_NAMES is wren.h's enum, value for value (a status added in C must be added here)."""
    import re

    from conftest import ROOT
    from wren.errors import STATUS_NAMES

    header = (ROOT / "Sources" / "CWren" / "include" / "wren.h").read_text()
    enum = header.split("typedef enum wren_status {")[1].split("} wren_status;")[0]
    declared = {int(value): name for name, value in re.findall(r"\b(WREN_(?:OK|ERROR_\w+)) = (\d+)", enum)}
    assert declared == STATUS_NAMES
