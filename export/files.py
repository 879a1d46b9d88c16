"""Export a design: model source, training script, notebook, ONNX, torch.export (.pt2), TorchScript (legacy),
weights, project file, diagram.

``export_bytes`` gives the file's content (for download buttons), ``export`` writes it to a path. Every failure
a user can cause becomes ``ExportError(problems)`` whose lines name the node and the reason; the model code
comes from ``codegen.source`` and is imported from a real file, so every format is the model that was drawn.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from builder.graph import Graph
from builder.project import to_json
from builder.validate import ValidationResult, validate
from codegen.loader import build_model, example_batch
from codegen.naming import to_identifier
from codegen.source import CodegenError, ModelSource, generate_model
from export.formats import FORMATS, Format, FormatInfo  # noqa: F401  (re-exported for callers)

UNTRAINED_LABEL = "untrained (random initialization)"
GIVEN_WEIGHTS_LABEL = "weights given by the caller"
WEIGHT_FORMATS = frozenset({Format.ONNX, Format.PT2, Format.TORCHSCRIPT, Format.WEIGHTS})  # formats holding weights
LABEL_KEY = "layerlab_weights"  # where each binary format keeps the label: metadata, metadata_props, extra file


class ExportError(ValueError):
    """The design can't be exported in this format; each problem names the node (when there is one) and why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def as_format(fmt: Format | str) -> Format:
    try:
        return Format(fmt)
    except ValueError:
        raise ExportError([f"unknown export format {fmt!r}; choose one of {', '.join(f.value for f in Format)}"]) from None


def file_name(graph: Graph, fmt: Format | str) -> str:
    """A safe default file name: ``digits_cnn.onnx``, ``digits_cnn_train.py``."""
    return to_identifier(graph.name, "model") + FORMATS[as_format(fmt)].suffix


def model_source(graph: Graph, result: ValidationResult | None = None) -> ModelSource:
    """The generated model, or ExportError listing each invalid node and its problem."""
    try:
        return generate_model(graph, result)
    except CodegenError as err:
        raise ExportError(err.problems) from None


def export_bytes(graph: Graph, fmt: Format | str, *, model: nn.Module | None = None,
                 state_dict: Mapping[str, torch.Tensor] | None = None, dataset: str | None = None,
                 seed: int = 0, result: ValidationResult | None = None, label: str | None = None,
                 settings: Mapping[str, Any] | None = None, data: Any = None, orient: str | None = None,
                 **options: Any) -> bytes:
    """The exported file's content.

    ``model`` (an instance of the generated class, e.g. just trained) or ``state_dict`` supplies the weights
    for onnx, pt2, torchscript and weights; without them a fresh model seeded with ``seed`` is used. ``label`` says
    what the weights are ("trained: run 12, test accuracy 0.981"); the file carries it (``read_label``), and
    without weights it is always UNTRAINED_LABEL.
    ``settings`` (training settings by their ``training.settings`` names: the Train tab's, or a past run's),
    then ``dataset`` and ``options`` (single settings) shape the training script and notebook; ``data`` is the
    loaded Dataset of an uploaded file (its columns and encoding). ``orient`` lays out the svg and png diagram:
    "landscape" (a 16:9 slide, the default) or "portrait".
    """
    fmt = as_format(fmt)
    if fmt is Format.JSON:
        return to_json(graph).encode()
    result = result or validate(graph)
    if fmt in (Format.SVG, Format.PNG):  # a picture, drawn even for a design with issues (they are marked)
        from export.diagram import ORIENTS, diagram_png, diagram_svg

        orient = orient or ORIENTS[0]
        if orient not in ORIENTS:
            raise ExportError([f"orient must be {' or '.join(ORIENTS)}, not {orient!r}"])
        if fmt is Format.SVG:
            return diagram_svg(graph, result, orient).encode()
        return diagram_png(graph, result, orient=orient)
    if orient is not None:
        raise ExportError(["orient: only the svg and png diagrams take it"])
    if fmt in (Format.SCRIPT, Format.IPYNB):
        return _training_file(graph, fmt, dataset, result, settings, data, options).encode()
    given = sorted(options) + ["settings"] * bool(settings) + ["data"] * (data is not None)
    if given:
        raise ExportError([f"{', '.join(given)}: only the training script and notebook take these options"])
    source = model_source(graph, result)
    if fmt is Format.PY:
        return source.code.encode()
    module = _weighted_model(source, model, state_dict, seed)
    label = (label or GIVEN_WEIGHTS_LABEL) if model is not None or state_dict is not None else UNTRAINED_LABEL
    if fmt is Format.WEIGHTS:
        return weights_bytes(module, source, label)
    if fmt is Format.ONNX:
        return onnx_bytes(module, source, label=label)
    if fmt is Format.PT2:
        return exported_program_bytes(module, source, label)
    return torchscript_bytes(module, source, label)


def export_text(graph: Graph, fmt: Format | str, **kwargs: Any) -> str:
    """The content of a text format (py, script, ipynb, json) as a string."""
    if not FORMATS[as_format(fmt)].text:
        raise ExportError([f"{fmt} is a binary format; use export_bytes"])
    return export_bytes(graph, fmt, **kwargs).decode()


def export(graph: Graph, fmt: Format | str, path: str | Path, **kwargs: Any) -> Path:
    """Write the export to ``path`` (ExportError for the design, OSError for the file system)."""
    data = export_bytes(graph, fmt, **kwargs)
    path = Path(path)
    path.write_bytes(data)
    return path


def _training_file(graph: Graph, fmt: Format, dataset: str | None, result: ValidationResult,
                   settings: Mapping[str, Any] | None, data: Any, options: dict[str, Any]) -> str:
    from export.script import generate_notebook, generate_script

    make = generate_script if fmt is Format.SCRIPT else generate_notebook
    try:
        return make(graph, dataset, result, settings=settings, data=data, **options)
    except CodegenError as err:
        raise ExportError(err.problems) from None


def _weighted_model(source: ModelSource, model: nn.Module | None,
                    state_dict: Mapping[str, torch.Tensor] | None, seed: int) -> nn.Module:
    """A CPU copy in eval mode: the caller's model is never moved or switched out of training mode."""
    if model is not None:
        state_dict = model.state_dict()
    with torch.random.fork_rng(devices=[]):  # seeding here must not disturb the caller's random stream
        fresh = build_model(source, seed=seed)
    if state_dict is not None:
        load_checked(fresh, state_dict, source)
    return fresh.eval()


def load_checked(module: nn.Module, state_dict: Mapping[str, torch.Tensor], source: ModelSource) -> None:
    """``load_state_dict(strict=True)``, with a message naming the layers when the weights don't fit."""
    # Wrappers rename the keys (DistributedDataParallel: "module.", torch.compile: "_orig_mod."): undo that.
    state = {k.removeprefix("_orig_mod.").removeprefix("module."): v.detach().cpu() for k, v in state_dict.items()}
    expected = module.state_dict()
    problems = [f"the weights have no ‘{k}’" for k in expected if k not in state]
    problems += [f"the weights hold ‘{k}’, which {source.class_name} does not have" for k in state if k not in expected]
    problems += [f"‘{k}’: the weights are {tuple(state[k].shape)} but the design needs {tuple(v.shape)}"
                 for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if problems:
        raise ExportError(problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else []))
    module.load_state_dict(state, strict=True)


def weights_bytes(module: nn.Module, source: ModelSource, label: str = UNTRAINED_LABEL) -> bytes:
    """The state dict as safetensors (no pickle); metadata names the class it loads into and the weights."""
    from safetensors.torch import save

    # safetensors refuses tensors that share memory; independent contiguous copies are always accepted.
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
    return save(tensors, metadata={"format": "pt", "class": source.class_name, "generator": "LayerLab",
                                   LABEL_KEY: label})


def read_label(data: bytes, fmt: Format | str) -> str | None:
    """The weights label a weights, onnx or torchscript file carries; None when it has none."""
    fmt = as_format(fmt)
    try:
        if fmt is Format.WEIGHTS:  # the documented layout: 8-byte little-endian header size, then JSON
            size = int.from_bytes(data[:8], "little")
            return (json.loads(data[8:8 + size]).get("__metadata__") or {}).get(LABEL_KEY)
        if fmt is Format.ONNX:
            import onnx

            props = onnx.load_from_string(data).metadata_props
            return next((p.value for p in props if p.key == LABEL_KEY), None)
        if fmt in (Format.TORCHSCRIPT, Format.PT2):  # zips: the extra file is read as text, nothing is loaded or run
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                name = next((n for n in archive.namelist() if n.endswith(f"/extra/{LABEL_KEY}")), None)
                return archive.read(name).decode("utf-8") or None if name else None
    except Exception as err:  # noqa: BLE001 - any reader's failure means "not such a file"
        raise ExportError([f"not a readable {fmt.value} file: {_first_line(err)}"]) from None
    raise ExportError([f"{fmt.value} files carry no weights label"])


def load_weights(source: ModelSource, data: bytes) -> nn.Module:
    """A new instance of the generated class with the safetensors ``data`` loaded (strict)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        state = load(data)
    except (SafetensorError, ValueError) as err:
        raise ExportError([f"not a safetensors file: {err}"]) from None
    module = build_model(source)
    load_checked(module, state, source)
    return module


def _names(source: ModelSource) -> tuple[list[str], list[str]]:
    inputs = [i.name for i in source.inputs]
    outputs = ["output"] if len(source.outputs) == 1 else [f"output_{k}" for k in range(len(source.outputs))]
    return inputs, outputs


def onnx_bytes(module: nn.Module, source: ModelSource, opset: int = 17, label: str = UNTRAINED_LABEL) -> bytes:
    """ONNX with a dynamic batch dimension on every input and output; the weights label in metadata_props."""
    return _with_onnx_label(_onnx_model(module, source, opset), label)


def _with_onnx_label(data: bytes, label: str) -> bytes:
    try:
        import onnx
    except ImportError:  # an optional dependency: the file stays valid, only unlabelled
        return data

    model = onnx.load_from_string(data)
    entry = model.metadata_props.add()
    entry.key, entry.value = LABEL_KEY, label
    return model.SerializeToString()


def _onnx_model(module: nn.Module, source: ModelSource, opset: int) -> bytes:
    """The TorchScript-based exporter takes ~20 ms where the dynamo one takes 1–2 s, and it handles every
    template; dynamo is the fallback for anything it refuses."""
    inputs, outputs = _names(source)
    args = example_batch(source, 2)
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice and tracer warnings
            torch.onnx.export(module, args, buffer, dynamo=False, input_names=inputs, output_names=outputs,
                              dynamic_axes={name: {0: "batch"} for name in inputs + outputs}, opset_version=opset)
        return buffer.getvalue()
    except Exception as legacy_error:  # torch raises many types here; the dynamo exporter gets its chance
        return _onnx_dynamo(module, source, args, inputs, outputs, legacy_error)


def _onnx_dynamo(module: nn.Module, source: ModelSource, args: tuple[torch.Tensor, ...], inputs: list[str],
                 outputs: list[str], legacy_error: Exception) -> bytes:
    import tempfile

    batch = torch.export.Dim("batch", min=1, max=4096)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, args, dynamo=True, input_names=inputs, output_names=outputs,
                                        dynamic_shapes=tuple({0: batch} for _ in args), verbose=False)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            program.save(str(path), external_data=False)
            return path.read_bytes()
    except Exception as err:
        raise ExportError([f"onnx: PyTorch could not export {source.class_name}: "
                           f"{_first_line(legacy_error)}; {_first_line(err)}"]) from None


def exported_program_bytes(module: nn.Module, source: ModelSource, label: str = UNTRAINED_LABEL) -> bytes:
    """``torch.export`` of the generated class, batch dimension dynamic where the model allows (export.pt2)."""
    from export.pt2 import Pt2Error, pt2_bytes

    try:
        return pt2_bytes(copy.deepcopy(module), source, {LABEL_KEY: label})
    except Pt2Error as err:
        raise ExportError([f"pt2: torch.export could not capture {source.class_name}: {err.reason}; the ONNX "
                           "or (legacy) TorchScript export may still work"]) from None


def torchscript_bytes(module: nn.Module, source: ModelSource, label: str = UNTRAINED_LABEL) -> bytes:
    """``torch.jit.script`` of the generated class (traced when it can't compile); the label as an extra file.
    Legacy: torch 2.13 deprecates ``torch.jit`` (script, trace, save); its warnings reach the caller (pt2 replaces it)."""
    module = copy.deepcopy(module).eval()
    with warnings.catch_warnings():
        # Only the tracer's notes about Python values it records as constants (the traced fallback): torch's
        # DeprecationWarnings for jit.script, trace and save reach the caller (the CLI says so in words too).
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        try:
            compiled = torch.jit.script(module)
        except Exception:  # e.g. a call TorchScript can't compile: tracing records the same computation
            try:
                compiled = torch.jit.trace(module, example_batch(source, 2), check_trace=False)
            except Exception as err:
                raise ExportError([f"torchscript: PyTorch could not compile or trace {source.class_name}: "
                                   f"{_first_line(err)}"]) from None
    buffer = io.BytesIO()
    torch.jit.save(compiled, buffer, _extra_files={LABEL_KEY: label})
    return buffer.getvalue()


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]
