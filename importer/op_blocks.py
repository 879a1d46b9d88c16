"""Traced torch calls → tensor-op blocks, read back through the blocks' own descriptions.

Each op block says once which torch call it makes (``OpDef.call`` → ``OpCall``: ``x * y``, ``x.sum(dim=...)``,
``F.layer_norm(x, ...)``). Calling it with its defaults names the torch function, method or operator it stands for,
so one index maps a traced call's name to its candidate blocks (``mul`` → mul, scalar). The traced call's arguments
are named by torch's own signature (``torch.fx``'s ``normalize_function``) and bound to the block's parameters of
the same name and to its ports, in order. A binding is kept only when the block's call, run on the values the trace
recorded, gives the recorded result: the check, not the binding, is what makes an import right.

Where torch's argument and the block's parameter differ in kind, a short adapter says how (``importer.op_adapters``): a view's
sizes come from the recorded result with the batch kept first; an index is written back as text; a constant
operand is the scalar block's value; a class token expanded to the batch reads the batch from the input.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import fx

from builder.catalog.registry import TensorSpec, get_block
from builder.catalog.tensor_ops import OPS, OpDef
from builder.params import Kind
from codegen.meta_shapes import _evaluate
from importer.translate import Context, Static, Tensor

# fx's names for the same operation (operator.iadd is +, torch.div is /); the index derives the rest.
_SAME = {"iadd": "add", "radd": "add", "isub": "sub", "rsub": "sub", "imul": "mul", "rmul": "mul", "div": "truediv",
         "itruediv": "truediv", "rtruediv": "truediv", "divide": "truediv", "multiply": "mul", "subtract": "sub",
         "concat": "cat", "concatenate": "cat", "negative": "neg", "swapaxes": "transpose", "ipow": "pow",
         "rpow": "pow", "true_divide": "truediv", "clip": "clamp"}
_SYMBOLS = {"*": "mul", "+": "add", "-": "sub", "/": "truediv", "**": "pow", "@": "matmul"}


@functools.cache
def op_index() -> dict[str, tuple[str, ...]]:
    """Torch's name of a call → the op blocks that make it, read from each block's OpCall at its defaults (and at
    each choice of a key Choice parameter: the scalar block is ``*``, ``/``, ``+``, ``-`` and ``**``)."""
    table: dict[str, list[str]] = {}
    for op in OPS.values():
        for name in sorted(_names_of(op)):
            table.setdefault(name, []).append(op.type)
    return {name: tuple(types) for name, types in table.items()}


def _names_of(op: OpDef) -> set[str]:
    names = {op.type}
    spec = get_block(op.type)
    base = spec.defaults()
    variants = [base] + [{**base, p.name: c} for p in spec.params if p.kind is Kind.CHOICE and p.key
                         for c in (p.choices or ())]
    for params in variants:
        try:
            call = op.call(params, _dummy_inputs(op))
        except Exception:  # noqa: BLE001 — a block whose defaults make no call (clamp needs a bound)
            continue
        if call.style == "operator":
            names.add(_SYMBOLS.get(call.name, call.name) if len(call.args) == 2 else "neg")
        elif call.style == "index":
            names.add("getitem")
        else:
            names.add(call.name.rpartition(".")[2])
    return names


def _dummy_inputs(op: OpDef) -> dict[str, Any]:
    return {p.name: [TensorSpec((1,))] * 2 if p.variadic else TensorSpec((1,)) for p in op.ports if not p.optional}


def fx_name(node: fx.Node) -> str:
    name = str(node.target) if node.op == "call_method" else getattr(node.target, "__name__", str(node.target))
    name = name.strip("_")
    return _SAME.get(name, name)


# --- one traced call ----------------------------------------------------------------------------------------


class _Operand:
    """One argument of the traced call: its name in torch's signature (or position), what the translation made of
    it, and the value the trace recorded."""

    def __init__(self, name: str, value: Any, real: Any) -> None:
        self.name, self.value, self.real = name, value, real

    @property
    def is_tensor(self) -> bool:
        """A design tensor, or a model tensor (a Parameter even of one element; a constant of several)."""
        value = self.value
        if isinstance(value, Tensor):
            return True
        if not isinstance(value, Static) or not isinstance(value.value, torch.Tensor):
            return False
        return value.value.numel() > 1 or (value.node is not None and value.node.op == "get_attr")

    @property
    def is_tensor_list(self) -> bool:
        return isinstance(self.value, (list, tuple)) and len(self.value) > 0 and \
            all(isinstance(v, (Tensor, Static)) for v in self.value)


def map_call(ctx: Context, node: fx.Node, args: tuple, kwargs: dict) -> Any:
    """The value of ``node`` made by an op block, or None when no block's call reproduces what was recorded."""
    recorded = ctx.traced.values.get(node)
    if not isinstance(recorded, torch.Tensor) and not _is_tensor_tuple(recorded):
        return None
    if node.op == "call_function" and str(getattr(node.target, "__module__", "")).startswith("einops"):
        from importer.einops_calls import einops_call

        return einops_call(ctx, node, args, kwargs)
    operands = _operands(ctx, node, args, kwargs)
    if operands is None:
        return None
    for block in op_index().get(fx_name(node), ()):
        found = _try_block(ctx, node, OPS[block], operands, recorded)
        if found is not None:
            return found
    return None


def _is_tensor_tuple(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and len(value) > 0 and all(isinstance(v, torch.Tensor) for v in value)


def _real(ctx: Context, value: Any) -> Any:
    return fx.node.map_aggregate(value, lambda v: ctx.traced.values.get(v) if isinstance(v, fx.Node) else v)


def _operands(ctx: Context, node: fx.Node, args: tuple, kwargs: dict) -> list[_Operand] | None:
    """The call's arguments named as torch's signature names them (input, other, dim, keepdim...), or by position
    (arg0, arg1...) where torch has no signature to read (Tensor methods such as view, operators)."""
    real_args, real_kwargs = _real(ctx, node.args), _real(ctx, node.kwargs)
    target = node.target if node.op == "call_function" else getattr(torch, str(node.target), None)
    named = _normalized(target, real_args, real_kwargs) if target is not None else None
    if named is None:
        ops = [_Operand(f"arg{k}", a, r) for k, (a, r) in enumerate(zip(args, real_args))]
        return ops + [_Operand(k, kwargs[k], real_kwargs[k]) for k in kwargs]
    by_id = {id(r): a for a, r in zip((*args, *kwargs.values()), (*real_args, *real_kwargs.values()))}
    by_name = dict(zip(kwargs, kwargs.values()))
    out = []
    for name, real in named.items():
        value = by_name.get(name, by_id.get(id(real), real))
        if isinstance(real, (int, float, bool)) and not isinstance(value, (Tensor, Static)):
            value = real  # a small int is one object wherever it appears: bind by value
        out.append(_Operand(name, value, real))
    return out


def _normalized(target: Any, args: tuple, kwargs: dict) -> dict[str, Any] | None:
    from torch.fx.operator_schemas import normalize_function

    try:
        found = normalize_function(target, tuple(args), dict(kwargs), arg_types=tuple(type(a) for a in args),
                                   kwarg_types={k: type(v) for k, v in kwargs.items()},
                                   normalize_to_only_use_kwargs=True)
    except Exception:  # noqa: BLE001 — no schema (operator.mul), or no overload fits these types
        return None
    return dict(found.kwargs) if found is not None else None


def _try_block(ctx: Context, node: fx.Node, op: OpDef, operands: list[_Operand], recorded: Any) -> Any:
    spec = get_block(op.type)
    bound = _bind(op, spec, operands)
    if bound is None:
        return None
    from importer.op_adapters import adapter_for

    adapted = adapter_for(op.type)(ctx, *bound, operands, recorded)
    if adapted is None:
        return None
    params, ports = adapted
    flat = _flat_ports(ports)
    if not flat or not all(isinstance(v, (Tensor, Static)) for v in flat.values()):
        return None
    try:
        resolved = {**spec.defaults(), **{k: spec.param(k).check(v) for k, v in params.items()}}
        call = op.call(resolved, {name: _spec(v) for name, v in ports.items()})
        got = _evaluate(call, {key: real_of(ctx, v) if isinstance(v, Tensor) else v.value for key, v in flat.items()})
    except Exception:  # noqa: BLE001 — this block can't make this call: try the next, else Unsupported
        return None
    if not (_same(got, recorded) or (_random(op) and _same_kind(got, recorded))):
        return None  # a noise draw can't repeat the trace's values: its shape and dtype must (verify reseeds)
    mark = (len(ctx.nodes), len(ctx.edges))
    tensors = {key: _as_tensor(ctx, v) for key, v in flat.items()}
    if any(t is None for t in tensors.values()):
        _roll_back(ctx, mark)
        return None
    inputs = [(t, _port_name(op, key)) for key, t in tensors.items()]
    node_id = ctx.add(node.name, op.type, {k: resolved[k] for k in params}, inputs)
    batched = any(t.batched for t in tensors.values()) and op.type != "arange"
    if not batched:
        ctx.unbatched.add(node_id)
    if isinstance(recorded, torch.Tensor):
        return Tensor(node_id, tuple(recorded.shape), recorded.dtype, batched=batched)
    return tuple(Tensor(node_id, tuple(v.shape), v.dtype, source_port=str(k), batched=batched)
                 for k, v in enumerate(recorded))


def _roll_back(ctx: Context, mark: tuple[int, int]) -> None:
    """Take back the Parameter nodes made for a call that then could not be made after all."""
    removed = {n.id for n in ctx.nodes[mark[0]:]}
    del ctx.nodes[mark[0]:]
    del ctx.edges[mark[1]:]
    ctx.ids.difference_update(removed)
    made = ctx.memo.get("materialized", {})
    for key in [k for k, v in made.items() if v is not None and v.node in removed]:
        del made[key]


def _port_name(op: OpDef, key: str) -> str | None:
    """The edge's port: a variadic member k is port "k+1" (the edge order), a single-port op needs none."""
    if "[" in key:
        return str(int(key[key.index("[") + 1:-1]) + 1)
    return None if len(op.ports) == 1 else key


def _flat_ports(tensors: dict[str, Any]) -> dict[str, Tensor]:
    flat: dict[str, Tensor] = {}
    for name, value in tensors.items():
        if isinstance(value, list):
            flat.update({f"{name}[{k}]": v for k, v in enumerate(value)})
        else:
            flat[name] = value
    return flat


def real_of(ctx: Context, value: Tensor) -> torch.Tensor:
    """What the trace recorded for a design tensor (read from the trace node it came from)."""
    reals = ctx.memo.setdefault("reals", {})
    key = (value.node, value.source_port)
    if key not in reals:
        for fx_node, made in ctx.env.items():
            for part in made if isinstance(made, tuple) else (made,):
                if isinstance(part, Tensor):
                    recorded = ctx.traced.values.get(fx_node)
                    if isinstance(made, tuple) and isinstance(recorded, (tuple, list)):
                        recorded = recorded[made.index(part)]
                    reals.setdefault((part.node, part.source_port), recorded)
    return reals[key]


def _spec(value: Any) -> Any:
    """The block's view of an input: a computed tensor without its batch, a model tensor (Static) whole."""
    if isinstance(value, list):
        return [_spec(v) for v in value]
    if isinstance(value, Static):
        real, batched = value.value, False
        shape = tuple(real.shape)
        dtype_of = real.dtype
    else:
        batched, dtype_of = value.batched, value.dtype
        shape = value.shape[1:] if value.batched else value.shape
    dtype = "float" if dtype_of.is_floating_point else ("bool" if dtype_of == torch.bool else "long")
    return TensorSpec(tuple(shape), dtype, batched=batched)


def _random(op: OpDef) -> bool:
    return "random" in op.aliases  # the noise ops (randn_like, rand_like) say so in their description


def _same_kind(got: Any, recorded: Any) -> bool:
    return isinstance(got, torch.Tensor) and isinstance(recorded, torch.Tensor) and got.shape == recorded.shape and \
        got.dtype == recorded.dtype


def _same(got: Any, recorded: Any) -> bool:
    if isinstance(recorded, torch.Tensor):
        return isinstance(got, torch.Tensor) and got.shape == recorded.shape and got.dtype == recorded.dtype and \
            torch.allclose(got, recorded, rtol=1e-5, atol=1e-6, equal_nan=True)
    return isinstance(got, (tuple, list)) and len(got) == len(recorded) and all(map(_same, got, recorded))


# --- binding: torch's argument names onto the block's parameters and ports ----------------------------------


def _bind(op: OpDef, spec: Any, operands: list[_Operand]) -> tuple[dict, dict] | None:
    names = {p.name for p in spec.params}
    ports: dict[str, Any] = {}
    params: dict[str, Any] = {}
    free_ports = [p for p in op.ports]
    rest: list[_Operand] = []
    tensor_ops = [o for o in operands if o.is_tensor or o.is_tensor_list]
    for operand in tensor_ops:  # by name first (weight, bias, index), then in order
        port = next((p for p in free_ports if p.name == operand.name), None)
        if port is not None:
            ports[port.name] = list(operand.value) if port.variadic else operand.value
            free_ports.remove(port)
    for operand in tensor_ops:
        if any(v is operand.value for v in ports.values()) or \
                any(isinstance(v, list) and v == list(operand.value) for v in ports.values()):
            continue
        port = next((p for p in free_ports if p.variadic == operand.is_tensor_list), None)
        if port is None:
            rest.append(operand)
            continue
        ports[port.name] = list(operand.value) if port.variadic else operand.value
        free_ports.remove(port)
    from importer.op_adapters import ADAPTERS

    if any(not p.optional for p in free_ports) and op.type not in ADAPTERS:
        return None  # a required port left empty: only an adapter may fill it (expand's like)
    extra: list[Any] = []
    for operand in operands:
        if operand.is_tensor or operand.is_tensor_list:
            continue
        value = _plain(operand.value)
        if operand.name in names:
            params[operand.name] = _coerce(spec.param(operand.name), value)
        else:
            extra.append((operand.name, value))
    params["__extra__"] = extra + [(o.name, o.value) for o in rest]
    return params, ports


def _plain(value: Any) -> Any:
    value = fx.node.map_aggregate(value, lambda v: v.value if isinstance(v, Static) else v)
    if isinstance(value, torch.Size):
        return list(value)
    return value


def _coerce(param: Any, value: Any) -> Any:
    if param.kind is Kind.INTS:
        return [int(v) for v in value] if isinstance(value, (list, tuple)) else ([int(value)] if value is not None
                                                                             else None)
    if param.kind is Kind.FLOAT and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def _as_tensor(ctx: Context, value: Any) -> Any:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, Static):
        from importer.tensor_nodes import materialize

        made = materialize(ctx, value)
        if made is not None:
            ctx.memo.setdefault("reals", {})[(made.node, made.source_port)] = value.value
        return made
    return None
