"""Writes the ONNX fixtures in fixtures/onnx/ from real PyTorch and PaddlePaddle exports.

Run from the repository root:   python3 tools/make_onnx_fixtures.py        (about a minute)
Made with: Python 3.11.7, torch 2.15.0, onnx 1.23.2, onnxruntime 1.32.0, onnxscript 0.7.2 (the dynamo
           exporter needs it), paddlepaddle 3.3.1, paddle2onnx 2.0.1 (recorded in manifest.json),
           numpy 2.4.6 (all in tools/requirements.txt):
           python3 -m pip install torch==2.15.0 onnx==1.23.2 onnxruntime==1.32.0 onnxscript==0.7.2 \
               paddlepaddle==3.3.1 paddle2onnx==2.0.1

The WRNs are the repository's existing checkpoints, so the ONNX import can be compared with the
.pth/.pdparams import of the same weights:
  fixtures/models/wrn10_1_c10.pth            a WRN-10-1 with randomized BN statistics and biases
  fixtures/digits/wrn16_2_digits.pth         the trained WRN-16-2 of the digits demo
  fixtures/paddle/wrn10_1_c10_training.pdparams   the Paddle port (conv biases), for paddle2onnx

For every variant it writes <name>.onnx, <name>.input.npy (float32 [4,3,32,32]) and
<name>.logits.npy (float32 [4,classes], the exporting framework's own eval-mode logits), and checks
that onnxruntime reproduces the logits from the .onnx file. manifest.json lists, per variant, the
exporter, opset, the op types in the graph (so a test can see that the variant really has the
structure its name claims) and whether bn2 was folded.

Variants (PyTorch's forward is changed only in the head, with identical results):
  wrn10_1_op13_ts_fused_gemm_gap     TorchScript exporter, opset 13, eval: bn2 folded into conv1,
                                     GlobalAveragePool, Reshape, Gemm
  wrn10_1_op17_ts_unfused_matmul_reducemean   TorchScript, opset 17, training=PRESERVE (no folding),
                                     ReduceMean(keepdims=0) and MatMul + Add
  wrn10_1_op21_dynamo_avgpool        dynamo exporter (torch.export), opset 21, AveragePool(8)
  wrn10_1_op13_external              as the first, initializers as external data in
                                     wrn10_1_op13_external.onnx.data next to it
  wrn10_1_flatten_external, wrn10_1_squeeze_external   the previous with Flatten(axis=1) / Squeeze([2, 3])
                                     in place of the Reshape (edited with onnx.helper; same data file)
  wrn10_1_paddle                     paddle2onnx (paddle.onnx.export), opset 13, conv biases
  wrn16_2_digits_op17                the digits model, TorchScript, opset 17, unfused (the same
                                     parameters as the .pth, so the same .wren)
Not WRNs (for the error tests):
  not_wrn_extra_sigmoid              the first variant with a Sigmoid on the logits
  not_wrn_resnet                     a post-activation ResNet basic-block net (conv-bn-relu-conv-bn-add-relu)
Hostile (hand-made from wrn10_1_op13_external, a few KB each, for the typed-error tests): the stem
conv's weight (the first tensor read) made inline (hostile_inline_stem, which imports fine) and then
  hostile_truncated                  the first 60% of the file
  hostile_huge_dims                  dims set to [2^40, 2^40, 3, 3] (raw_data unchanged)
  hostile_bad_count                  raw_data one float short of its dims
  hostile_wrong_dtype                marked DOUBLE
  hostile_raw_and_float              raw_data and float_data both set
or left external with
  hostile_external_escape            location ../../etc/passwd
  hostile_external_absolute          location /etc/passwd
  hostile_external_past_end          offset 16 bytes before the end of the (real) data file
  hostile_external_negative_offset   offset -8
and hostile_depth_bomb               a node attribute holding a graph holding a node ... 200 levels deep
"""

import json
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))
import wrn_torch  # noqa: E402

OUT = os.path.join(REPO, "fixtures", "onnx")


class Head:
    """The head variants as a forward over the WRN's modules (same math as wrn_torch's forward)."""

    @staticmethod
    def features(model, x):
        out = model.conv1(x)
        out = model.block1(out)
        out = model.block2(out)
        out = model.block3(out)
        return model.relu(model.bn1(out))


class GapGemm(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = Head.features(self.model, x)
        out = F.adaptive_avg_pool2d(out, 1).view(-1, self.model.nChannels)
        return self.model.fc(out)


class ReduceMeanMatMul(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = Head.features(self.model, x).mean(dim=(2, 3))
        return torch.matmul(out, self.model.fc.weight.t()) + self.model.fc.bias


class AvgPool(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = F.avg_pool2d(Head.features(self.model, x), 8).flatten(1)
        return self.model.fc(out)


def load_torch(path, depth, widen, classes):
    model = wrn_torch.WideResNet(depth, classes, widen)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if "state_dict" in state:
        state = state["state_dict"]
    model.load_state_dict(state)
    return model.eval()


def op_types(path):
    return sorted({node.op_type for node in onnx.load(path, load_external_data=False).graph.node})


def ort_logits(path, inputs):
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: inputs})[0]


def check_and_record(name, path, inputs, logits, exporter, opset, notes, manifest):
    got = ort_logits(path, inputs)
    difference = float(np.abs(got - logits).max())
    assert difference <= 1e-4 * max(1.0, float(np.abs(logits).max())), f"{name}: onnxruntime differs by {difference}"
    np.save(os.path.join(OUT, name + ".input.npy"), inputs)
    np.save(os.path.join(OUT, name + ".logits.npy"), logits.astype(np.float32))
    ops = op_types(path)
    model = onnx.load(path, load_external_data=False)
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    bn_count = ops.count("BatchNormalization")
    entry = {"name": name, "file": name + ".onnx", "exporter": exporter, "opset": opsets.get("ai.onnx", opset),
             "op_types": ops, "batch_norms": sum(1 for n in model.graph.node if n.op_type == "BatchNormalization"),
             "input": name + ".input.npy", "logits": name + ".logits.npy", "notes": notes,
             "onnxruntime_max_abs_diff": difference}
    manifest.append(entry)
    print(f"{name:44s} {os.path.getsize(path):8d} bytes  opset {entry['opset']}  BNs {entry['batch_norms']:2d}  "
          f"ort diff {difference:.1e}  ops {','.join(ops)}")


def export_torchscript(module, inputs, path, opset, fold):
    torch.onnx.export(
        module, (torch.from_numpy(inputs),), path, dynamo=False, opset_version=opset,
        do_constant_folding=True, input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        training=torch.onnx.TrainingMode.EVAL if fold else torch.onnx.TrainingMode.PRESERVE)


def torch_variants(manifest):
    wrn = load_torch(os.path.join(REPO, "fixtures", "models", "wrn10_1_c10.pth"), 10, 1, 10)
    inputs = np.load(os.path.join(REPO, "fixtures", "models", "wrn10_1_c10.input.npy")).astype(np.float32)
    with torch.no_grad():
        logits = wrn(torch.from_numpy(inputs)).numpy()

    name = "wrn10_1_op13_ts_fused_gemm_gap"
    path = os.path.join(OUT, name + ".onnx")
    export_torchscript(GapGemm(wrn).eval(), inputs, path, 13, fold=True)
    check_and_record(name, path, inputs, logits, "torch.onnx.export(dynamo=False)", 13,
                     "eval mode, do_constant_folding: bn2 folded into conv1 (conv1 gets a bias)", manifest)

    name = "wrn10_1_op17_ts_unfused_matmul_reducemean"
    path = os.path.join(OUT, name + ".onnx")
    export_torchscript(ReduceMeanMatMul(wrn).eval(), inputs, path, 17, fold=False)
    check_and_record(name, path, inputs, logits, "torch.onnx.export(dynamo=False, training=PRESERVE)", 17,
                     "model in eval mode, no Conv+BN folding; mean over (2, 3) and matmul + bias", manifest)

    name = "wrn10_1_op21_dynamo_avgpool"
    path = os.path.join(OUT, name + ".onnx")
    program = torch.onnx.export(AvgPool(wrn).eval(), (torch.from_numpy(inputs),), dynamo=True, opset_version=21,
                                input_names=["input"], output_names=["logits"], external_data=False)
    program.save(path)
    check_and_record(name, path, inputs, logits, "torch.onnx.export(dynamo=True)", 21,
                     "torch.export-based exporter; F.avg_pool2d(out, 8) and flatten(1); fixed batch 4", manifest)

    # External data: the first variant's initializers moved to a file next to the model.
    name = "wrn10_1_op13_external"
    path = os.path.join(OUT, name + ".onnx")
    model = onnx.load(os.path.join(OUT, "wrn10_1_op13_ts_fused_gemm_gap.onnx"))
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=name + ".onnx.data", size_threshold=0, convert_attribute=False)
    check_and_record(name, path, inputs, logits, "torch.onnx.export(dynamo=False) + onnx.save_model(save_as_external_data)",
                     13, "every initializer in wrn10_1_op13_external.onnx.data (location, offset, length)", manifest)

    # Flatten and Squeeze heads (what other exporters write for the same view): the external-data
    # variant's Reshape replaced by hand, sharing its data file.
    for name, head in [("wrn10_1_flatten_external", "Flatten"), ("wrn10_1_squeeze_external", "Squeeze")]:
        model = onnx.load(path, load_external_data=False)
        graph = model.graph
        at = next(i for i, n in enumerate(graph.node) if n.op_type == "Reshape")
        reshape = graph.node[at]
        if head == "Flatten":
            replacement = helper.make_node("Flatten", [reshape.input[0]], list(reshape.output), name="head_flatten", axis=1)
        else:
            graph.initializer.append(numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "squeeze_axes"))
            replacement = helper.make_node("Squeeze", [reshape.input[0], "squeeze_axes"], list(reshape.output), name="head_squeeze")
        graph.node.remove(reshape)
        graph.node.insert(at, replacement)
        target = os.path.join(OUT, name + ".onnx")
        onnx.save(model, target)
        check_and_record(name, target, inputs, logits, "wrn10_1_op13_external edited with onnx.helper", 13,
                         f"the Reshape after GlobalAveragePool replaced by {head}; data in wrn10_1_op13_external.onnx.data", manifest)

    # The digits model, unfused: the same parameters as fixtures/digits/wrn16_2_digits.pth.
    digits = load_torch(os.path.join(REPO, "fixtures", "digits", "wrn16_2_digits.pth"), 16, 2, 10)
    digits_inputs = np.load(os.path.join(REPO, "fixtures", "digits", "test_x.npy"))[:4].astype(np.float32)
    with torch.no_grad():
        digits_logits = digits(torch.from_numpy(digits_inputs)).numpy()
    name = "wrn16_2_digits_op17"
    path = os.path.join(OUT, name + ".onnx")
    export_torchscript(GapGemm(digits).eval(), digits_inputs, path, 17, fold=False)
    check_and_record(name, path, digits_inputs, digits_logits, "torch.onnx.export(dynamo=False, training=PRESERVE)", 17,
                     "the digits demo's WRN-16-2, unfused: same parameters as wrn16_2_digits.pth", manifest)
    return inputs


def widening_variant(manifest):
    """A WRN whose first block widens (k = 2): in eval mode the exporter folds that block's bn1 into
    the stem conv too (the stem's output feeds nothing else), besides every bn2 into its conv1."""
    state = torch.load(os.path.join(REPO, "fixtures", "models", "wrn10_2_c10_module.pth"), map_location="cpu", weights_only=True)
    state = state.get("model", state.get("state_dict", state))
    wrn = wrn_torch.WideResNet(10, 10, 2)
    wrn.load_state_dict({key.removeprefix("module."): value for key, value in state.items()})
    wrn.eval()
    inputs = np.load(os.path.join(REPO, "fixtures", "models", "wrn10_2_c10_module.input.npy")).astype(np.float32)
    with torch.no_grad():
        logits = wrn(torch.from_numpy(inputs)).numpy()
    name = "wrn10_2_op17_ts_fused_stem"
    path = os.path.join(OUT, name + ".onnx")
    export_torchscript(wrn, inputs, path, 17, fold=True)
    check_and_record(name, path, inputs, logits, "torch.onnx.export(dynamo=False)", 17,
                     "eval mode, do_constant_folding: block1's bn1 folded into the stem, every bn2 into its conv1", manifest)


def paddle_variant(manifest):
    import paddle
    import paddle2onnx
    import make_paddle_fixtures as mpf

    state = paddle.load(os.path.join(REPO, "fixtures", "paddle", "wrn10_1_c10_training.pdparams"))["model"]
    model = mpf.WideResNet(depth=10, num_classes=10, widen_factor=1)
    model.set_state_dict({k: paddle.cast(paddle.to_tensor(v), "float32") for k, v in state.items()})
    model.eval()
    inputs = np.load(os.path.join(REPO, "fixtures", "paddle", "wrn10_1_c10_training.input.npy")).astype(np.float32)
    logits = mpf.logits_of(model, inputs)
    name = "wrn10_1_paddle"
    prefix = os.path.join(OUT, name)
    spec = [paddle.static.InputSpec(shape=[None, 3, 32, 32], dtype="float32", name="x")]
    paddle.onnx.export(model, prefix, input_spec=spec, opset_version=13)
    check_and_record(name, prefix + ".onnx", inputs, logits, f"paddle.onnx.export (paddle2onnx {paddle2onnx.__version__})", 13,
                     "the Paddle port (conv biases, Linear [in, out]) of fixtures/paddle/wrn10_1_c10_training.pdparams", manifest)


def not_wrns(manifest):
    base = onnx.load(os.path.join(OUT, "wrn10_1_op13_external.onnx"), load_external_data=False)
    graph = base.graph
    logits = graph.output[0].name
    for node in graph.node:
        for i, out in enumerate(node.output):
            if out == logits:
                node.output[i] = "pre_sigmoid"
    graph.node.append(helper.make_node("Sigmoid", ["pre_sigmoid"], [logits], name="extra_sigmoid"))
    onnx.save(base, os.path.join(OUT, "not_wrn_extra_sigmoid.onnx"))  # external data: the variant's file

    class ResNetBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(3, 16, 3, padding=1, bias=False)
            self.bn1 = torch.nn.BatchNorm2d(16)
            self.conv2 = torch.nn.Conv2d(16, 16, 3, padding=1, bias=False)
            self.bn2 = torch.nn.BatchNorm2d(16)
            self.conv3 = torch.nn.Conv2d(16, 16, 3, padding=1, bias=False)
            self.bn3 = torch.nn.BatchNorm2d(16)
            self.fc = torch.nn.Linear(16, 10)

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            out = F.relu(self.bn2(self.conv2(x)))
            out = F.relu(self.bn3(self.conv3(out)) + x)
            return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))

    torch.manual_seed(5)
    inputs = torch.zeros(1, 3, 32, 32)
    torch.onnx.export(ResNetBlock().eval(), (inputs,), os.path.join(OUT, "not_wrn_resnet.onnx"), dynamo=False,
                      opset_version=13, training=torch.onnx.TrainingMode.PRESERVE, input_names=["input"], output_names=["logits"])
    manifest.append({"name": "not_wrn_extra_sigmoid", "file": "not_wrn_extra_sigmoid.onnx",
                     "notes": "wrn10_1_op13_external (same data file) with a Sigmoid node 'extra_sigmoid' on the logits"})
    manifest.append({"name": "not_wrn_resnet", "file": "not_wrn_resnet.onnx",
                     "notes": "post-activation ResNet: the first ReLU's output feeds both a conv and the residual Add",
                     "op_types": op_types(os.path.join(OUT, "not_wrn_resnet.onnx"))})


def hostile(manifest):
    # Built on the external-data variant (a few KB) so that they cost no space: its stem conv's
    # weight, the first tensor the importer reads, is made inline and then corrupted; the other
    # initializers stay in wrn10_1_op13_external.onnx.data next to them.
    external = os.path.join(OUT, "wrn10_1_op13_external.onnx")
    data = open(external, "rb").read()

    def write(name, payload, notes):
        with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
            f.write(payload)
        manifest.append({"name": name, "file": name + ".onnx", "notes": notes})

    write("hostile_truncated", data[: len(data) * 6 // 10], "the first 60% of wrn10_1_op13_external.onnx")

    def stem_weight(model):
        conv = next(n for n in model.graph.node if n.op_type == "Conv")
        return next(t for t in model.graph.initializer if t.name == conv.input[1])

    def with_inline_stem():
        model = onnx.load(external, load_external_data=False)
        tensor = stem_weight(model)
        entries = {e.key: e.value for e in tensor.external_data}
        blob = open(os.path.join(OUT, entries["location"]), "rb")
        blob.seek(int(entries.get("offset", "0")))
        raw = blob.read(int(entries["length"]))
        tensor.ClearField("external_data")
        tensor.data_location = TensorProto.DEFAULT
        tensor.raw_data = raw
        return model, tensor

    model, tensor = with_inline_stem()
    write("hostile_inline_stem", model.SerializeToString(), "wrn10_1_op13_external with the stem weight inline again: imports fine (control)")
    model, tensor = with_inline_stem()
    tensor.dims[:] = [1 << 40, 1 << 40, 3, 3]
    write("hostile_huge_dims", model.SerializeToString(), "the stem weight's dims [2^40, 2^40, 3, 3], raw_data unchanged")
    model, tensor = with_inline_stem()
    tensor.raw_data = tensor.raw_data[:-4]
    write("hostile_bad_count", model.SerializeToString(), "the stem weight's raw_data 4 bytes short of its dims")
    model, tensor = with_inline_stem()
    tensor.data_type = TensorProto.DOUBLE
    write("hostile_wrong_dtype", model.SerializeToString(), "the stem weight marked DOUBLE (its bytes are float32)")
    model, tensor = with_inline_stem()
    tensor.float_data.extend([0.5] * 4)
    write("hostile_raw_and_float", model.SerializeToString(), "the stem weight carries both raw_data and float_data")

    def external_variant(name, location, offset, notes):
        model = onnx.load(external, load_external_data=False)
        tensor = stem_weight(model)
        entries = {e.key: e for e in tensor.external_data}
        entries["location"].value = location
        if offset is not None:
            entries["offset"].value = str(offset)
        write(name, model.SerializeToString(), notes)

    external_variant("hostile_external_escape", "../../etc/passwd", None, "the stem weight's external location ../../etc/passwd")
    external_variant("hostile_external_absolute", "/etc/passwd", None, "the stem weight's external location /etc/passwd")
    size = os.path.getsize(os.path.join(OUT, "wrn10_1_op13_external.onnx.data"))
    external_variant("hostile_external_past_end", "wrn10_1_op13_external.onnx.data", size - 16,
                     "the stem weight's external offset 16 bytes before the end of the real data file")
    external_variant("hostile_external_negative_offset", "wrn10_1_op13_external.onnx.data", -8,
                     "the stem weight's external offset -8")

    # Depth bomb: Node.attribute(g: GraphProto).node.attribute.g ... 200 levels, written by hand as
    # protobuf bytes (onnx.helper would recurse as deep).
    def field(number, payload):
        key, length = bytes([(number << 3) | 2]), len(payload)
        varint = bytearray()
        while True:
            byte = length & 0x7F
            length >>= 7
            varint.append(byte | (0x80 if length else 0))
            if not length:
                break
        return key + bytes(varint) + payload

    node = b""
    for _ in range(200):
        attribute = field(1, b"g") + bytes([0xA0, 0x01, 5]) + field(6, field(1, node))  # name, type GRAPH, g
        node = field(5, attribute)  # NodeProto.attribute
    graph = field(1, node)  # GraphProto.node
    bomb = bytes([0x08, 0x08]) + field(7, graph) + field(8, bytes([0x10, 13]))  # ir_version 8, graph, opset 13
    write("hostile_depth_bomb", bomb, "a node whose graph attribute holds a node ... 200 levels deep")


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__}")
    manifest = []
    torch.manual_seed(0)
    torch_variants(manifest)
    widening_variant(manifest)
    paddle_variant(manifest)
    not_wrns(manifest)
    hostile(manifest)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"{len(os.listdir(OUT))} files, {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
