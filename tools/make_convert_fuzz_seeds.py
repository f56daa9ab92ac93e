"""Writes the seeds of the `convert` fuzz target (tools/fuzz.sh) in fixtures/fuzz-corpus/convert/:
one small WRN-10-1 (10 classes) checkpoint per importer, each under libFuzzer's 256 KB -max_len, so
that mutations start from files that reach calibration.

Run from the repository root:   python3 tools/make_convert_fuzz_seeds.py
Needs: Python 3 and numpy. The weights are fixtures/safetensors/wrn10_1_c10_bf16.safetensors'.

  wrn10_1.safetensors  that file as it is (bfloat16)
  wrn10_1.pdparams     the same weights as float16 NumPy arrays, pickled (protocol 4) as paddle.save does
                       (fc.weight as [in, out], Paddle's layout)
  wrn10_1.pth          the same weights as torch.HalfStorage entries of a torch.save-shaped zip (stored)
"""

import json
import os
import pickle
import struct
import sys
import zipfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_hostile_fixtures import tensor_dict_pickle  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(REPO, "fixtures", "safetensors", "wrn10_1_c10_bf16.safetensors")
OUT = os.path.join(REPO, "fixtures", "fuzz-corpus", "convert")
MAX_LEN = 262144


def read_safetensors(path):
    """name -> float32 ndarray (bfloat16 widened), for the floating-point tensors."""
    data = open(path, "rb").read()
    length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__" or entry["dtype"] != "BF16":
            continue
        begin, end = entry["data_offsets"]
        bits = np.frombuffer(body[begin:end], dtype="<u2").astype(np.uint32) << 16
        tensors[name] = bits.view(np.float32).reshape(entry["shape"])
    return tensors


def torch_pickle(tensors):
    """Protocol-2 pickle of {name: float16 tensor in storage str(index)}, as torch.save writes it."""
    return tensor_dict_pickle([
        (name, "HalfStorage", str(index), array.size, array.shape,
         [int(np.prod(array.shape[axis + 1:])) for axis in range(array.ndim)])
        for index, (name, array) in enumerate(tensors.items())])


def write(name, data):
    assert len(data) <= MAX_LEN, f"{name} is {len(data)} bytes, more than libFuzzer's -max_len {MAX_LEN}"
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    print(f"{name:22s} {len(data):7d} bytes")


def main():
    if sys.argv[1:]:
        sys.exit(f"usage: {sys.argv[0]}")
    os.makedirs(OUT, exist_ok=True)
    tensors = read_safetensors(SOURCE)
    write("wrn10_1.safetensors", open(SOURCE, "rb").read())
    half = {name: array.astype(np.float16) for name, array in tensors.items()}
    # Paddle's Linear stores its weight as [in, out]; PaddleNaming transposes it back.
    paddle = {name: (array.T.copy() if name == "fc.weight" else array) for name, array in half.items()}
    write("wrn10_1.pdparams", pickle.dumps(paddle, protocol=4))
    def entry(name):
        return zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # a fixed date: reproducible bytes

    with zipfile.ZipFile(os.path.join(OUT, "wrn10_1.pth.tmp"), "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(entry("archive/data.pkl"), torch_pickle(half))
        z.writestr(entry("archive/byteorder"), b"little")
        for index, array in enumerate(half.values()):
            z.writestr(entry(f"archive/data/{index}"), array.astype("<f2").tobytes())
        z.writestr(entry("archive/version"), b"3\n")
    data = open(os.path.join(OUT, "wrn10_1.pth.tmp"), "rb").read()
    os.remove(os.path.join(OUT, "wrn10_1.pth.tmp"))
    write("wrn10_1.pth", data)


if __name__ == "__main__":
    main()
