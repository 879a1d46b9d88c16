"""No traceback reaches a user from an import: an error LayerLab didn't foresee becomes an ImportFailure in words.

The message names the model (its class and the file and line that define it, or the line of the model's own code
the error came from, when it did) and the stage that failed, so a user knows what to send with a report and
whether their model or LayerLab is at fault.
"""

from __future__ import annotations

import inspect
import os
import sysconfig
import traceback
from typing import Any

from importer.report import ImportFailure

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # LayerLab's checkout
_OURS = tuple(os.path.join(_ROOT, package) + os.sep for package in ("builder", "codegen", "importer", "cli", "ui"))
_LIBRARIES = ("site-packages", "dist-packages")  # torch's frames, and any installed library's
_STDLIB = sysconfig.get_paths()["stdlib"]


def unexpected(module: Any, stage: str, err: Exception) -> ImportFailure:
    """An ImportFailure for ``err``, raised while ``stage`` ran on ``module``."""
    if isinstance(err, ImportFailure):
        return err
    name = type(module).__name__
    line = _model_line(err)
    detail = f"{stage} failed with {type(err).__name__}: {_first_line(err)}"
    if line:  # the model's own code raised it: verification runs it on another batch size than the example's
        todo = (f"{name}'s code at {line} raised it while LayerLab ran the model; make that line work for any "
                "batch size (read sizes from the tensor, e.g. x.reshape(x.size(0), -1)) and import again")
    else:
        todo = (f"the error is in LayerLab, not in {name}'s code: try importing a submodule of it, or export it "
                "to ONNX and import the .onnx file, and report this message")
    return ImportFailure(f"importing {name}", line or _defined_at(type(module)), detail, todo)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else "no message")[:300]


def _model_line(err: Exception) -> str:
    """``file.py:42`` of the deepest frame in the user's code (not LayerLab's or torch's), if the error passed one."""
    found = ""
    for frame in traceback.extract_tb(err.__traceback__):
        name = frame.filename
        if not name.startswith(("<", _STDLIB, *_OURS)) and not any(part in name for part in _LIBRARIES):
            found = f"{os.path.basename(name)}:{frame.lineno}"
    return found


def _defined_at(cls: type) -> str:
    try:
        _, line = inspect.getsourcelines(cls)
        return f"{os.path.basename(inspect.getsourcefile(cls) or '?')}:{line} (class {cls.__name__})"
    except (OSError, TypeError):
        return f"class {cls.__name__}"
