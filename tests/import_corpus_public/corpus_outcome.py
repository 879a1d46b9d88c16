"""Import one corpus entry as `layerlab import` does and say how it went, in words: the bench prints these, the
ratchet test counts them. Nothing here catches more than the importer promises: a traceback is an outcome too."""

from __future__ import annotations

import time
import traceback
from typing import Any

from corpus import Entry
from export_refusal import export_refusal

# Words in a reason that mean a tensor operation has no block yet (the tensor-operation blocks work): an op with no
# block, indexing, a layer fed a constant (torch.arange positions), a parameter used directly.
_TENSOR_OPS = ("has no LayerLab block", "indexing", "not computed from the model's inputs", "Parameter")


def import_entry(entry: Entry) -> dict[str, Any]:
    """{'name', 'status': verified | imported | failed | traceback, 'reason', 'seconds', 'tensor_op'}."""
    from builder.project import load_project, to_json
    from builder.validate import validate
    from importer import ImportFailure, example_inputs, import_module
    from importer.source_file import construct

    started = time.perf_counter()
    out: dict[str, Any] = {"name": entry.name, "ref": entry.ref}
    try:
        model = construct(entry.path_ref, entry.args_json)
        dtypes = list(entry.dtypes) + ["float"] * (len(entry.inputs) - len(entry.dtypes))
        result = import_module(model, example_inputs(list(entry.inputs), dtypes, high=max(2, entry.vocab)))
    except ImportFailure as err:
        out.update(status="failed", reason=str(err))
    except Exception as err:  # noqa: BLE001 — counted: the issue's goal is none
        out.update(status="traceback", reason=f"{type(err).__name__}: {err}",
                   trace=traceback.format_exc(limit=-3))
    else:
        check = result.verification
        problems = [str(p) for p in result.problems]
        saved_ok, saved_issue = True, ""
        try:
            issues = validate(load_project(to_json(result.graph))).issues
            errors = [i for i in issues if i.severity.value == "error"]
            saved_ok, saved_issue = not errors, (errors[0].message if errors else "")
        except Exception as err:  # noqa: BLE001 — the project reader refusing its own file
            saved_ok, saved_issue = False, f"{type(err).__name__}: {err}"
        # Verified is the issue's word: same outputs AND the original state dict loading strictly, by its own key
        # names, into the generated code (by_name); weights copied across under the design's names don't count.
        if check is not None and check.same and check.by_name and not problems and saved_ok:
            out.update(status="verified", reason=check.note)
        else:
            why = problems[:3] + ([check.note] if check is not None and not (check.same and check.by_name) else [])
            if not saved_ok:
                why.append(f"the saved design is invalid: {saved_issue}")
            out.update(status="imported", reason="; ".join(why) or "not verified", first=why[0] if why else "")
        out["notes"] = list(result.notes)
    out["seconds"] = round(time.perf_counter() - started, 2)
    out["tensor_op"] = out["status"] != "verified" and any(w in out["reason"] for w in _TENSOR_OPS)
    return out


ONNX_EXPORTERS = {"dynamo": True, "torchscript": False}


def import_entry_onnx(entry: Entry, exporter: str) -> dict[str, Any]:
    """The entry exported as a user writes it (``torch.onnx.export(model, args, "model.onnx")``, dynamo or
    ``dynamo=False``, nothing else set) and imported from the folder as the CLI does: the same statuses as
    ``import_entry``; an export that torch itself refuses is 'export failed', not counted against the importer."""
    import contextlib
    import io
    import tempfile
    import warnings
    from pathlib import Path

    import torch

    from builder.project import load_project, to_json
    from builder.validate import validate
    from importer import ImportFailure, example_inputs
    from importer.onnx_external import folder_reader
    from importer.onnx_import import import_onnx
    from importer.source_file import construct

    started = time.perf_counter()
    out: dict[str, Any] = {"name": entry.name, "exporter": exporter}
    try:
        model = construct(entry.path_ref, entry.args_json).eval()
        dtypes = list(entry.dtypes) + ["float"] * (len(entry.inputs) - len(entry.dtypes))
        inputs = example_inputs(list(entry.inputs), dtypes, high=max(2, entry.vocab))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.onnx"
            try:
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                        contextlib.redirect_stderr(io.StringIO()), _quiet_fd(1):
                    warnings.simplefilter("ignore")
                    torch.onnx.export(model, inputs, str(path), dynamo=ONNX_EXPORTERS[exporter])
            except Exception as err:  # noqa: BLE001 — torch's exporter refusing the model: said in words
                out.update(status="export failed", reason=export_refusal(err, ONNX_EXPORTERS[exporter]))
                return out
            result = import_onnx(path.read_bytes(), file_name=path.name, beside=folder_reader(folder))
    except ImportFailure as err:
        out.update(status="failed", reason=str(err))
    except Exception as err:  # noqa: BLE001 — counted: the issue's goal is none
        out.update(status="traceback", reason=f"{type(err).__name__}: {err}")
    else:
        problems = [str(p) for p in result.problems]
        saved_ok = validate(load_project(to_json(result.graph))).valid
        check = result.verification
        if check is not None and check.same and not problems and saved_ok:
            out.update(status="verified", reason=check.note)
        else:
            why = problems[:3] + ([check.note] if check is not None and not check.same else [])
            if not saved_ok:
                why.append("the saved design does not validate")
            out.update(status="imported", reason="; ".join(why) or "not verified", first=why[0] if why else "")
    finally:
        out["seconds"] = round(time.perf_counter() - started, 2)
    return out


class _quiet_fd:
    """The exporter's C++ side prints its whole graph to file descriptor 1 when it fails: keep it off the table."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> None:
        import os
        import sys

        sys.stdout.flush()
        self.saved, self.null = os.dup(self.fd), os.open(os.devnull, os.O_WRONLY)
        os.dup2(self.null, self.fd)

    def __exit__(self, *exc: object) -> None:
        import os

        os.dup2(self.saved, self.fd)
        os.close(self.saved)
        os.close(self.null)
