"""Shape ops (``view``, ``flatten``, ``transpose``...), indexing (``x[:, 0]``, ``narrow``, ``gather``), positions
(``torch.arange(x.size(1))``) and noise (``torch.randn_like``)."""

from __future__ import annotations

from builder.catalog.index_text import IndexError_, parse_index
from builder.catalog.oracle import DeviceOf, In, InList, OpCall, SizeOf
from builder.catalog.registry import BlockError, Example, Inputs, Port, Resolved
from builder.catalog.tensor_ops import F, OpDef, X, dim_param, function, method, register_op
from builder.params import Bool, Int, Ints, Text


def _sizes(name: str, default: list[int], doc: str, lo: int = -1):
    return Ints(name, default, doc, lo=lo, hi=1_000_000, min_len=0, max_len=6, key=True)


def _view(name: str):
    def call(p: Resolved, inputs: Inputs) -> OpCall:
        shape = tuple(p["shape"])
        if p["keep_batch"]:
            return method(name, SizeOf("x", 0), *shape)
        if not shape:
            raise BlockError(f"{name}: give the whole shape (keep_batch is off)")
        return method(name, *shape)

    return call


for _type, _doc in (("view", "the same values in another shape, without copying (-1: the size that fits)"),
                    ("reshape", "the same values in another shape, copying if it must (-1: the size that fits)")):
    register_op(OpDef(
        _type, _doc, _view(_type),
        (Example({"shape": [-1]}, {"x": F((4, 3))}), Example({"shape": [3, 4]}, {"x": F((12,))}),
         Example({"shape": [-1, 1], "keep_batch": False}, {"x": F((1, 1, 1))})),
        params=(_sizes("shape", [-1], "The new shape after the batch (-1 once: the size that fits)"),
                Bool("keep_batch", True, "Keep the batch dimension first: x.view(x.size(0), ...)")),
        aliases=(f"Tensor.{_type}",),
    ))

register_op(OpDef(
    "flatten", "dimensions start_dim..end_dim merged into one (torch.flatten(x, 1) before a Linear)",
    lambda p, i: function("torch.flatten", X, p["start_dim"], *([p["end_dim"]] if p["end_dim"] != -1 else [])),
    (Example({}, {"x": F((4, 3, 2))}), Example({"start_dim": 2}, {"x": F((4, 3, 2))}),
     Example({"start_dim": 1, "end_dim": 2}, {"x": F((2, 3, 4))})),
    params=(Int("start_dim", 1, "First dimension merged", lo=-8, hi=8, key=True),
            Int("end_dim", -1, "Last dimension merged", lo=-8, hi=8, key=True)),
    dims=("start_dim", "end_dim"), aliases=("torch.flatten",),
))
register_op(OpDef(
    "transpose", "two dimensions swapped: (N, T, C) → (N, C, T)",
    lambda p, i: method("transpose", p["dim0"], p["dim1"]),
    (Example({}, {"x": F((4, 3))}), Example({"dim0": -1, "dim1": -2}, {"x": F((2, 3, 4))})),
    params=(Int("dim0", 1, "One dimension", lo=-8, hi=8, key=True), Int("dim1", 2, "The other", lo=-8, hi=8, key=True)),
    dims=("dim0", "dim1"), aliases=("swap", "Tensor.transpose"),
))
register_op(OpDef(
    "permute", "dimensions reordered; dims lists every dimension, the batch (0) first",
    lambda p, i: method("permute", *p["dims"]),
    (Example({"dims": [0, 2, 1]}, {"x": F((4, 3))}), Example({"dims": [0, 3, 1, 2]}, {"x": F((2, 3, 4))})),
    params=(Ints("dims", [0, 2, 1], "The new order of all dimensions, 0 = the batch", lo=-8, hi=8, min_len=1,
                 max_len=8, key=True),),
    dims=("dims",), aliases=("reorder", "Tensor.permute"),
))
register_op(OpDef(
    "squeeze", "a dimension of size 1 removed", lambda p, i: method("squeeze", p["dim"]),
    (Example({"dim": 1}, {"x": F((1, 3))}), Example({}, {"x": F((3, 1))})),
    params=(dim_param(),), dims=("dim",), aliases=("Tensor.squeeze",),
))
register_op(OpDef(
    "unsqueeze", "a dimension of size 1 added, e.g. (N, C) → (N, C, 1) to broadcast over positions",
    lambda p, i: method("unsqueeze", p["dim"]),
    (Example({}, {"x": F((4, 3))}), Example({"dim": 1}, {"x": F((3,))})),
    params=(Int("dim", -1, "Where the new dimension goes (-1 = at the end)", lo=-9, hi=9, key=True),),
    aliases=("Tensor.unsqueeze", "add dimension", "None"),
))


def _expand(p: Resolved, inputs: Inputs) -> OpCall:
    sizes = tuple(p["sizes"])
    if "like" in inputs:  # the batch of another tensor: cls_token.expand(x.size(0), -1, -1)
        return method("expand", SizeOf("like", 0), *sizes)
    if not sizes:
        raise BlockError("expand: give the sizes (-1 keeps a dimension)")
    return method("expand", *sizes)


register_op(OpDef(
    "expand", "dimensions of size 1 repeated without copying (-1 keeps one); with ‘like’ connected, the first size "
              "is like's batch: a class token for every sample",
    _expand,
    (Example({"sizes": [-1, -1, 4]}, {"x": F((3, 1))}), Example({"sizes": [-1, 5]}, {"x": F((3, 1)), "like": F((7,))})),
    params=(_sizes("sizes", [-1, -1], "The new sizes (-1 keeps a dimension); without ‘like’, the batch's too"),),
    ports=(Port("x", "the tensor to expand"), Port("like", "a tensor whose batch size is taken", optional=True)),
    aliases=("broadcast", "Tensor.expand"),
))
register_op(OpDef(
    "repeat", "the tensor tiled: each dimension repeated the given number of times (the batch's first)",
    lambda p, i: method("repeat", *p["repeats"]),
    (Example({"repeats": [1, 2]}, {"x": F((3,))}), Example({"repeats": [1, 1, 3]}, {"x": F((2, 2))})),
    params=(_sizes("repeats", [1, 2], "Times each dimension is repeated, the batch first", lo=1),),
    aliases=("tile", "Tensor.repeat"),
))
register_op(OpDef("contiguous", "the same tensor laid out in memory in order (after transpose, before view)",
                  lambda p, i: method("contiguous"),
                  (Example({}, {"x": F((4, 3))}), Example({}, {"x": F((2, 3, 4))})), aliases=("Tensor.contiguous",)))

# --- indexing --------------------------------------------------------------------------------------------------


def _index(p: Resolved, inputs: Inputs) -> OpCall:
    try:
        index = parse_index(p["index"])
    except IndexError_ as err:
        raise BlockError(f"index: {err}") from None
    return OpCall("index", "[]", (X, index))


register_op(OpDef(
    "index", "x[...]: positions and slices, as Python writes them: ‘:, 0’ (the class token), ‘:, -1’ (the last "
             "step), ‘..., :8’, ‘:, [-1], :’ (keeps the dimension)",
    _index,
    (Example({"index": ":, 0"}, {"x": F((4, 3))}), Example({"index": ":, -1"}, {"x": F((5, 3))}),
     Example({"index": "..., :2"}, {"x": F((4, 3))}), Example({"index": ":, [-1], :"}, {"x": F((5, 3))}),
     Example({"index": ":, None"}, {"x": F((3,))})),
    params=(Text("index", ":, 0", "The index after x[ ... ], e.g. ‘:, 0’ or ‘..., :8’", max_len=64, key=True),),
    aliases=("slice", "getitem", "[]", "select"),
))
register_op(OpDef(
    "narrow", "length entries of a dimension from start (x.narrow(dim, start, length))",
    lambda p, i: method("narrow", p["dim"], p["start"], p["length"]),
    (Example({"dim": 1, "start": 1, "length": 2}, {"x": F((4, 3))}),
     Example({"dim": -1, "start": -2, "length": 2}, {"x": F((2, 5))})),
    params=(dim_param(1), Int("start", 0, "First entry", lo=-1_000_000, hi=1_000_000, key=True),
            Int("length", 1, "How many entries", lo=0, hi=1_000_000, key=True)),
    dims=("dim",), aliases=("Tensor.narrow", "slice"),
))
register_op(OpDef(
    "select", "one entry of a dimension, which goes away (x.select(dim, index))",
    lambda p, i: method("select", p["dim"], p["index"]),
    (Example({"dim": 1, "index": 0}, {"x": F((4, 3))}), Example({"dim": -1, "index": -1}, {"x": F((2, 3))})),
    params=(dim_param(1), Int("index", 0, "The entry (-1 = the last)", lo=-1_000_000, hi=1_000_000, key=True)),
    dims=("dim",), aliases=("Tensor.select", "pick"),
))
register_op(OpDef(
    "gather", "entries of x picked along a dimension by the token ids in ‘index’ (torch.gather)",
    lambda p, i: function("torch.gather", X, p["dim"], In("index")),
    (Example({"dim": 1}, {"x": F((5,)), "index": F((3,), "long")}),
     Example({"dim": -1}, {"x": F((2, 5)), "index": F((2, 1), "long")})),
    params=(dim_param(1),), ports=(Port("x", "the values"), Port("index", "positions (token ids), x's rank")),
    dims=("dim",), aliases=("torch.gather", "pick"),
))

# --- positions and noise ---------------------------------------------------------------------------------------

register_op(OpDef(
    "arange", "the positions 0, 1, …, n − 1 where n is a size of x (GPT's torch.arange(x.size(1))): a (n,) tensor "
              "of token ids without a batch dimension, for a position Embedding",
    lambda p, i: function("torch.arange", SizeOf("x", p["dim"]), device=DeviceOf("x")),
    (Example({}, {"x": F((7,), "long")}), Example({"dim": 2}, {"x": F((3, 5))})),
    params=(dim_param(1, "The dimension of x whose size counts the positions"),),
    dims=("dim",), aliases=("positions", "torch.arange", "range"),
))
for _type, _doc in (("randn_like", "standard normal noise in x's shape (a VAE's ε); drawn from the run's seeded "
                                   "generator, so runs repeat"),
                    ("rand_like", "uniform noise in [0, 1) in x's shape, from the run's seeded generator")):
    register_op(OpDef(_type, _doc, lambda p, i, t=_type: function(f"torch.{t}", X),
                      (Example({}, {"x": F((4, 3))}), Example({}, {"x": F((2, 3, 3))})),
                      aliases=(f"torch.{_type}", "noise", "random")))

# --- joining ---------------------------------------------------------------------------------------------------

_JOIN = Port("inputs", "two or more tensors; the edge's port (1, 2, …) sets the order", variadic=True)
register_op(OpDef(
    "cat", "tensors joined along an existing dimension (torch.cat)",
    lambda p, i: function("torch.cat", InList("inputs", len(i["inputs"])), dim=p["dim"]),
    (Example({}, {"inputs": [F((4, 3)), F((2, 3))]}),
     Example({"dim": -1}, {"inputs": [F((5, 2)), F((5, 3)), F((5, 1))]}),
     Example({"dim": 2}, {"inputs": [F((2, 3)), F((2, 1))]})),
    params=(dim_param(1, "Dimension to join along (1 = the first after the batch, -1 = the last)"),),
    ports=(_JOIN,), dims=("dim",), aliases=("torch.cat", "concatenate", "join"),
))
register_op(OpDef(
    "stack", "tensors of one shape stacked along a new dimension (torch.stack)",
    lambda p, i: function("torch.stack", InList("inputs", len(i["inputs"])), dim=p["dim"]),
    (Example({}, {"inputs": [F((4, 3)), F((4, 3))]}), Example({"dim": -1}, {"inputs": [F((5,)), F((5,)), F((5,))]})),
    params=(Int("dim", 1, "Where the new dimension goes (1 = right after the batch, -1 = last)", lo=-9, hi=9, key=True),),
    ports=(_JOIN,), aliases=("torch.stack",),
))
