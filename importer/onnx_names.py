"""Which torch module each op of an exported ONNX file ran in, from what either exporter leaves behind.

- ``torch.onnx.export(..., dynamo=False)`` (TorchScript) names ops by scope: ``/layer1/layer1.0/conv1/Conv``.
- ``torch.onnx.export(...)`` (the default, dynamo) names them ``node_Conv_12`` but records the module paths and
  their classes in each op's metadata: ``pkg.torch.onnx.name_scopes`` ``['', 'layer1', 'layer1.0', 'add']`` and
  ``pkg.torch.onnx.class_hierarchy``.

Both become a module path (``layer1.0``), an op label (``add``) and, where the file has them, class names. A layer
that holds weights is named by its weights' owner (``conv1.weight`` → ``conv1``): the exporter may fuse a
BatchNorm into the convolution before it and file the result under the BatchNorm's scope.
"""

from __future__ import annotations

import ast
import functools
import re

import onnx

from importer.value_names import names_for

SCOPES_KEY = "pkg.torch.onnx.name_scopes"
TRACE_KEY = "pkg.torch.onnx.stack_trace"
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
CLASSES_KEY = "pkg.torch.onnx.class_hierarchy"
_PARAMETER = re.compile(r"^([A-Za-z_]\w*(?:\.\w+)*)\.(weight|bias|in_proj_weight|in_proj_bias)$")
_MAX_METADATA = 4000  # a list of module paths; longer is not what the exporter writes


def _metadata(op: onnx.NodeProto, key: str) -> tuple[str, ...] | None:
    """A list the exporter wrote as text (``"['', 'layer1']"``): read as a literal, never run."""
    text = next((p.value for p in op.metadata_props if p.key == key), None)
    return None if text is None or len(text) > _MAX_METADATA else _literal_list(text)


@functools.lru_cache(maxsize=8192)  # every op's scopes are asked for several times (ids, regions, classes)
def _literal_list(text: str) -> tuple[str, ...] | None:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return tuple(str(v) for v in value) if isinstance(value, list) else None


def scoped_module(op: onnx.NodeProto) -> str:
    """The module whose forward() ran the op: ``layer1.0`` ('' for the model's own forward)."""
    scopes = _metadata(op, SCOPES_KEY)
    if scopes is not None:
        return _clean(scopes[-2]) if len(scopes) >= 2 else ""
    segments: list[str] = []
    parts = [p for p in op.name.split("/") if p][:-1]
    for k, part in enumerate(parts):
        if k and part.startswith(parts[k - 1] + "."):  # '/layer1/layer1.0': the same child named in full
            segments[-1] = part
        else:
            segments.append(part)
    return _clean(".".join(segments))


def op_label(op: onnx.NodeProto) -> str:
    """What the op is called inside its module: 'add', 'relu_2'."""
    scopes = _metadata(op, SCOPES_KEY)
    last = scopes[-1] if scopes else op.name.rsplit("/", 1)[-1]
    return re.sub(r"\W", "_", last or op.op_type).lower().strip("_") or "node"


def module_path(op: onnx.NodeProto, initializers: set[str]) -> str:
    """The module the op stands for: its weights' owner where it reads named weights, else its scope."""
    for name in op.input[1:]:
        found = _PARAMETER.match(name) if name in initializers else None
        if found:
            return found.group(1)
    return scoped_module(op)


def module_classes(graph: onnx.GraphProto) -> dict[str, str]:
    """Module path -> its class's qualified name, where the file records them (the dynamo exporter)."""
    classes: dict[str, str] = {}
    for op in graph.node:
        scopes, hierarchy = _metadata(op, SCOPES_KEY), _metadata(op, CLASSES_KEY)
        if scopes and hierarchy and len(scopes) == len(hierarchy):
            for path, cls in zip(scopes[1:-1], hierarchy[1:-1]):
                classes.setdefault(_clean(path), cls)
    return classes


def module_classes_top(op: onnx.NodeProto) -> str:
    """The exported model's own class ('VGG'), where the op's metadata records its class hierarchy."""
    hierarchy = _metadata(op, CLASSES_KEY)
    return hierarchy[0].rsplit(".", 1)[-1] if hierarchy and len(hierarchy) > 1 else ""


_GENERIC_NAMES = {"", "main_graph", "torch_jit", "torch-jit-export", "graph"}


def model_name(model: onnx.ModelProto, file_name: str = "") -> str:
    """The design's name: the file's name where known ('vgg11_bn.onnx' → vgg11_bn), else the model's class where
    the file records it (the dynamo exporter), else the graph's own name unless it is an exporter's placeholder
    ('main_graph', 'torch_jit')."""
    stem = re.sub(r"(\.onnx)+$", "", file_name.replace("\\", "/").rsplit("/", 1)[-1], flags=re.IGNORECASE)
    top = next((c for c in (module_classes_top(op) for op in model.graph.node) if c), "")
    for candidate in (stem, top, "" if model.graph.name in _GENERIC_NAMES else model.graph.name):
        name = re.sub(r"\W", "_", candidate).strip("_")[:40]
        if name:
            return name if not name[0].isdigit() else f"model_{name}"[:40]
    return "onnx_model"


def source_line(op: onnx.NodeProto) -> str:
    """'model.py:42' — the line of the user's forward() that made the op, where the file records it (dynamo)."""
    trace = next((p.value for p in op.metadata_props if p.key == TRACE_KEY), "")
    frames = _FRAME.findall(trace[:_MAX_METADATA])
    if not frames:
        return ""
    path, line = frames[-1]  # the innermost frame: the line that called the op
    return f"{path.replace(chr(92), '/').rsplit('/', 1)[-1]}:{line}"


_CODE_FRAME = re.compile(r'File "([^"]+)", line \d+, in ([^\n]*)\n[ \t]+([^\n]+)')
_TORCH_FILE = re.compile(r"[\\/]torch[\\/]")


def _frames(op: onnx.NodeProto) -> list[tuple[str, str, str]]:
    """(file, function, code) of each frame the dynamo exporter recorded for ``op``, outermost first."""
    trace = next((p.value for p in op.metadata_props if p.key == TRACE_KEY), "")
    return _CODE_FRAME.findall(trace[-_MAX_METADATA:])


def module_calls(op: onnx.NodeProto) -> dict[str, str]:
    """Module path -> the line of its parent's forward() that called it (``x = self.up1(x5, x4)`` for ``up1``):
    the recorded module stack ('', 'up1', 'up1.conv', …) beside the forward() frames, one per module, where they
    agree in number; {} where they don't."""
    scopes = _metadata(op, SCOPES_KEY)
    forwards = [code for _, function, code in _frames(op) if function == "forward"]
    if scopes is None or len(scopes) < 3 or len(forwards) != len(scopes) - 1:
        return {}
    return {_clean(path): code for path, code in zip(scopes[1:-1], forwards)}


def value_names_of(op: onnx.NodeProto) -> list[str]:
    """The names the exported model's own line gave the op's outputs (``meta.value_names``), read from the code
    text the dynamo exporter records in each frame of its stack trace (never from the file it names): one for an
    op of one output assigned to one name, one per output for ``q, k, v = ….split(…)``; [] otherwise."""
    codes = [code for path, _, code in _frames(op) if not _TORCH_FILE.search(path)]
    return names_for(codes[-1], sum(1 for o in op.output if o)) if codes else []  # the model's innermost frame


def _clean(path: str) -> str:
    return re.sub(r"[^\w.]", "_", path)



_RULE_KEY = "pkg.onnxscript.rewriter.rule_name"
_FOLDED_WEIGHT = re.compile(r"^onnx::Conv_\d+$")
KEEP_BATCHNORM = ("to keep it, export with torch.onnx.export(..., optimize=False) (the default exporter) or with "
                  "dynamo=False, training=torch.onnx.TrainingMode.PRESERVE, or import the PyTorch module")


def folded_batchnorms(graph: onnx.GraphProto, initializers: set[str]) -> list[str]:
    """A note when the exporter folded BatchNorms into the convolutions before them (eval-mode constant folding):
    the design computes what the file computes, but those layers are gone and the convolutions' weights are the
    folded ones. The dynamo exporter records the rewrite by name; TorchScript's leaves unnamed weights
    (``onnx::Conv_12``)."""
    folds: list[str] = []
    for op in graph.node:
        if op.op_type != "Conv" or len(op.input) < 2:
            continue
        rule = next((p.value for p in op.metadata_props if p.key == _RULE_KEY), "")
        if "BatchNorm" in rule:
            norm, conv = scoped_module(op), module_path(op, initializers)
            folds.append(f"‘{norm}’ into ‘{conv}’" if norm and conv and norm != conv else f"into ‘{conv or op.name}’")
        elif _FOLDED_WEIGHT.match(op.input[1]) and op.input[1] in initializers:
            folds.append(f"into ‘{scoped_module(op) or op.name}’")
    if not folds:
        return []
    shown = ", ".join(folds[:4]) + (f" and {len(folds) - 4} more" if len(folds) > 4 else "")
    count = "a BatchNorm" if len(folds) == 1 else f"{len(folds)} BatchNorms"
    before = "the convolution before it" if len(folds) == 1 else "the convolutions before them"
    return [f"the exporter folded {count} into {before} ({shown}): the design has no BatchNorm there and the "
            f"convolutions' weights are the folded ones; {KEEP_BATCHNORM}"]
