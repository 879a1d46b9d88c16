"""Trace a PyTorch module with torch.fx and record what every traced node computed on an example batch.

torch is imported here only: ``importer`` loads this module when an import actually runs. The recorded
values let the translation read shapes, constants and masks from what really happened instead of re-deriving
them; a trace that fails becomes an ``ImportFailure`` in plain words, with the user's file and line.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import fx, nn

from importer.attention_match import Attention
from importer.report import ImportFailure

_TORCH_DIR = str(Path(torch.__file__).resolve().parent)
_OUR_DIR = str(Path(__file__).resolve().parent)


@functools.lru_cache(maxsize=512)  # asked for every frame of every traced call: resolve each file once
def _is_user_frame(filename: str) -> bool:
    """A frame of the user's code: not torch, not this importer, not the standard library."""
    path = str(Path(filename).resolve()) if not filename.startswith("<") else filename
    stdlib = str(Path(traceback.__file__).resolve().parent)
    return not (path.startswith(_TORCH_DIR) or path.startswith(_OUR_DIR) or path.startswith(stdlib))


def frame_location(frames: list[traceback.FrameSummary]) -> tuple[str, str]:
    """('model.py:42', 'x = x.view(-1)') for the innermost user frame, or ('', '') when there is none."""
    for frame in reversed(frames):
        if _is_user_frame(frame.filename):
            return f"{Path(frame.filename).name}:{frame.lineno}", (frame.line or "").strip()
    return "", ""


def caller_location() -> tuple[str, str]:
    """frame_location of the running stack, walking frames instead of formatting them all (it runs per node)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if _is_user_frame(filename):
            return f"{Path(filename).name}:{frame.f_lineno}", linecache.getline(filename, frame.f_lineno).strip()
        frame = frame.f_back
    return "", ""


class _Tracer(fx.Tracer):
    """torch.fx's tracer, running every traced operation on the example batch as it goes.

    Two things follow. Each node's real value is recorded (shapes, masks, constants). And sizes come out as plain
    numbers (``x.size(1)`` is 12, not a proxy), so code such as ``self.pe[:, : x.size(1)]`` or
    ``torch.ones(t, t)`` traces as it runs; only decisions on tensor *values* still stop the trace. Each node also
    keeps its innermost user frame (file, line, code) in ``meta['where']``.
    """

    def __init__(self, example: tuple[torch.Tensor, ...], leaves: set[str] = frozenset(),
                 defaults: dict[str, Any] | None = None) -> None:
        super().__init__(autowrap_functions=_einops_functions())
        self.example = list(example)
        self.defaults = defaults or {}  # forward()'s optional arguments, bound to these values
        self.leaves = leaves  # the user's submodules traced as one call (attention written by hand)
        self.values: dict[fx.Node, Any] = {}
        self.proxy_buffer_attributes = True  # self.pe[:, :t] stays traceable to the buffer it reads
        self.running = False  # True while an operation runs for real: fx's hooks must then stay out of the way
        self.calls: dict[str, list[tuple[str, fx.Node]]] = {}  # submodule path -> its traced arguments, by name
        self.call_lines: dict[str, str] = {}  # submodule path -> the line of code that first called it

    def call_module(self, m: nn.Module, forward: Any, args: tuple, kwargs: dict) -> Any:
        if self.running:
            return forward(*args, **kwargs)
        path = self.path_of_module(m)
        if path not in self.calls and not self.is_leaf_module(m, path):
            self.calls[path] = _arguments(m, args, kwargs)  # names a block's inputs after forward()'s arguments
            self.call_lines[path] = caller_location()[1]  # `x = self.layer1(x)`: names the block's value
        return super().call_module(m, forward, args, kwargs)

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return module_qualified_name in self.leaves or super().is_leaf_module(m, module_qualified_name)

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _SizedProxy(node, self)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]) -> Any:
        if self.running:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def create_proxy(self, kind: str, target: Any, args: Any, kwargs: Any, name: str | None = None,
                     type_expr: Any = None, proxy_factory_fn: Any = None) -> Any:
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        node = proxy.node
        if kind == "output":
            return proxy
        node.meta["where"] = caller_location()
        try:
            value = self._run(node)
        except Exception as err:
            raise _RunError(err) from err
        self.values[node] = value
        # builtins.getattr stays a node: fx's Attribute proxy (x.device, x.shape) needs one to hand back.
        if kind in ("call_function", "call_method") and target is not getattr and not holds_tensor(value):
            self.graph.erase_node(node)  # a size, a dtype, a device: the number itself, as when the model runs
            del self.values[node]
            return value
        return proxy

    def _value(self, node: fx.Node) -> Any:
        """A recorded value; constants fx adds itself (``_tensor_constant0``) are read when first needed."""
        if node not in self.values and node.op == "get_attr":
            self.values[node] = _attribute(self.root, str(node.target))
        return self.values[node]

    def _run(self, node: fx.Node) -> Any:
        args, kwargs = fx.node.map_arg((node.args, node.kwargs), self._value)
        self.running = True
        try:
            return self._call(node, args, kwargs)
        finally:
            self.running = False

    def _call(self, node: fx.Node, args: Any, kwargs: Any) -> Any:
        with torch.no_grad():
            if node.op == "placeholder":
                name = bound_name(str(node.target), self.defaults)
                if name:  # fx checks that the value it traced with is the bound one
                    return self.defaults[name]
                return self.example.pop(0) if self.example else None
            if node.op == "get_attr":
                return _attribute(self.root, str(node.target))
            if node.op == "call_module":
                return self.root.get_submodule(str(node.target))(*args, **kwargs)
            if node.op == "call_method":
                return getattr(args[0], node.target)(*args[1:], **kwargs)
            return node.target(*args, **kwargs)


def _einops_functions() -> tuple[Any, ...]:
    """einops' rearrange/repeat/reduce as single calls (their value recorded, as every call's is): einops can't
    take a proxy, and what they do is read back from the recorded shapes (importer.op_blocks)."""
    try:
        import einops
    except ImportError:
        return ()
    return tuple(getattr(einops, name) for name in ("rearrange", "repeat", "reduce") if hasattr(einops, name))


class _SizedProxy(fx.Proxy):
    """``x.shape``, ``x.ndim`` and ``x.is_cuda`` are what the example batch had, as ``x.size(1)`` is: code that keys
    a cache by the shape (einops' rearrange) or guards a multi-GPU path with ``if x.is_cuda`` then runs as it does
    outside the trace; ``len(x)`` is ``x.shape[0]``."""

    def _recorded(self) -> Any:
        return getattr(self.tracer, "values", {}).get(self.node)

    def __getattr__(self, name: str) -> Any:
        if name in ("shape", "ndim", "is_cuda", "is_xpu", "is_mps"):
            value = self._recorded()
            if isinstance(value, torch.Tensor):
                return getattr(value, name)
        return super().__getattr__(name)

    def __len__(self) -> int:
        value = self._recorded()
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return int(value.shape[0])
        if isinstance(value, (tuple, list)):
            return len(value)
        return super().__len__()

    def __iter__(self) -> Any:
        """``map(f, x.chunk(3, dim=-1))``: the pieces one by one, as unpacking them gives them."""
        value = self._recorded()
        if isinstance(value, (tuple, list)):
            return iter([self[k] for k in range(len(value))])
        return super().__iter__()



class TraceFailure(ImportFailure):
    """torch.fx could not follow forward() (the model itself runs): torch.export may still (importer)."""


class _RunError(Exception):
    """An operation failed on the example batch: the input is wrong for this model, not the trace."""

    def __init__(self, err: Exception) -> None:
        super().__init__(str(err))
        self.err = err


def _arguments(m: nn.Module, args: tuple, kwargs: dict) -> list[tuple[str, fx.Node]]:
    """(argument name, trace node) for each traced argument of a call to ``m``, in forward()'s order."""
    try:
        bound = inspect.signature(m.forward).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return []
    return [(name, value.node) for name, value in bound.arguments.items() if isinstance(value, fx.Proxy)]


def _attribute(root: nn.Module, path: str) -> Any:
    value: Any = root
    for part in path.split("."):
        value = getattr(value, part)
    return value


def holds_tensor(value: Any) -> bool:
    found: list[bool] = []
    fx.node.map_aggregate(value, lambda v: found.append(True) if isinstance(v, torch.Tensor) else None)
    return bool(found)


@dataclass
class Traced:
    module: nn.Module  # the user's module (in eval mode)
    graph: fx.GraphModule
    values: dict[fx.Node, Any]  # what each node computed on the example batch
    batch: int  # the example's batch size
    calls: dict[str, list[tuple[str, fx.Node]]] = field(default_factory=dict)  # submodule -> traced arguments
    attention: dict[str, Attention] = field(default_factory=dict)  # submodules that are a MultiheadAttention
    defaults: dict[str, Any] = field(default_factory=dict)  # forward()'s optional arguments, left at these values
    call_lines: dict[str, str] = field(default_factory=dict)  # submodule -> the line that first called it


def trace(module: nn.Module, example: tuple[torch.Tensor, ...],
          attention: dict[str, Attention] | None = None) -> Traced:
    """Trace ``module`` on ``example``; raise ImportFailure (never a torch error) when it can't be followed.

    ``attention``: submodules written by hand that running showed to be a MultiheadAttention, each traced as one
    call (importer.hand_attention says when); every other submodule is traced op by op."""
    module.eval()
    attention = dict(attention or {})
    defaults = optional_arguments(module, len(example))
    tracer = _Tracer(example, set(attention), defaults)
    try:
        graph = tracer.trace(module, concrete_args=defaults or None)
    except _RunError as failed:
        err = failed.err
        while isinstance(err, _RunError):
            err = err.err
        where, code = frame_location(traceback.extract_tb(failed.__traceback__))
        raise ImportFailure("the model fails on the example input", where,
                            f"running it raised {type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
                            + (f" (in `{code}`)" if code else ""),
                            "check --input (the shape of one sample, without the batch) and --dtype") from None
    except Exception as err:  # fx raises TraceError, TypeError, AttributeError, …: all mean "can't be traced"
        raise _trace_failure(module, err) from None
    _drop_fixed_placeholders(graph, set(defaults))
    gm = fx.GraphModule(tracer.root, graph, type(module).__name__)
    return Traced(module, gm, tracer.values, int(example[0].shape[0]) if example else 0, tracer.calls, attention,
                  defaults, tracer.call_lines)


def optional_arguments(module: nn.Module, given: int) -> dict[str, Any]:
    """forward()'s arguments after the ``given`` inputs that have a default (``targets=None``, ``has_mask=True``):
    bound to their defaults, so a trace never feeds them a tensor or follows a loss only training computes."""
    try:
        params = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return {}
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return {p.name: p.default for p in positional[given:] if p.default is not p.empty}


def bound_name(target: str, names: Any) -> str:
    """The optional argument a placeholder stands for ('targets_1' → 'targets'; fx numbers the ones it binds)."""
    for name in (target, re.sub(r"_\d+$", "", target)):
        if name in names:
            return name
    return ""


def _drop_fixed_placeholders(graph: fx.Graph, names: set[str]) -> None:
    """The placeholders fx keeps for arguments bound to a constant, with the checks it adds on them: the design's
    inputs are the tensors only."""
    for node in list(graph.nodes):
        if node.op != "placeholder" or not bound_name(str(node.target), names):
            continue
        for user in list(node.users):  # fx's check of the bound value: an eq node feeding torch._assert
            for check in list(user.users):
                if check.op == "call_function" and "assert" in getattr(check.target, "__name__", ""):
                    graph.erase_node(check)
            if user.op == "call_function" and not user.users:
                graph.erase_node(user)
        if not node.users:
            graph.erase_node(node)


def _trace_failure(module: nn.Module, err: Exception) -> TraceFailure:
    """Say in plain words why torch.fx could not follow forward(), where, and what to do."""
    where, code = frame_location(traceback.extract_tb(err.__traceback__))
    text = str(err)
    shown = f" (`{code}`)" if code else ""
    name = type(module).__name__
    if "control flow" in text or ("Proxy" in text and "bool" in text.lower()):
        return TraceFailure(
            "data-dependent control flow", where,
            f"{name}.forward decides what to compute from the values of a tensor{shown}; a diagram has one fixed "
            "path for every input",
            "compute both paths and combine them with torch.where, or move the decision out of the model")
    if "interpreted as an integer" in text or "iterate" in text.lower() or "len(" in text or "__len__" in text:
        return TraceFailure(
            "a Python loop over the input's length", where,
            f"{name}.forward loops over a size of the input{shown}, e.g. stepping through time steps one by one; "
            "the number of steps is not known to a diagram",
            "use nn.LSTM / nn.GRU / nn.RNN over the whole sequence (batch_first=True) instead of a cell in a loop")
    first = text.splitlines()[0][:300] if text else type(err).__name__
    return TraceFailure(
        "forward() can't be traced", where,
        f"torch.fx could not follow {name}.forward{shown}: {type(err).__name__}: {first}",
        "write forward() as a straight sequence of layer calls and tensor operations")

