"""Prove an import: rebuild the design from its generated code, give it the original's weights, and compare
outputs on a fresh random batch of a different size than the one traced.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from builder.validate import validate
from codegen.loader import build_model
from codegen.source import CodegenError, ModelSource, generate_model
from importer.report import Verification

TOLERANCE = 1e-5


def carry_weights(source: ModelSource, model: nn.Module, original: dict[str, torch.Tensor],
                  origins: dict[str, str], renames: dict[str, dict[str, str]]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The rebuilt model's state dict filled from the original's, and the original keys nothing took.

    A key of the rebuilt model is a layer's module path and a local name (``layer2.0.conv1`` + ``weight``); the
    layer's node came from the original's ``origins[node]``, so the same local name there is the value."""
    filled: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    node_at = {path: node for node, path in source.module_paths.items()}
    for key, tensor in model.state_dict().items():
        node, local = _owner(node_at, key)
        wanted = renames.get(node, {}).get(local) or (_joined(origins[node], local) if node in origins else None)
        if wanted in original:
            filled[key] = original[wanted].reshape(tensor.shape)
            used.add(wanted)
        else:
            filled[key] = tensor
    return filled, sorted(set(original) - used)


def _joined(path: str, local: str) -> str:
    return f"{path}.{local}" if local else path  # a Parameter or Buffer node is its own state-dict entry


def _owner(node_at: dict[str, str], key: str) -> tuple[str | None, str]:
    """The design node whose module holds ``key`` (the longest module path that prefixes it), and the rest; a
    Parameter or Buffer node's key is its own path (the rest is empty)."""
    if key in node_at:
        return node_at[key], ""
    module, local = key, ""
    while "." in module:
        module, _, last = module.rpartition(".")
        local = f"{last}.{local}" if local else last
        if module in node_at:
            return node_at[module], local
    return None, key


def rebuild(graph: Any, batch: int) -> tuple[ModelSource, nn.Module] | Verification:
    """The design's generated module, built in eval mode; or, for a design with errors, the Verification that says
    it could not be checked (naming the first error)."""
    result = validate(graph)
    if not result.valid:
        first = result.errors[0]
        where = f"‘{first.node}’: " if first.node else ""
        return Verification(False, False, None, batch, f"not verified: the design has {len(result.errors)} error(s), "
                            f"first {where}{first.message}")
    try:
        source = generate_model(graph, result)
    except CodegenError as err:  # a block whose copies one class can't write: say which, keep the design
        return Verification(False, False, None, batch, "not verified: LayerLab could not write the design's code: "
                            f"{'; '.join(err.problems)}. The design opens as imported, but exporting its code "
                            "fails the same way until that is mended; ungrouping the named block's instances avoids "
                            "it")
    return source, build_model(source, seed=0).eval()


def verify(graph: Any, module: nn.Module, traced_batch: int, example: tuple[torch.Tensor, ...],
           origins: dict[str, str], renames: dict[str, dict[str, str]],
           weights: dict[str, torch.Tensor] | None = None) -> Verification:
    """Rebuild, copy weights (``module``'s, or ``weights`` by the design's keys), compare with ``module``; every
    failure is a Verification saying what differs, never an exception.

    A batch of one is the cheapest check (a ResNet-50 at 224 × 224 runs twice); a model that squeezes its
    batch away at size one is compared again at another size before anything is called different."""
    batch = 1 if traced_batch != 1 else 3
    built = rebuild(graph, batch)
    if isinstance(built, Verification):
        return built
    source, rebuilt = built
    original = module.state_dict() if weights is None else weights
    # The honest test first: the original's own state dict, by its own key names, strictly into the generated code.
    by_name = _names_mismatch(rebuilt, original) if weights is None else None
    try:
        if by_name is None and weights is None:
            rebuilt.load_state_dict(original, strict=True)
            left: list[str] = []
        else:  # the weights carried over by the design's keys, so the outputs can still be compared
            state, left = carry_weights(source, rebuilt, original, origins, renames)
            rebuilt.load_state_dict(state, strict=True)
    except RuntimeError as err:  # a weight of another shape: the design built a layer differently from the original
        return Verification(True, False, None, batch, f"differs: the original's weights don't fit the design "
                            f"({_first_line(err)}); a block's copies may need a setting as a parameter",
                            by_name=False if weights is None else None)
    check = _compare(module.eval(), rebuilt, _fresh(example, batch, source), batch)
    if not check.same and batch == 1:
        check = _compare(module, rebuilt, _fresh(example, traced_batch + 1, source), traced_batch + 1)
    note = check.note
    if weights is None and by_name is None:
        note += "; the original state dict loads strictly by its own names"
    elif weights is None:
        note = (f"not verified by name: the original state dict does not load into the generated code as it is "
                f"({by_name}); with its weights copied across by the design's names, "
                + note.replace("verified — same", "same", 1)
                + "; `layerlab import … --weights FILE` writes the weights under the design's names")
    if left:
        note += f"; original state-dict keys with no place in the design: {', '.join(left[:6])}"
    return Verification(check.ran, check.same, check.max_abs_diff, check.batch_size, note,
                        by_name=(by_name is None) if weights is None else None)


def _names_mismatch(rebuilt: nn.Module, original: dict[str, torch.Tensor]) -> str | None:
    """None when ``original`` loads strictly into ``rebuilt`` by its own key names (same keys, same shapes); else
    which keys differ, in words (how many, and the first of each side)."""
    mine = rebuilt.state_dict()
    only_original = [k for k in original if k not in mine]
    only_design = [k for k in mine if k not in original]
    reshaped = [k for k in original if k in mine and tuple(original[k].shape) != tuple(mine[k].shape)]
    parts = []
    if only_original:
        parts.append(f"{len(only_original)} of its keys are not the design's, e.g. {only_original[0]}"
                     + (f" (the design has {only_design[0]})" if only_design else ""))
    elif only_design:
        parts.append(f"the design has {len(only_design)} key(s) it lacks, e.g. {only_design[0]}")
    if reshaped:
        parts.append(f"{len(reshaped)} of another shape, e.g. {reshaped[0]}")
    return "; ".join(parts) or None


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _compare(module: nn.Module, rebuilt: nn.Module, inputs: tuple[torch.Tensor, ...], batch: int) -> Verification:
    with torch.no_grad():  # one seed for both: a model that draws noise (a VAE's ε) draws the same in each
        torch.manual_seed(0)
        expected = _as_list(module(*inputs))
        torch.manual_seed(0)
        got = _as_list(rebuilt(*inputs))
    if len(expected) != len(got) or any(a.shape != b.shape for a, b in zip(expected, got)):
        shapes = ", ".join(str(tuple(t.shape)) for t in got)
        return Verification(True, False, None, batch, f"differs: the original returns "
                            f"{', '.join(str(tuple(t.shape)) for t in expected)}, the design {shapes}")
    diff = max((float((a.double() - b.double()).abs().max()) for a, b in zip(expected, got)), default=0.0)
    same = diff <= TOLERANCE
    note = f"verified — same outputs at batch size {batch} (max diff {diff:.2g})" if same else \
        f"differs: max abs difference {diff:.3g} at batch size {batch}"
    return Verification(True, same, diff, batch, note)


def _fresh(example: tuple[torch.Tensor, ...], batch: int, source: ModelSource) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(1)
    out = []
    for k, tensor in enumerate(example):
        shape = (batch, *tensor.shape[1:])
        if tensor.is_floating_point():
            out.append(torch.randn(shape, generator=generator, dtype=tensor.dtype))
        else:
            high = source.inputs[k].high if k < len(source.inputs) else 2
            out.append(torch.randint(0, max(2, high), shape, generator=generator, dtype=tensor.dtype))
    return tuple(out)


def _as_list(value: Any) -> list[torch.Tensor]:
    """The returned tensors; a None among them (a loss without targets) is no output of the design."""
    return [v for v in (value if isinstance(value, (tuple, list)) else [value]) if v is not None]
