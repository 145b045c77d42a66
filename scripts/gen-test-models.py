#!/usr/bin/env python3
"""Generate Kiln's bundled test models and their expected outputs.

Every model is built with onnx.helper from seeded random weights; the expected
outputs are computed by onnxruntime (the independent oracle) on seeded inputs.
Output layout (relative to the repo root):

    test-models/<name>.onnx            the model
    test-models/<name>/input_<k>.pb    TensorProto per graph input (name = graph input name)
    test-models/<name>/output_<k>.pb   TensorProto per graph output, computed by onnxruntime
    test-models/manifest.json          names, opsets, shapes and the oracle's versions

Regenerate with:  pip install -r scripts/requirements.txt && python3 scripts/gen-test-models.py
The script is deterministic: rerunning it with the pinned versions rewrites identical files.
"""
from __future__ import annotations

import json
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test-models")
F = TensorProto.FLOAT


class Weights:
    """Seeded initializer factory: one RNG per model so models are independent of each other."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.inits: list[onnx.TensorProto] = []

    def add(self, name: str, shape: tuple[int, ...], scale: float | None = None) -> str:
        # Scale by 1/sqrt(fan_in) (He-like) so activations stay O(1) through the model and
        # the relative tolerance of the comparison stays meaningful.
        if scale is None:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else int(shape[0])
            scale = 1.0 / np.sqrt(max(fan_in, 1))
        arr = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def add_array(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def bn(self, prefix: str, c: int) -> list[str]:
        scale = self.add_array(f"{prefix}.scale", (1.0 + 0.1 * self.rng.standard_normal(c)).astype(np.float32))
        bias = self.add_array(f"{prefix}.bias", (0.1 * self.rng.standard_normal(c)).astype(np.float32))
        mean = self.add_array(f"{prefix}.mean", (0.1 * self.rng.standard_normal(c)).astype(np.float32))
        var = self.add_array(f"{prefix}.var", (0.5 + self.rng.random(c)).astype(np.float32))
        return [scale, bias, mean, var]


def make_model(name: str, nodes, inputs, outputs, w: Weights, opset: int) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=w.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="kiln-gen-test-models")
    # IR version 8 is readable by every onnxruntime release that supports these opsets.
    model.ir_version = 8 if opset <= 17 else 9
    onnx.checker.check_model(model, full_check=True)
    return model


def small_cnn():
    w = Weights(1)
    nodes = [
        helper.make_node("Conv", ["input", w.add("conv1.w", (8, 3, 3, 3)), w.add("conv1.b", (8,), 0.1)], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", *w.bn("bn1", 8)], ["b1"], epsilon=1e-5),
        helper.make_node("Relu", ["b1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", w.add("conv2.w", (16, 8, 3, 3)), w.add("conv2.b", (16,), 0.1)], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c2", *w.bn("bn2", 16)], ["b2"], epsilon=1e-5),
        helper.make_node("Relu", ["b2"], ["r2"]),
        helper.make_node("Flatten", ["r2"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", w.add("fc.w", (10, 16 * 4 * 4), 1.0 / 16), w.add("fc.b", (10,), 0.1)], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    model = make_model("small_cnn", nodes,
                       [helper.make_tensor_value_info("input", F, [2, 3, 16, 16])],
                       [helper.make_tensor_value_info("probs", F, [2, 10])], w, 13)
    return model, {"input": np.random.default_rng(101).standard_normal((2, 3, 16, 16)).astype(np.float32)}


def residual_block():
    w = Weights(2)
    c = 8
    nodes = [
        helper.make_node("Conv", ["x", w.add("conv_a.w", (c, c, 3, 3))], ["a"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["a", *w.bn("bn_a", c)], ["a_bn"]),
        helper.make_node("Relu", ["a_bn"], ["a_r"]),
        helper.make_node("Conv", ["a_r", w.add("conv_b.w", (c, c, 3, 3))], ["b"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["b", *w.bn("bn_b", c)], ["b_bn"]),
        helper.make_node("Add", ["b_bn", "x"], ["sum"]),
        helper.make_node("Relu", ["sum"], ["y"]),
    ]
    model = make_model("residual_block", nodes,
                       [helper.make_tensor_value_info("x", F, [1, c, 12, 12])],
                       [helper.make_tensor_value_info("y", F, [1, c, 12, 12])], w, 15)
    return model, {"x": np.random.default_rng(102).standard_normal((1, c, 12, 12)).astype(np.float32)}


def mlp_dynamic_batch():
    w = Weights(3)
    nodes = [
        helper.make_node("Gemm", ["features", w.add("fc1.w", (32, 64)), w.add("fc1.b", (64,), 0.1)], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h1r"]),
        helper.make_node("MatMul", ["h1r", w.add("fc2.w", (64, 32))], ["h2"]),
        helper.make_node("Add", ["h2", w.add("fc2.b", (32,), 0.1)], ["h2b"]),
        helper.make_node("Tanh", ["h2b"], ["h2t"]),
        helper.make_node("MatMul", ["h2t", w.add("fc3.w", (32, 4))], ["h3"]),
        helper.make_node("Sigmoid", ["h3"], ["scores"]),
    ]
    model = make_model("mlp_dynamic_batch", nodes,
                       [helper.make_tensor_value_info("features", F, ["batch", 32])],
                       [helper.make_tensor_value_info("scores", F, ["batch", 4])], w, 13)
    # The stored inputs use batch 5; the model itself keeps the batch dim symbolic.
    return model, {"features": np.random.default_rng(103).standard_normal((5, 32)).astype(np.float32)}


def shape_subgraph():
    """Constant nodes plus a shape computation: y = Reshape(x, concat(shape(x)[0], [-1])) @ W.

    The reshape target is computed at run time from the input's shape (the pattern
    exported by PyTorch for `x.view(x.size(0), -1)`), so a builder must fold the
    Shape→Gather→Unsqueeze→Concat chain to constants for the fixed input shape."""
    w = Weights(4)
    nodes = [
        helper.make_node("Shape", ["x"], ["x_shape"]),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, dtype=np.int64), "zero_v")),
        helper.make_node("Gather", ["x_shape", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"]),
        helper.make_node("Constant", [], ["minus_one"], value=numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus_one_v")),
        helper.make_node("Concat", ["n1", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Constant", [], ["scale"], value=numpy_helper.from_array(np.array(0.5, dtype=np.float32), "scale_v")),
        helper.make_node("Mul", ["flat", "scale"], ["scaled"]),
        helper.make_node("MatMul", ["scaled", w.add("proj.w", (4 * 6 * 6, 8))], ["y"]),
    ]
    w.add_array("axes0", np.array([0], dtype=np.int64))
    model = make_model("shape_subgraph", nodes,
                       [helper.make_tensor_value_info("x", F, [3, 4, 6, 6])],
                       [helper.make_tensor_value_info("y", F, [3, 8])], w, 13)
    return model, {"x": np.random.default_rng(104).standard_normal((3, 4, 6, 6)).astype(np.float32)}


def external_data():
    """Weights live in `external_data.weights` next to the model (ONNX external data)."""
    w = Weights(5)
    nodes = [
        helper.make_node("Conv", ["x", w.add("conv.w", (6, 3, 3, 3)), w.add("conv.b", (6,), 0.1)], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["c"], ["l"], alpha=0.1),
        helper.make_node("GlobalAveragePool", ["l"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", w.add("fc.w", (6, 5)), w.add("fc.b", (5,), 0.1)], ["y"]),
    ]
    model = make_model("external_data", nodes,
                       [helper.make_tensor_value_info("x", F, [1, 3, 10, 10])],
                       [helper.make_tensor_value_info("y", F, [1, 5])], w, 13)
    return model, {"x": np.random.default_rng(105).standard_normal((1, 3, 10, 10)).astype(np.float32)}


def decoder():
    """Transposed-convolution / upsampling decoder (segmentation-head style)."""
    w = Weights(6)
    nodes = [
        helper.make_node("ConvTranspose", ["z", w.add("up1.w", (8, 6, 4, 4)), w.add("up1.b", (6,), 0.1)], ["u1"],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["u1"], ["u1r"]),
        helper.make_node("Resize", ["u1r", "", "resize_scales"], ["u2"], mode="nearest"),
        helper.make_node("Conv", ["u2", w.add("conv.w", (4, 6, 3, 3)), w.add("conv.b", (4,), 0.1)], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Resize", ["c", "", "resize_scales"], ["u3"], mode="linear", coordinate_transformation_mode="half_pixel"),
        helper.make_node("ConvTranspose", ["u3", w.add("out.w", (4, 2, 3, 3))], ["y_pre"], strides=[1, 1], pads=[1, 1, 1, 1], group=2),
        helper.make_node("Sigmoid", ["y_pre"], ["y"]),
    ]
    w.add_array("resize_scales", np.array([1.0, 1.0, 2.0, 2.0], dtype=np.float32))
    model = make_model("decoder", nodes,
                       [helper.make_tensor_value_info("z", F, [1, 8, 4, 4])],
                       [helper.make_tensor_value_info("y", F, [1, 4, 32, 32])], w, 13)
    return model, {"z": np.random.default_rng(106).standard_normal((1, 8, 4, 4)).astype(np.float32)}


def transformer_block():
    """Pre-LN single-head self-attention + GELU MLP, the shape of a ViT/BERT encoder layer."""
    w = Weights(7)
    s, d, h = 6, 16, 32
    nodes = [
        helper.make_node("LayerNormalization", ["x", w.add_array("ln1.g", (1 + 0.1 * w.rng.standard_normal(d)).astype(np.float32)),
                                                 w.add("ln1.b", (d,), 0.1)], ["n1"], axis=-1, epsilon=1e-5),
        helper.make_node("MatMul", ["n1", w.add("wq", (d, d))], ["q"]),
        helper.make_node("MatMul", ["n1", w.add("wk", (d, d))], ["k"]),
        helper.make_node("MatMul", ["n1", w.add("wv", (d, d))], ["v"]),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["scores"]),
        helper.make_node("Div", ["scores", "sqrt_d"], ["scores_s"]),
        helper.make_node("Softmax", ["scores_s"], ["attn"], axis=-1),
        helper.make_node("MatMul", ["attn", "v"], ["ctx"]),
        helper.make_node("MatMul", ["ctx", w.add("wo", (d, d))], ["o"]),
        helper.make_node("Add", ["x", "o"], ["r1"]),
        helper.make_node("LayerNormalization", ["r1", w.add_array("ln2.g", (1 + 0.1 * w.rng.standard_normal(d)).astype(np.float32)),
                                                  w.add("ln2.b", (d,), 0.1)], ["n2"], axis=-1, epsilon=1e-5),
        helper.make_node("MatMul", ["n2", w.add("w1", (d, h))], ["m1"]),
        helper.make_node("Add", ["m1", w.add("b1", (h,), 0.1)], ["m1b"]),
        helper.make_node("Gelu", ["m1b"], ["g"]),
        helper.make_node("MatMul", ["g", w.add("w2", (h, d))], ["m2"]),
        helper.make_node("Add", ["m2", w.add("b2", (d,), 0.1)], ["m2b"]),
        helper.make_node("Add", ["r1", "m2b"], ["y"]),
    ]
    w.add_array("sqrt_d", np.array(np.sqrt(d), dtype=np.float32))
    model = make_model("transformer_block", nodes,
                       [helper.make_tensor_value_info("x", F, [2, s, d])],
                       [helper.make_tensor_value_info("y", F, [2, s, d])], w, 20)
    return model, {"x": np.random.default_rng(107).standard_normal((2, s, d)).astype(np.float32)}


MODELS = [small_cnn, residual_block, mlp_dynamic_batch, shape_subgraph, external_data, decoder, transformer_block]


def write_model(name: str, model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict:
    path = os.path.join(OUT, f"{name}.onnx")
    data_dir = os.path.join(OUT, name)
    shutil.rmtree(data_dir, ignore_errors=True)
    os.makedirs(data_dir)
    if name == "external_data":
        location = f"{name}.weights"
        loc_path = os.path.join(OUT, location)
        if os.path.exists(loc_path):
            os.remove(loc_path)  # onnx appends to an existing file
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=location, size_threshold=0, convert_attribute=False)
    else:
        onnx.save_model(model, path)

    # Run the saved file (external data included) so the oracle sees exactly what Kiln reads.
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    input_names = [i.name for i in sess.get_inputs()]
    outputs = sess.run(None, feeds)
    for k, iname in enumerate(input_names):
        with open(os.path.join(data_dir, f"input_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(feeds[iname], iname).SerializeToString())
    out_names = [o.name for o in sess.get_outputs()]
    for k, (oname, value) in enumerate(zip(out_names, outputs)):
        with open(os.path.join(data_dir, f"output_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(value), oname).SerializeToString())
    return {
        "name": name,
        "file": f"{name}.onnx",
        "opset": model.opset_import[0].version,
        "ops": sorted({n.op_type for n in model.graph.node}),
        "inputs": {n: list(feeds[n].shape) for n in input_names},
        "outputs": {n: list(np.asarray(v).shape) for n, v in zip(out_names, outputs)},
    }


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    entries = []
    for fn in MODELS:
        model, feeds = fn()
        entries.append(write_model(fn.__name__, model, feeds))
        print(f"wrote test-models/{fn.__name__}.onnx", file=sys.stderr)
    manifest = {
        "generator": "scripts/gen-test-models.py",
        "oracle": {"onnxruntime": ort.__version__, "onnx": onnx.__version__, "numpy": np.__version__},
        "models": entries,
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
