"""Attention written by hand → one MultiheadAttention block, where reading it op by op falls short and running
it shows it is one.

nanoGPT's ``CausalSelfAttention`` (a packed qkv Linear, a split into heads, a scaled dot product under a causal
mask, an output Linear) computes exactly what ``nn.MultiheadAttention`` does. Read op by op it keeps its own layers
(``attn.c_attn``, ``attn.c_proj``) and the tensor operations between them, so the original state dict loads into
the generated code by its own names: that is the first reading. Only a submodule whose op-by-op reading leaves an
operation with no block is fused: the model runs once with a hook on each submodule of the user's own classes whose
parameters could be attention's; one called once with one or two (N, T, E) float tensors and returning one is tried
with ``attention_match.identify``. One that matches is traced again as a leaf and becomes one block, its weights
renamed (``attn.qkv.weight`` → ``in_proj_weight``) so they carry over under the design's names.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from importer.attention_match import Attention, identify

_MAX_PARAMETERS = 8  # in_proj and out_proj, weights and biases, split at most in two: anything bigger is not one


def find_hand_attention(model: nn.Module, example: tuple[torch.Tensor, ...]) -> dict[str, Attention]:
    """Module path -> the MultiheadAttention it computes, for submodules of the user's classes that are one."""
    candidates = {path: m for path, m in model.named_modules() if path and _could_be_attention(m)}
    if not candidates:
        return {}
    calls: dict[str, list[tuple[tuple, dict, Any]]] = {path: [] for path in candidates}
    hooks = [m.register_forward_hook(_recorder(calls[path]), with_kwargs=True) for path, m in candidates.items()]
    try:
        with torch.no_grad():
            model(*example)
    except Exception:  # noqa: BLE001 — the trace that follows runs the model again and says what failed, in words
        return {}
    finally:
        for hook in hooks:
            hook.remove()
    found = {}
    for path, recorded in calls.items():
        match = _identify(candidates[path], recorded)
        if match is not None:
            found[path] = match
    return found


def attention_to_fuse(model: nn.Module, example: tuple[torch.Tensor, ...],
                      unsupported_scopes: set[str]) -> dict[str, Attention]:
    """The hand-written attention to trace as one MultiheadAttention block: the submodules that running shows to be
    one, and whose op-by-op reading left an operation with no block (``unsupported_scopes``: the module paths whose
    forward() made an Unsupported node). Read op by op, a module keeps its own names, so that reading wins where
    it is whole."""
    if not unsupported_scopes:
        return {}  # nothing fell short: no need to run the model again
    found = find_hand_attention(model, example)
    return {path: match for path, match in found.items()
            if any(scope == path or scope.startswith(f"{path}.") for scope in unsupported_scopes)}


def _could_be_attention(m: nn.Module) -> bool:
    """A module of the user's own (torch's are read as they are) holding a few float matrices and vectors."""
    if type(m).__module__.startswith("torch."):
        return False
    params = list(m.parameters())
    return (2 <= len(params) <= _MAX_PARAMETERS and all(p.is_floating_point() and p.dim() in (1, 2) for p in params)
            and sum(p.dim() == 2 for p in params) >= 2)


def _recorder(into: list[tuple[tuple, dict, Any]]) -> Any:
    def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        into.append((args, kwargs, output))
    return hook


def _identify(m: nn.Module, recorded: list[tuple[tuple, dict, Any]]) -> Attention | None:
    if len(recorded) != 1:
        return None  # called twice: weight sharing, which the PyTorch import reports on its own
    args, kwargs, output = recorded[0]
    if any(isinstance(v, torch.Tensor) for v in kwargs.values()) or not isinstance(output, torch.Tensor):
        return None  # a mask passed at call time, or more than one result: not a block
    if len(args) not in (1, 2) or not all(isinstance(a, torch.Tensor) and a.is_floating_point() and a.dim() == 3
                                          for a in args):
        return None  # self-attention reads x, cross-attention (x, memory)
    values = {f"arg{k}": a.detach().float().numpy() for k, a in enumerate(args)}
    values["output"] = output.detach().float().numpy()
    arrays = {name: p.detach().float().numpy() for name, p in m.named_parameters()}
    match = identify(arrays, list(values)[:-1], "output", values)
    # Every block key must be one of the module's own parameters, so the original's weights carry over as they are.
    if isinstance(match, str) or set(match.sources) != set(match.weights):
        return None
    return match


def argument_index(name: str) -> int:
    """'arg1' → 1: which argument of the call a matched value was."""
    return int(name.removeprefix("arg"))
