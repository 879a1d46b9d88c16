"""The export formats and how their files are named; torch-free so the CLI's --help stays instant.

TorchScript is legacy: torch 2.13 warns that ``torch.jit`` (script, trace, save) is deprecated and points to
``torch.export``, which the pt2 format is. LEGACY says so wherever formats are offered (CLI help, the Code tab)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Format(str, Enum):
    PY = "py"
    SCRIPT = "script"
    IPYNB = "ipynb"
    ONNX = "onnx"
    PT2 = "pt2"  # torch.export: the deployable format PyTorch recommends
    TORCHSCRIPT = "torchscript"  # legacy: torch.jit is deprecated from torch 2.13
    WEIGHTS = "weights"
    JSON = "json"
    SVG = "svg"  # a picture of the design (export.diagram)
    PNG = "png"


@dataclass(frozen=True)
class FormatInfo:
    format: Format
    label: str  # for buttons and help texts
    suffix: str  # appended to the design's name to make a file name
    mime: str
    text: bool  # the content is UTF-8 text


FORMATS: dict[Format, FormatInfo] = {info.format: info for info in (
    FormatInfo(Format.PY, "PyTorch model (.py)", ".py", "text/x-python", True),
    FormatInfo(Format.SCRIPT, "Training script (.py)", "_train.py", "text/x-python", True),
    FormatInfo(Format.IPYNB, "Jupyter notebook (.ipynb)", ".ipynb", "application/x-ipynb+json", True),
    FormatInfo(Format.ONNX, "ONNX model (.onnx)", ".onnx", "application/octet-stream", False),
    FormatInfo(Format.PT2, "torch.export program (.pt2)", ".pt2", "application/octet-stream", False),
    FormatInfo(Format.TORCHSCRIPT, "TorchScript (.pt, legacy)", "_scripted.pt", "application/octet-stream", False),
    FormatInfo(Format.WEIGHTS, "Weights (.safetensors)", ".safetensors", "application/octet-stream", False),
    FormatInfo(Format.JSON, "LayerLab project (.json)", ".json", "application/json", True),
    FormatInfo(Format.SVG, "Diagram (.svg)", ".svg", "image/svg+xml", True),
    FormatInfo(Format.PNG, "Diagram (.png)", ".png", "image/png", False),
)}

LEGACY: dict[Format, str] = {
    Format.TORCHSCRIPT: "legacy: torch.jit (script, trace, save) is deprecated since torch 2.13 (\"please "
                        "switch to torch.export\"); pt2 is its successor",
}
