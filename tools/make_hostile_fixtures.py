"""Writes the hostile / unsupported checkpoint fixtures in fixtures/hostile/.

Run from the repository root:   python3 tools/make_hostile_fixtures.py
Made with: Python 3, torch 2.15.0 (tools/requirements.txt).

The payloads would run `touch /tmp/wren_pwned` if unpickled naively. This script only
*builds* them (pickling calls __reduce__, which returns a callable without calling it) and
inspects them with pickletools, which never executes anything. It then checks that
torch.load(weights_only=True) refuses the .pth payload and that /tmp/wren_pwned was not created.
"""

import builtins
import io
import os
import pickle
import pickletools
import zipfile

import torch

from wrn_torch import WideResNet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "fixtures", "hostile")
MARKER = "/tmp/wren_pwned"
COMMAND = f"touch {MARKER}"


class OsSystemPayload:
    """Unpickles as os.system(COMMAND)."""

    def __reduce__(self):
        return (os.system, (COMMAND,))


class EvalPayload:
    """Unpickles as builtins.eval("__import__('os').system(COMMAND)")."""

    def __reduce__(self):
        return (builtins.eval, (f"__import__('os').system('{COMMAND}')",))


def globals_in(pickle_bytes):
    """(module, name) pairs named by GLOBAL opcodes, read without executing anything."""
    found = []
    for op, arg, _ in pickletools.genops(pickle_bytes):
        if op.name == "GLOBAL":
            module, name = arg.split(" ", 1)
            found.append((module, name))
    return found


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    print(f"{name:20s} {len(data):7d} bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    marker_existed = os.path.exists(MARKER)

    # os.system lives in the `posix` module on Linux, so the GLOBAL reads "posix system".
    os_pickle = pickle.dumps(OsSystemPayload(), protocol=2)
    assert ("posix", "system") in globals_in(os_pickle)
    write("os_system.pkl", os_pickle)

    # fix_imports=False keeps the Python 3 module name: GLOBAL "builtins eval"
    # (with the default it would be written as "__builtin__ eval").
    eval_pickle = pickle.dumps(EvalPayload(), protocol=2, fix_imports=False)
    assert ("builtins", "eval") in globals_in(eval_pickle)
    write("eval_builtin.pkl", eval_pickle)

    # A genuine torch.save archive (to a buffer, so the entry prefix is "archive/") whose
    # data.pkl holds a real tensor next to the os.system reduce.
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save({"conv1.weight": torch.randn(16, 3, 3, 3), "payload": OsSystemPayload()}, buffer)
    pth = buffer.getvalue()
    with zipfile.ZipFile(io.BytesIO(pth)) as z:
        names = z.namelist()
        assert "archive/data.pkl" in names and "archive/data/0" in names, names
        found = globals_in(z.read("archive/data.pkl"))
    assert ("posix", "system") in found and ("torch._utils", "_rebuild_tensor_v2") in found, found
    write("os_system.pth", pth)
    try:
        torch.load(io.BytesIO(pth), weights_only=True)
        raise AssertionError("torch.load(weights_only=True) accepted os_system.pth")
    except pickle.UnpicklingError as error:
        print("  torch.load(weights_only=True) refuses it:", str(error).splitlines()[0][:100])

    # The pre-1.6 non-zip format: a tiny WRN-10-1 state_dict. Importers must reject it clearly.
    torch.manual_seed(1)
    model = WideResNet(10, 10, widen_factor=1)
    legacy = io.BytesIO()
    torch.save(model.state_dict(), legacy, _use_new_zipfile_serialization=False)
    legacy_bytes = legacy.getvalue()
    assert not zipfile.is_zipfile(io.BytesIO(legacy_bytes))
    reloaded = torch.load(io.BytesIO(legacy_bytes), weights_only=True)
    assert all(torch.equal(reloaded[k], v) for k, v in model.state_dict().items())
    write("legacy_format.pth", legacy_bytes)

    assert os.path.exists(MARKER) == marker_existed, f"{MARKER} appeared: something unpickled a payload"
    print(f"{MARKER} not created: ok")


if __name__ == "__main__":
    main()
