"""Bilinear (two inputs), EmbeddingBag (a bag of tokens to one vector) and Unflatten."""

from __future__ import annotations

from builder.catalog.registry import (
    BlockError,
    BlockSpec,
    Call,
    Category,
    Emission,
    Example,
    Fix,
    Inputs,
    Port,
    Resolved,
    TensorSpec,
    register,
)
from builder.catalog.rules import module_emission, prod, resolve, single
from builder.params import Bool, Choice, Int, Ints

F = TensorSpec
MAX = 10_000_000


def _bilinear_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x1, x2 = inputs["x1"], inputs["x2"]
    for port, spec in (("x1", x1), ("x2", x2)):
        if spec.dtype != "float":
            raise BlockError(f"Bilinear needs float values on {port} but receives token ids {{from}}", port=port)
    if x1.shape[:-1] != x2.shape[:-1]:
        raise BlockError(f"Bilinear needs x1 {x1} and x2 {x2} to agree in every dimension but the last", port="x2")
    resolve(p, "in1_features", x1.shape[-1], "features in x1's last dimension")
    resolve(p, "in2_features", x2.shape[-1], "features in x2's last dimension")
    return TensorSpec((*x1.shape[:-1], p["out_features"]))


register(BlockSpec(
    type="Bilinear",
    category=Category.DENSE,
    doc="y = x1ᵀ·A·x2 + b: every output mixes each pair of features from two inputs.",
    params=(
        Int("out_features", 16, "Number of output features", lo=1, hi=MAX, key=True),
        Bool("bias", True, "Add a learnable bias"),
        Int("in1_features", None, "Inferred from x1's last dimension", lo=1, hi=MAX, inferred=True),
        Int("in2_features", None, "Inferred from x2's last dimension", lo=1, hi=MAX, inferred=True),
    ),
    ports=(Port("x1", "the first input (N, *, in1)"), Port("x2", "the second input (N, *, in2)")),
    infer=_bilinear_infer,
    emit=lambda p, i: Emission(Call("nn.Bilinear", (p["in1_features"], p["in2_features"], p["out_features"]),
                                    {} if p["bias"] else {"bias": False}), "{out} = {mod}({x1}, {x2})"),
    count=lambda p, i: p["in1_features"] * p["in2_features"] * p["out_features"] + (p["out_features"] if p["bias"] else 0),
    macs=lambda p, i, o: p["in1_features"] * p["in2_features"] * o.numel,
    examples=(Example({"out_features": 4}, {"x1": F((5,)), "x2": F((3,))}),
              Example({"out_features": 2, "bias": False}, {"x1": F((6, 3)), "x2": F((6, 4))})),
    torch_class="torch.nn.Bilinear",
    aliases=("bilinear", "pairwise"),
))


def _bag_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    if x.dtype != "long" or len(x.shape) != 1:
        raise BlockError(f"EmbeddingBag needs (N, T) token ids but receives {x} {{from}}",
                         fix=Fix("make the Input token ids (long)", "set_input_dtype", {"dtype": "long"})
                         if x.dtype != "long" else None, port="x")
    pad = p.get("padding_idx")
    if pad is not None and pad >= p["num_embeddings"]:
        raise BlockError(f"padding_idx={pad} must be below num_embeddings={p['num_embeddings']}",
                         fix=Fix("use id 0 for padding", "set_param", {"name": "padding_idx", "value": 0}))
    return TensorSpec((p["embedding_dim"],))


register(BlockSpec(
    type="EmbeddingBag",
    category=Category.SEQUENCE,
    doc="Looks up each token's vector and combines a whole sequence into one: (N, T) ids → (N, embedding_dim).",
    params=(
        Int("num_embeddings", 1000, "Vocabulary size: token ids run from 0 to this minus 1", lo=1, hi=MAX, key=True),
        Int("embedding_dim", 32, "Length of each vector", lo=1, hi=100_000, key=True),
        Choice("mode", "mean", ("mean", "sum", "max"), "How the token vectors are combined", key=True),
        Int("padding_idx", None, "Token id left out of the combination", lo=0, hi=MAX, optional=True),
    ),
    infer=_bag_infer,
    emit=lambda p, i: module_emission("nn.EmbeddingBag", (p["num_embeddings"], p["embedding_dim"]),
                                      {k: v for k, v in (("mode", p["mode"]), ("padding_idx", p.get("padding_idx")))
                                       if v is not None and not (k == "mode" and v == "mean")}),
    count=lambda p, i: p["num_embeddings"] * p["embedding_dim"],
    examples=(Example({"num_embeddings": 30, "embedding_dim": 6}, {"x": F((9,), "long")}),
              Example({"num_embeddings": 20, "embedding_dim": 4, "mode": "max", "padding_idx": 0}, {"x": F((5,), "long")})),
    torch_class="torch.nn.EmbeddingBag",
    aliases=("bag of words", "fasttext"),
))


def _unflatten_infer(p: Resolved, inputs: Inputs) -> TensorSpec:
    x = single(inputs)
    dim = p["dim"]
    if not -x.rank < dim < x.rank or dim == 0:
        raise BlockError(f"Unflatten dim={dim} must pick a non-batch dimension of {x} {{from}}",
                         fix=Fix("unflatten dimension 1", "set_param", {"name": "dim", "value": 1}))
    axis = dim % x.rank - 1
    sizes = list(p["sizes"])
    if sizes.count(-1) > 1 or any(s == 0 or s < -1 for s in sizes):
        raise BlockError(f"Unflatten sizes {sizes} must be positive (at most one -1)")
    known = prod([s for s in sizes if s != -1])
    if -1 in sizes and x.shape[axis] % known == 0:
        sizes[sizes.index(-1)] = x.shape[axis] // known
    if prod(sizes) != x.shape[axis]:
        raise BlockError(f"Unflatten cannot split the {x.shape[axis]} entries of dim {dim} into {p['sizes']} {{from}}")
    return TensorSpec((*x.shape[:axis], *sizes, *x.shape[axis + 1:]), x.dtype)


register(BlockSpec(
    type="Unflatten",
    category=Category.INPUT,
    doc="Splits one dimension into several: dim 1 with sizes [1, 28, 28] turns (N, 784) into (N, 1, 28, 28).",
    params=(Int("dim", 1, "The dimension to split (not the batch, 0)", lo=-4, hi=4, key=True),
            Ints("sizes", [1, -1], "The sizes it splits into (-1 once to infer one)", lo=-1, hi=MAX, min_len=1,
                 max_len=4, key=True)),
    infer=_unflatten_infer,
    emit=lambda p, i: module_emission("nn.Unflatten", (p["dim"], tuple(p["sizes"]))),
    examples=(Example({"sizes": [1, 8, 8]}, {"x": F((64,))}), Example({"dim": -1, "sizes": [2, -1]}, {"x": F((3, 6))})),
    torch_class="torch.nn.Unflatten",
    aliases=("reshape", "view"),
))
