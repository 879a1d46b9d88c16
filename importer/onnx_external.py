"""Weights kept beside an ONNX file (external data): torch's default exporter writes them to ``model.onnx.data``.

A file names the files holding its weights; they are read only where they sit beside it, by plain file name. A
name that reaches anywhere else (a folder, ``..``, an absolute path) is refused: a file must never make LayerLab
read an arbitrary path. ``beside`` gives the bytes of a named neighbour (the CLI reads the folder, the app the
files uploaded together), or None where it isn't there.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath, PureWindowsPath

import onnx
from onnx.external_data_helper import ExternalDataInfo

from importer.report import ImportFailure

Beside = Callable[[str], "bytes | None"]
HOW = ("export the weights inside the file: torch.onnx.export(..., external_data=False); or keep the two files "
       "side by side and import from the command line: layerlab import model.onnx")


def _info(tensor: onnx.TensorProto) -> ExternalDataInfo:
    try:
        return ExternalDataInfo(tensor)
    except (ValueError, TypeError) as err:  # an offset or length that isn't a number
        raise ImportFailure("an ONNX file", tensor.name, f"where its weights are kept can't be read ({err})",
                            "export the model again") from None


def external_files(model: onnx.ModelProto) -> list[str]:
    """The files the model's weights are kept in, in the order they are first named."""
    names: list[str] = []
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            location = _info(tensor).location
            if location not in names:
                names.append(location)
    return names


def plain_name(location: str) -> bool:
    """A file in the model's own folder: no folder part, no '..', not absolute, on any system."""
    if not location or location in (".", "..") or "\x00" in location:
        return False
    return PurePosixPath(location).name == location and PureWindowsPath(location).name == location


def attach(model: onnx.ModelProto, beside: Beside | None, label: str = "the ONNX file") -> bool:
    """Read the weights kept in files beside the model into it; False where it keeps none there."""
    names = external_files(model)
    if not names:
        return False
    for name in names:
        if not plain_name(name):
            raise ImportFailure("an ONNX file", "", f"its weights are said to be in {name!r}, which is not a file "
                                "beside it; LayerLab reads weight files only from the model's own folder",
                                "export it again with torch.onnx.export")
    contents: dict[str, bytes] = {}
    for name in names:
        data = beside(name) if beside is not None else None
        if data is None:
            raise ImportFailure("an ONNX file", "", f"{label} keeps its weights in a separate file, {name!r}, "
                                "which is not here", HOW)
        contents[name] = data
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = _info(tensor)
        data = contents[info.location]
        start = int(info.offset or 0)
        end = len(data) if info.length is None else start + int(info.length)
        if start < 0 or end > len(data):
            raise ImportFailure("an ONNX file", tensor.name, f"its weights run past the end of {info.location!r} "
                                f"({end} of {len(data)} bytes)", "export the model again; the two files don't match")
        tensor.raw_data = data[start:end]
        tensor.data_location = onnx.TensorProto.DEFAULT
        del tensor.external_data[:]
    return True


def folder_reader(folder: str) -> Beside:
    """Neighbours of a model file on disk, by plain name only (``attach`` has refused any other name)."""
    from pathlib import Path

    base = Path(folder).resolve()

    def read(name: str) -> bytes | None:
        path = (base / name).resolve()
        if not plain_name(name) or path.parent != base or not path.is_file():
            return None
        return path.read_bytes()
    return read
