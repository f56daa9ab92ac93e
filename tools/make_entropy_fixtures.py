"""Writes fixtures/calibration/entropy_thresholds.json: histograms and the KL-entropy thresholds MXNet's
calibration search picks on them, for CalibrationTests.entropySearchMatchesMXNet (which checks
EntropyThreshold.search against every entry, exactly).

Run from the repository root, in a virtual environment with MXNet 1.5.1 (the last release whose
`_get_optimal_threshold` is pure Python; from 1.6 it calls a C++ operator). The pinned NumPy is needed
because MXNet 1.5 still uses `np.bool`, which NumPy 1.24 removed:

    python3 -m venv /tmp/mxnet15
    /tmp/mxnet15/bin/pip install mxnet==1.5.1.post0 numpy==1.23.5 scipy==1.15.3
    /tmp/mxnet15/bin/python tools/make_entropy_fixtures.py          (about 1 minute)

Made with: Python 3.11.7, mxnet 1.5.1 (mxnet==1.5.1.post0), numpy 1.23.5, scipy 1.15.3.
`--skip-mxnet-check` runs without MXNet: with Python 3.11.7, numpy 2.4.6 (tools/requirements.txt)
and scipy 1.17.1 the cases come out identical and only "versions" differs, but then the
transcription has not been checked against MXNet. Output is byte-identical across runs.

What is reference and what is transcription
-------------------------------------------
`window_divergence` below is the body of the loop in `_get_optimal_threshold(arr, quantized_dtype,
num_bins=8001, num_quantized_bins=255)`, mxnet/contrib/quantization.py, MXNet 1.5.1 (lines 303-347
of the installed file), and `_smooth_distribution` is that file's, both copied line for line with
the same integer types and `scipy.stats.entropy`; only the window bounds and the float type (MXNet:
float32) became parameters.

MXNet slides a window symmetric about zero over a signed histogram ([z - i, z + i + 1)). Wren, like
TensorRT and ncnn, searches one-sided histograms (of |x| for signed tensors, of x after a ReLU):
windows [0, i) for i = levels ... len(histogram), outliers folded into the window's last bin. That
window set is the one part that is not MXNet's (`one_sided_search`). To show the copied code is
MXNet's, the script first rebuilds MXNet's own symmetric search from it in float32
(`symmetric_search`) and requires it to return exactly what the installed
`mxnet.contrib.quantization._get_optimal_threshold` returns (threshold and divergence) on four
arrays, int8 and uint8.

Float type: `bins` in the fixture is the search in float64, as Wren computes. MXNet's float32 sums
pick a different window in 7 of the 50 searches (recorded as `mxnet_float32_bins`): there the
divergence curve is flat to ~1e-6 and float32 rounding picks among near-ties. The script records
how much worse MXNet's pick is in float64 (`mxnet_float32_excess`, refused above 1e-5) and how far
the float64 winner is ahead of the runner-up (`margin`, refused below 1e-9, so summation order
cannot change the answer).

Inputs (all stored in the fixture, so the Swift test needs neither this script nor Python):
  hand_gaussian, hand_exponential, hand_noisy_with_tail   64-, 64- and 96-bin histograms written by
      hand (the three cases the Swift test held inline before this script existed), levels 8 and 16
  half_normal_outliers, gaussian_magnitudes, relu_laplace, uniform_outliers   200,000 values from
      numpy.random.default_rng(seed), histogrammed as Wren's ActivationHistogram does (4096 bins of
      width max|x| / 4096 over |x|, exact zeros left out, the top bin closed), levels 255 and 128
  sparse_<k>   small random histograms with many empty bins and isolated outliers (the cases where
      a window's last bin is empty until the outliers land in it), levels 8, 16 and 32
"""

import argparse
import json
import os
import platform
import sys

import numpy as np
import scipy
from scipy import stats

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "fixtures", "calibration", "entropy_thresholds.json")

try:
    import mxnet
    from mxnet.contrib import quantization as mxnet_quantization
except ImportError:
    mxnet = None
    mxnet_quantization = None


def _smooth_distribution(p, eps=0.0001, dtype=np.float32):
    """MXNet 1.5.1 mxnet/contrib/quantization.py `_smooth_distribution`, verbatim but for `dtype`
    (MXNet: float32)."""
    is_zeros = (p == 0).astype(dtype)
    is_nonzeros = (p != 0).astype(dtype)
    n_zeros = is_zeros.sum()
    n_nonzeros = p.size - n_zeros
    if not n_nonzeros:
        raise ValueError('The discrete probability distribution is malformed. All entries are 0.')
    eps1 = eps * float(n_zeros) / float(n_nonzeros)
    assert eps1 < 1.0, 'n_zeros=%d, n_nonzeros=%d, eps1=%f' % (n_zeros, n_nonzeros, eps1)
    hist = p.astype(dtype)
    hist += eps * is_zeros + (-eps1) * is_nonzeros
    assert (hist <= 0).sum() == 0
    return hist


def window_divergence(hist, p_bin_idx_start, p_bin_idx_stop, num_quantized_bins, dtype=np.float32):
    """KL(P || Q) for the window hist[p_bin_idx_start:p_bin_idx_stop]: the loop body of MXNet 1.5.1's
    `_get_optimal_threshold`, line for line. Changes: `divergence[i - num_half_quantized_bins] = ...`
    became a local; `quantized_bins` is allocated here instead of once before the loop (every entry
    is assigned before it is read); the float type of Q and of the smoothing is `dtype` (MXNet:
    float32)."""
    quantized_bins = np.zeros(num_quantized_bins, dtype=np.int32)
    sliced_nd_hist = hist[p_bin_idx_start:p_bin_idx_stop]

    # generate reference distribution p
    p = sliced_nd_hist.copy()
    # put left outlier count in p[0]
    left_outlier_count = np.sum(hist[0:p_bin_idx_start])
    p[0] += left_outlier_count
    # put right outlier count in p[-1]
    right_outlier_count = np.sum(hist[p_bin_idx_stop:])
    p[-1] += right_outlier_count
    # is_nonzeros[k] indicates whether hist[k] is nonzero
    is_nonzeros = (p != 0).astype(np.int32)

    # calculate how many bins should be merged to generate quantized distribution q
    num_merged_bins = sliced_nd_hist.size // num_quantized_bins
    # merge hist into num_quantized_bins bins
    for j in range(num_quantized_bins):
        start = j * num_merged_bins
        stop = start + num_merged_bins
        quantized_bins[j] = sliced_nd_hist[start:stop].sum()
    quantized_bins[-1] += sliced_nd_hist[num_quantized_bins * num_merged_bins:].sum()
    # expand quantized_bins into p.size bins
    q = np.zeros(sliced_nd_hist.size, dtype=dtype)
    for j in range(num_quantized_bins):
        start = j * num_merged_bins
        if j == num_quantized_bins - 1:
            stop = len(is_nonzeros)
        else:
            stop = start + num_merged_bins
        norm = is_nonzeros[start:stop].sum()
        if norm != 0:
            q[start:stop] = float(quantized_bins[j]) / float(norm)
    q[p == 0] = 0
    p = _smooth_distribution(p, dtype=dtype)
    # There is a chance that q is an invalid probability distribution.
    try:
        q = _smooth_distribution(q, dtype=dtype)
    except ValueError:
        divergence = float("inf")
    divergence = stats.entropy(p, q)
    return divergence


def symmetric_search(arr, quantized_dtype, num_bins, num_quantized_bins):
    """MXNet 1.5.1 `_get_optimal_threshold` rebuilt around `window_divergence`: its histogram, its
    symmetric windows, its argmin. Returns what MXNet returns."""
    min_val = np.min(arr)
    max_val = np.max(arr)
    th = max(abs(min_val), abs(max_val))
    if min_val >= 0 and quantized_dtype in ['auto', 'uint8']:
        num_quantized_bins = num_quantized_bins * 2 + 1
    hist, hist_edges = np.histogram(arr, bins=num_bins, range=(-th, th))
    zero_bin_idx = num_bins // 2
    num_half_quantized_bins = num_quantized_bins // 2
    thresholds = np.zeros(num_bins // 2 + 1 - num_quantized_bins // 2)
    divergence = np.zeros_like(thresholds)
    for i in range(num_quantized_bins // 2, num_bins // 2 + 1):
        p_bin_idx_start = zero_bin_idx - i
        p_bin_idx_stop = zero_bin_idx + i + 1
        assert (p_bin_idx_stop - p_bin_idx_start) % 2 == 1
        assert p_bin_idx_stop - p_bin_idx_start >= num_quantized_bins
        thresholds[i - num_half_quantized_bins] = hist_edges[p_bin_idx_stop]
        divergence[i - num_half_quantized_bins] = window_divergence(
            hist, p_bin_idx_start, p_bin_idx_stop, num_quantized_bins)
    min_divergence_idx = np.argmin(divergence)
    return min_val, max_val, divergence[min_divergence_idx], thresholds[min_divergence_idx]


def one_sided_divergences(hist, levels, dtype):
    """KL divergence of Wren's windows [0, i), i = levels ... len(hist), each scored by MXNet's loop body."""
    hist = np.asarray(hist, dtype=np.int64)
    return np.array([window_divergence(hist, 0, i, levels, dtype) for i in range(levels, hist.size + 1)])


def one_sided_search(hist, levels):
    """The number of bins kept: the first window with the smallest divergence (np.argmin, as MXNet),
    in float64 (what the fixture records) and in MXNet's float32, with the float64 margins that show
    how firm the float64 answer is and that a float32 disagreement is rounding."""
    d64 = one_sided_divergences(hist, levels, np.float64)
    d32 = one_sided_divergences(hist, levels, np.float32)
    best, mxnet_best = int(np.argmin(d64)), int(np.argmin(d32))
    runner_up = np.min(np.delete(d64, best)) if d64.size > 1 else np.inf
    return {
        "levels": levels,
        "bins": levels + best,
        "mxnet_float32_bins": levels + mxnet_best,
        # (second smallest - smallest) / smallest, float64: far above float64 rounding, so an
        # implementation summing in another order still picks the same window.
        "margin": float((runner_up - d64[best]) / d64[best]),
        # how much worse MXNet's float32 pick is in float64: within float32 rounding (~1e-7 per term).
        "mxnet_float32_excess": float((d64[mxnet_best] - d64[best]) / d64[best]),
    }


def check_against_mxnet():
    rng = np.random.default_rng(2024)
    arrays = [
        ("normal", rng.standard_normal(100_000).astype(np.float32), "int8", 1001, 255),
        ("laplace+outliers", np.concatenate([rng.laplace(size=50_000), [30.0, -25.0]]).astype(np.float32),
         "int8", 801, 255),
        ("relu(normal)", np.maximum(rng.standard_normal(80_000), 0).astype(np.float32), "uint8", 2001, 255),
        ("normal, 31 levels", rng.standard_normal(20_000).astype(np.float32), "int8", 301, 31),
    ]
    for name, arr, dtype, num_bins, levels in arrays:
        ours = symmetric_search(arr, dtype, num_bins, levels)
        theirs = mxnet_quantization._get_optimal_threshold(
            arr, dtype, num_bins=num_bins, num_quantized_bins=levels)
        if not all(np.array_equal(a, b) for a, b in zip(ours, theirs)):
            sys.exit("transcription differs from MXNet %s on %s: %r vs %r" % (mxnet.__version__, name, ours, theirs))
        print("MXNet %s _get_optimal_threshold, %s: threshold %.6f, divergence %.6g, reproduced"
              % (mxnet.__version__, name, theirs[3], theirs[2]))


def wren_histogram(values, bins=4096):
    """|x| histogram as ActivationHistogram builds it: width max|x| / bins, zeros left out, top bin closed."""
    magnitudes = np.abs(np.asarray(values, dtype=np.float32)).astype(np.float64)
    magnitudes = magnitudes[magnitudes != 0]
    width = magnitudes.max() / bins
    index = np.minimum((magnitudes * (1 / width)).astype(np.int64), bins - 1)
    return np.bincount(index, minlength=bins)


HAND = [
    ("hand_gaussian", [1000, 998, 990, 978, 961, 939, 914, 885, 852, 817, 779, 739, 698, 655, 613, 570, 527,
                       486, 445, 406, 368, 332, 298, 266, 237, 210, 185, 162, 141, 122, 105, 90, 77, 66, 56,
                       47, 39, 33, 27, 22, 18, 15, 12, 10, 8, 6, 5, 4, 3, 2, 2, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
                       0, 0, 0]),
    ("hand_exponential", [1000, 846, 717, 607, 513, 435, 368, 311, 264, 223, 189, 160, 135, 115, 97, 82, 69, 59,
                          50, 42, 36, 30, 26, 22, 18, 16, 13, 11, 9, 8, 7, 6, 5, 4, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1,
                          1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]),
    ("hand_noisy_with_tail", [0, 352, 553, 522, 287, 325, 616, 491, 346, 68, 418, 614, 577, 340, 183, 470, 550,
                              399, 137, 485, 675, 423, 182, 251, 534, 608, 452, 205, 341, 526, 478, 234, 319, 598,
                              666, 296, 64, 407, 587, 534, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
                              0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0,
                              0, 0, 0, 1, 0, 0, 0, 0, 0]),
]


def generated_cases():
    cases = []
    rng = np.random.default_rng(12)
    values = np.abs(rng.standard_normal(200_000))
    values[::10_000] = 40.0
    cases.append(("half_normal_outliers", wren_histogram(values), [255, 128]))
    rng = np.random.default_rng(13)
    cases.append(("gaussian_magnitudes", wren_histogram(rng.standard_normal(200_000)), [128, 255]))
    rng = np.random.default_rng(14)
    cases.append(("relu_laplace", wren_histogram(np.maximum(rng.laplace(size=200_000), 0)), [255, 128]))
    rng = np.random.default_rng(15)
    values = rng.uniform(0, 1, 200_000)
    values[::10_000] = 20.0
    cases.append(("uniform_outliers", wren_histogram(values), [255, 128]))
    rng = np.random.default_rng(16)
    for k in range(12):
        size = int(rng.integers(40, 200))
        bulk = int(rng.integers(size // 4, size // 2))
        hist = np.zeros(size, dtype=np.int64)
        hist[:bulk] = rng.poisson(rng.uniform(5, 400) * np.exp(-np.arange(bulk) / rng.uniform(3, 30)))
        hist[:bulk] *= rng.random(bulk) > rng.uniform(0, 0.6)    # empty bins inside the bulk
        tail = rng.choice(np.arange(bulk, size), size=int(rng.integers(1, 8)), replace=False)
        hist[tail] = rng.integers(1, 4, size=tail.size)          # isolated outliers
        if hist.sum() == 0:
            hist[0] = 1
        cases.append(("sparse_%d" % k, hist, [8, 16, 32]))
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-mxnet-check", action="store_true",
                        help="do not compare the transcription with an installed MXNet 1.5.1")
    args = parser.parse_args()
    if not args.skip_mxnet_check:
        if mxnet is None:
            sys.exit("MXNet is not installed: see this script's header, or pass --skip-mxnet-check")
        if mxnet.__version__ != "1.5.1":
            sys.exit("needs MXNet 1.5.1 (the pure-Python _get_optimal_threshold), found %s" % mxnet.__version__)
        check_against_mxnet()

    entries = []
    for name, hist in HAND:
        entries.append((name, np.array(hist, dtype=np.int64), [8, 16]))
    entries += generated_cases()
    cases = []
    for name, hist, levels in entries:
        searches = []
        for level in levels:
            search = one_sided_search(hist, level)
            searches.append(search)
            note = "" if search["bins"] == search["mxnet_float32_bins"] else \
                ", MXNet's float32 arithmetic keeps %d (%.1e worse in float64)" % (
                    search["mxnet_float32_bins"], search["mxnet_float32_excess"])
            print("%-22s %5d bins, %3d levels: keeps %4d, margin %.1e%s"
                  % (name, hist.size, level, search["bins"], search["margin"], note))
            if search["margin"] < 1e-9:
                sys.exit("%s, %d levels: two windows tie to float64 rounding; change the case" % (name, level))
            if search["mxnet_float32_excess"] > 1e-5:
                sys.exit("%s, %d levels: float32 and float64 disagree beyond rounding" % (name, level))
        cases.append({"name": name, "histogram": [int(x) for x in hist], "searches": searches})

    document = {
        "generator": "tools/make_entropy_fixtures.py",
        "reference": "MXNet 1.5.1 mxnet/contrib/quantization.py _get_optimal_threshold: its loop body on "
                     "one-sided windows [0, i) of each histogram, levels <= i <= len(histogram); bins: the "
                     "first i with the smallest KL divergence in float64; mxnet_float32_bins: the same in "
                     "MXNet's float32",
        "versions": {
            "python": platform.python_version(),
            "mxnet": mxnet.__version__ if mxnet is not None and not args.skip_mxnet_check else None,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    # One case per line, so a change shows up as a changed case in a diff.
    text = json.dumps(dict(document, cases=None), indent=1)
    text = text.replace('"cases": null', '"cases": [\n' + ",\n".join(
        "  " + json.dumps(case, separators=(",", ":")) for case in cases) + "\n ]")
    assert json.loads(text) == document
    with open(OUT, "w") as f:
        f.write(text + "\n")
    print("wrote %s (%d cases)" % (os.path.relpath(OUT, REPO), len(cases)))


if __name__ == "__main__":
    main()
