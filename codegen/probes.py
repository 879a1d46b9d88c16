"""What a layer's numbers mean, read from the catalog's own rules by changing one thing at a time.

A block's class is written once for every input it may get, so each constructor argument must be written as what
it *is* — "the channels of the incoming tensor", "this layer's ``out_channels``" — never as whatever other number
happens to be equal to it (a kernel size of 3 is not the input's 3 channels). The catalog declares which of a
layer's settings are read from the incoming tensor (``inferred=True``); which dimension each reads, and which
dimension of the layer's output follows which input or setting, is found here by running the catalog's own shape
rule (``infer``) and ``emit`` with one input dimension or one setting scaled, and seeing what follows it. One
mechanism for every block, so a new catalog entry needs no rule of its own here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builder.catalog.registry import BlockSpec, Call, TensorSpec, main_spec

SCALES = (2, 3)  # two different scalings: a value that follows both is no coincidence
Slot = int | str  # a positional argument's index or a keyword's name


@dataclass(frozen=True)
class Reads:
    """The value is dimension ``dim`` (without the batch) of the tensor entering ``port``."""

    port: str
    dim: int


@dataclass(frozen=True)
class SetBy:
    """The value is ``factor`` times the layer's own setting ``param`` (a Linear's ``out_features``)."""

    param: str
    factor: int = 1


@dataclass(frozen=True)
class SumOf:
    """The value is the sum of dimension ``dim`` over the tensors entering a variadic ``port`` (a Concat's)."""

    port: str
    dim: int


class Unexplained:
    """The value depends on the input, but is no single dimension of it (a Flatten's C·H·W)."""

    def __repr__(self) -> str:
        return "UNEXPLAINED"


UNEXPLAINED = Unexplained()
Origin = Reads | SetBy | SumOf | Unexplained | None  # None: a constant, the same for every input


@dataclass(frozen=True)
class Layer:
    """One layer as validation resolved it: its block, the settings written in the design and the inputs it got."""

    block: BlockSpec
    params: dict[str, Any]  # resolved: defaults filled, inferred sizes filled
    written: frozenset[str]  # the settings the design sets (an inferred size written there is not re-inferred)
    inputs: dict[str, Any]  # port -> TensorSpec, or a list of them for a variadic port

    def rerun(self, params: dict[str, Any] | None = None, inputs: dict[str, Any] | None = None
              ) -> tuple[TensorSpec, Call | None] | None:
        """Output and constructor call for changed settings or inputs; None when the rule refuses them."""
        resolved = dict(self.params if params is None else params)
        for spec in self.block.params:
            if spec.inferred and spec.name not in self.written:
                resolved[spec.name] = None  # infer it again from the (changed) input
        try:
            given = self.inputs if inputs is None else inputs
            out = main_spec(self.block, resolved, self.block.infer(resolved, given))
            return out, self.block.emit(resolved, given).init
        except Exception:  # noqa: BLE001 — a probe the rule refuses says nothing, and that is all it says
            return None


def call_slots(call: Call | None) -> dict[Slot, Any]:
    if call is None:
        return {}
    return {**dict(enumerate(call.args)), **dict(call.kwargs)}


def _input_dims(inputs: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(port, dim, size) of every input dimension; a variadic port's tensors count as one (they agree or fail)."""
    found = []
    for port, spec in inputs.items():
        first = spec[0] if isinstance(spec, list) else spec
        if first is not None:
            found += [(port, dim, size) for dim, size in enumerate(first.shape)]
    return found


def _scaled(inputs: dict[str, Any], port: str, dim: int, scale: int) -> dict[str, Any]:
    def grow(spec: TensorSpec) -> TensorSpec:
        shape = list(spec.shape)
        shape[dim] *= scale
        return TensorSpec(tuple(shape), spec.dtype)

    spec = inputs[port]
    return {**inputs, port: [grow(s) for s in spec] if isinstance(spec, list) else grow(spec)}


def _together(inputs: dict[str, Any], size: int, scale: int) -> dict[str, Any]:
    """Every input dimension of ``size`` scaled at once: for rules that need two inputs to agree (attention's
    query and key, a recurrent layer's input and state), where scaling one alone is refused."""
    for port, dim, found in _input_dims(inputs):
        if found == size:
            inputs = _scaled(inputs, port, dim, scale)
    return inputs


def _scaled_runs(layer: Layer, joint: bool) -> dict[tuple[str, int], list[Any]]:
    """Each input dimension scaled by each of SCALES, alone or (``joint``) with every other dimension of its size."""
    runs = {}
    for port, dim, size in _input_dims(layer.inputs):
        if joint:
            runs[(port, dim)] = [layer.rerun(inputs=_together(layer.inputs, size, k)) for k in SCALES]
        else:
            runs[(port, dim)] = [layer.rerun(inputs=_scaled(layer.inputs, port, dim, k)) for k in SCALES]
    return runs


def argument_origins(layer: Layer) -> dict[Slot, Origin | tuple[Origin, ...]]:
    """For each constructor argument: which input dimension it reads (per element for a tuple), or None."""
    base = layer.rerun()
    if base is None:
        return {}
    slots = call_slots(base[1])
    # Alone first: scaling every dimension of one size together is only for rules that refuse anything else, and
    # could credit a dimension for what another of the same size does.
    passes = [_scaled_runs(layer, joint=False), _scaled_runs(layer, joint=True)]
    sizes = {(port, dim): size for port, dim, size in _input_dims(layer.inputs)}
    origins: dict[Slot, Origin | tuple[Origin, ...]] = {}
    for slot, value in slots.items():
        if _is_size(value):
            origins[slot] = _first_known([_value_origin(value, slot, None, r, sizes) for r in passes])
        elif isinstance(value, (tuple, list)) and value and all(_is_size(v) for v in value):
            origins[slot] = tuple(_first_known([_value_origin(v, slot, k, r, sizes) for r in passes])
                                  for k, v in enumerate(value))
        elif any(run is not None and call_slots(run[1]).get(slot) != value
                 for runs in passes for rs in runs.values() for run in rs):
            origins[slot] = UNEXPLAINED
    return origins


def _first_known(found: list[Origin]) -> Origin:
    """The first pass that explains the value; UNEXPLAINED if a pass saw it move without explaining it."""
    known = [o for o in found if isinstance(o, Reads)]
    if known:
        return known[0]
    return UNEXPLAINED if any(o is UNEXPLAINED for o in found) else None


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _value_origin(value: int, slot: Slot, element: int | None, runs: dict[tuple[str, int], list[Any]],
                  sizes: dict[tuple[str, int], int]) -> Origin:
    def after(run: Any) -> Any:
        if run is None:
            return None
        got = call_slots(run[1]).get(slot)
        if element is None:
            return got
        return got[element] if isinstance(got, (tuple, list)) and len(got) > element else None

    moved = False
    for key, scaled_runs in runs.items():
        values = [after(run) for run in scaled_runs]
        if value == sizes[key] and values == [sizes[key] * k for k in SCALES]:
            return Reads(*key)
        moved = moved or any(v is not None and v != value for v in values)
    return UNEXPLAINED if moved else None


def output_origin(layer: Layer, dim: int) -> Origin:
    """Where dimension ``dim`` of the layer's output comes from: one of its settings, or one input dimension.

    Each is tried changing one thing alone before changing it together with the inputs of the same size (a
    recurrent layer's ``hidden_size`` must agree with its incoming state): otherwise a GroupNorm with one group on
    one channel would seem to set its channels by ``num_groups``."""
    base = layer.rerun()
    if base is None or dim >= len(base[0].shape):
        return UNEXPLAINED
    size = base[0].shape[dim]
    for joint in (False, True):
        found = _set_by(layer, dim, size, joint) or _follows_input(layer, dim, size, joint)
        if found is not None:
            return found
    return _sum_origin(layer, dim, size)


def _set_by(layer: Layer, dim: int, size: int, joint: bool) -> SetBy | None:
    for spec in layer.block.params:
        value = _one_size(layer.params.get(spec.name))
        if (spec.inferred and spec.name not in layer.written) or value is None or value <= 0 or size % value:
            continue
        factor = size // value
        outs = [_param_run(layer, spec.name, layer.params[spec.name], k, joint) for k in SCALES]
        if _follows(outs, dim, [factor * value * k for k in SCALES]):
            return SetBy(spec.name, factor)
    return None


def _follows_input(layer: Layer, dim: int, size: int, joint: bool) -> Reads | None:
    candidates = sorted(_input_dims(layer.inputs), key=lambda c: c[1] != dim)  # the same position first
    for port, in_dim, in_size in candidates:
        if in_size != size:
            continue
        scaled = [_together(layer.inputs, in_size, k) if joint else _scaled(layer.inputs, port, in_dim, k)
                  for k in SCALES]
        if _follows([layer.rerun(inputs=inputs) for inputs in scaled], dim, [size * k for k in SCALES]):
            return Reads(port, in_dim)
    return None


def _one_size(value: Any) -> int | None:
    """A setting that is one size: ``64``, or ``[64]`` (a LayerNorm's normalized_shape)."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    return value if _is_size(value) else None


def _param_run(layer: Layer, name: str, value: Any, scale: int, joint: bool) -> Any:
    """The layer with one setting scaled (``joint``: with the inputs of that size, where the rule needs them to
    agree)."""
    size = _one_size(value)
    params = {**layer.params, name: [size * scale] if isinstance(value, (list, tuple)) else size * scale}
    if joint:
        return layer.rerun(params=params, inputs=_together(layer.inputs, size, scale))
    return layer.rerun(params=params)


def _follows(outs: list[Any], dim: int, expected: list[int]) -> bool:
    return all(o is not None and len(o[0].shape) > dim and o[0].shape[dim] == e for o, e in zip(outs, expected))


def _sum_origin(layer: Layer, dim: int, size: int) -> Origin:
    """A Concat's output: the sum of one dimension over the tensors of a variadic port."""
    for port, spec in layer.inputs.items():
        if not isinstance(spec, list) or not spec or any(len(s.shape) <= dim for s in spec):
            continue
        if sum(s.shape[dim] for s in spec) != size:
            continue
        for k, member in enumerate(spec):
            grown = list(spec)
            shape = list(member.shape)
            shape[dim] *= 2
            grown[k] = TensorSpec(tuple(shape), member.dtype)
            if not _follows([layer.rerun(inputs={**layer.inputs, port: grown})], dim, [size + member.shape[dim]]):
                break
        else:
            return SumOf(port, dim)
    return UNEXPLAINED
