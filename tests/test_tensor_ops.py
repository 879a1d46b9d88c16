"""Every tensor-op block, every example: the generated code's output equals torch's own call on the same real
tensors, and its shape and dtype equal what validation inferred (from torch on meta tensors)."""

from __future__ import annotations

import math
import operator

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import codegen  # noqa: F401  (the shape oracle)
from builder.catalog import Category, all_blocks
from builder.graph import Edge, Graph, Node
from builder.summary import summarize
from builder.validate import validate
from codegen.loader import build_model
from codegen.source import generate_model

_OPS = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le, "==": operator.eq,
        "!=": operator.ne, "*": operator.mul, "/": operator.truediv, "+": operator.add, "-": operator.sub,
        "**": operator.pow}


def _dims(p):
    return tuple(p["dim"])


def _reduce(name):
    return lambda p, t: getattr(torch, name)(t["x"], dim=_dims(p), keepdim=p["keepdim"])


def _interpolate(p, t):
    linear = p["mode"] in ("linear", "bilinear", "bicubic", "trilinear")
    return F.interpolate(t["x"], size=tuple(p["size"]) if p["size"] else None,
                         scale_factor=None if p["size"] else p["scale_factor"], mode=p["mode"],
                         align_corners=p["align_corners"] if linear else None)


REFERENCE = {
    "add": lambda p, t: t["x"] + t["y"], "sub": lambda p, t: t["x"] - t["y"],
    "mul": lambda p, t: t["x"] * t["y"], "div": lambda p, t: t["x"] / t["y"],
    "pow": lambda p, t: torch.pow(t["x"], t["y"]), "maximum": lambda p, t: torch.maximum(t["x"], t["y"]),
    "minimum": lambda p, t: torch.minimum(t["x"], t["y"]),
    "where": lambda p, t: torch.where(_OPS[p["compare"]](t["cond"], p["value"]), t["x"], t["y"]),
    "masked_fill": lambda p, t: t["x"].masked_fill(_OPS[p["compare"]](t["mask"], p["value"]),
                                                   {"-inf": -math.inf, "inf": math.inf}.get(p["fill"], p["fill_value"])),
    "scalar": lambda p, t: (_OPS[p["operator"]](p["value"], t["x"]) if p["value_first"]
                            else _OPS[p["operator"]](t["x"], p["value"])),
    **{name: (lambda p, t, n=name: getattr(torch, n)(t["x"]))
       for name in ("exp", "log", "sqrt", "rsqrt", "abs", "sin", "cos", "neg")},
    "clamp": lambda p, t: torch.clamp(t["x"], p["min"], p["max"]),
    "matmul": lambda p, t: torch.matmul(t["x"], t["y"]), "bmm": lambda p, t: torch.bmm(t["x"], t["y"]),
    "einsum": lambda p, t: torch.einsum(p["equation"], *[t[k] for k in ("x", "y") if k in t]),
    **{name: _reduce(name) for name in ("sum", "mean", "amax", "amin", "logsumexp")},
    "var": lambda p, t: torch.var(t["x"], dim=_dims(p), correction=p["correction"], keepdim=p["keepdim"]),
    "std": lambda p, t: torch.std(t["x"], dim=_dims(p), correction=p["correction"], keepdim=p["keepdim"]),
    "norm": lambda p, t: torch.linalg.vector_norm(t["x"], ord=p["p"], dim=_dims(p), keepdim=p["keepdim"]),
    "softmax": lambda p, t: torch.softmax(t["x"], p["dim"]),
    "log_softmax": lambda p, t: torch.log_softmax(t["x"], p["dim"]),
    "view": lambda p, t: t["x"].reshape((t["x"].shape[0], *p["shape"]) if p["keep_batch"] else p["shape"]),
    "reshape": lambda p, t: t["x"].reshape((t["x"].shape[0], *p["shape"]) if p["keep_batch"] else p["shape"]),
    "flatten": lambda p, t: torch.flatten(t["x"], p["start_dim"], p["end_dim"]),
    "transpose": lambda p, t: torch.transpose(t["x"], p["dim0"], p["dim1"]),
    "permute": lambda p, t: torch.permute(t["x"], p["dims"]),
    "squeeze": lambda p, t: torch.squeeze(t["x"], p["dim"]),
    "unsqueeze": lambda p, t: torch.unsqueeze(t["x"], p["dim"]),
    "expand": lambda p, t: (t["x"].expand(t["like"].shape[0], *p["sizes"]) if "like" in t
                            else t["x"].expand(*p["sizes"])),
    "repeat": lambda p, t: t["x"].repeat(*p["repeats"]),
    "contiguous": lambda p, t: t["x"],
    "index": lambda p, t: eval(f"x[{p['index']}]", {}, {"x": t["x"]}),  # noqa: S307  (the examples' own text)
    "narrow": lambda p, t: torch.narrow(t["x"], p["dim"], p["start"], p["length"]),
    "select": lambda p, t: torch.select(t["x"], p["dim"], p["index"]),
    "gather": lambda p, t: torch.gather(t["x"], p["dim"], t["index"]),
    "cat": lambda p, t: torch.cat(t["inputs"], dim=p["dim"]),
    "stack": lambda p, t: torch.stack(t["inputs"], dim=p["dim"]),
    "arange": lambda p, t: torch.arange(t["x"].shape[p["dim"]]),
    "layer_norm": lambda p, t: F.layer_norm(t["x"], tuple(p["normalized_shape"] or (t["x"].shape[-1],)),
                                            t.get("weight"), t.get("bias"), p["eps"]),
    "linear": lambda p, t: F.linear(t["x"], t["weight"], t.get("bias")),
    "conv2d": lambda p, t: F.conv2d(t["x"], t["weight"], t.get("bias"), p["stride"], p["padding"], p["dilation"],
                                    p["groups"]),
    "interpolate": _interpolate,
    "pad": lambda p, t: F.pad(t["x"], tuple(p["pad"]), mode=p["mode"],
                              value=p["value"] if p["mode"] == "constant" else None),
    "scaled_dot_product_attention": lambda p, t: F.scaled_dot_product_attention(
        t["q"], t["k"], t["v"], is_causal=p["is_causal"], scale=p["scale"]),
}
RANDOM = {"randn_like": torch.randn_like, "rand_like": torch.rand_like}

OPS = [b for b in all_blocks() if b.category is Category.TENSOR_OPS and b.outputs is None]  # pieces: _multi.py
CASES = [(b, k, ex) for b in OPS for k, ex in enumerate(b.examples)]


def test_every_op_has_a_reference_and_several_argument_sets():
    assert {b.type for b in OPS} == set(REFERENCE) | set(RANDOM)
    assert all(len(b.examples) >= 2 for b in OPS), [b.type for b in OPS if len(b.examples) < 2]


def op_graph(block, example) -> Graph:
    """Batched inputs as Input nodes, tensors without a batch (weights) as Parameter nodes."""
    nodes, edges = [], []
    for name, spec in _members(example):
        if spec.batched:
            nodes.append(Node(name, "Input", {"shape": list(spec.shape), "dtype": spec.dtype}))
        else:
            nodes.append(Node(name, "Parameter", {"shape": list(spec.shape), "init": "normal", "std": 1.0}))
        edges.append(Edge(name, "op", str(int(name[1:]) + 1) if name[:1] == "m" and name[1:].isdigit() else name))
    nodes.append(Node("op", block.type, dict(example.params)))
    return Graph(name=f"op_{block.type}", nodes=tuple(nodes), edges=tuple(edges))


def _members(example):
    """(node id, spec) per input; a variadic port's members are m0, m1, ..."""
    for port, spec in example.inputs.items():
        if isinstance(spec, list):
            yield from ((f"m{k}", s) for k, s in enumerate(spec))
        else:
            yield port, spec


def _tensor(spec, batch: int, generator: torch.Generator) -> torch.Tensor:
    shape = (batch, *spec.shape)
    if spec.dtype == "long":
        return torch.randint(0, 2, shape, generator=generator)
    return torch.rand(shape, generator=generator) + 0.5  # positive: log, sqrt and pow are defined


@pytest.mark.parametrize("block,k,example", CASES, ids=[f"{b.type}-{k}" for b, k, _ in CASES])
def test_generated_code_equals_torch(block, k, example):
    graph = op_graph(block, example)
    result = validate(graph)
    assert result.valid, [i.message for i in result.issues]
    info = result.nodes["op"]
    model = build_model(generate_model(graph, result), seed=0)
    generator = torch.Generator().manual_seed(k)
    tensors = {name: _tensor(spec, 3, generator) for name, spec in _members(example) if spec.batched}
    args = [tensors[n.id] for n in graph.inputs()]
    weights = dict(model.named_parameters())
    tensors.update({name: weights[name].detach() for name, spec in _members(example) if not spec.batched})
    if "inputs" in example.inputs:
        tensors["inputs"] = [tensors[f"m{k}"] for k in range(len(example.inputs["inputs"]))]
    params = {**block.defaults(), **example.params}
    # The math kernel of attention: CPU's fused one is not seen by the counter (see test_summary).
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        torch.manual_seed(7)
        with counter:
            out = model(*args)
        torch.manual_seed(7)
        expected = (RANDOM[block.type](tensors["x"]) if block.type in RANDOM
                    else REFERENCE[block.type](params, tensors))
    shape = (3, *info.output.shape) if info.output.batched else info.output.shape
    assert tuple(out.shape) == shape
    assert out.dtype == {"float": torch.float32, "long": torch.long, "bool": torch.bool}[info.output.dtype]
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    # MACs are per sample (a batch of 3 here) and torch counts one as two FLOPs.
    assert info.macs * 2 * 3 == counter.get_total_flops()
    assert info.macs == 0 or block.type in PRODUCTS


# The ops whose products torch's counter counts (not a matrix-vector product, x @ v with a 1-D v).
PRODUCTS = {"matmul", "bmm", "einsum", "linear", "conv2d", "scaled_dot_product_attention"}


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_products_count_their_multiply_accumulates(name):
    block = next(b for b in OPS if b.type == name)
    graph = op_graph(block, block.examples[0])
    macs = validate(graph).nodes["op"].macs
    assert macs > 0
    assert summarize(graph).total_macs == macs  # the summary shows it (the Inputs and Parameters count none)


def test_the_canvas_face_is_the_expression():
    from ui.design.canvas_view import key_params

    graph = Graph("faces", (
        Node("x", "Input", {"shape": [4, 8]}), Node("s", "Parameter", {"shape": [8]}),
        Node("gate", "mul"), Node("pool", "sum", {"dim": [1]}), Node("half", "scalar", {"value": 0.5}),
        Node("first", "index", {"index": ":, 0"}), Node("probs", "softmax"),
        Node("cls", "expand", {"sizes": [-1, -1]}),
    ), (Edge("x", "gate", "x"), Edge("s", "gate", "y"), Edge("gate", "pool"), Edge("x", "half"), Edge("x", "first"),
        Edge("x", "probs"), Edge("s", "cls", "x"), Edge("x", "cls", "like")))
    result = validate(graph)
    faces = {n: key_params(graph.node(n), result.nodes[n]) for n in ("gate", "pool", "half", "first", "probs", "cls")}
    assert faces == {"gate": "x * y", "pool": "sum(dim=1)", "half": "x * 0.5", "first": "[:, 0]",
                     "probs": "softmax(x, dim=-1)", "cls": "expand(like.size(0), -1, -1)"}  # whole: the face grows
