"""Bring your own model in the app: the project upload also takes an ONNX file (only read, never run) and, when
the app serves one person on this machine, a PyTorch file (which runs that file's code, so never on a shared
classroom server). Each import shows its report: "verified — same outputs (max diff …)" or what differs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from builder.settings import settings
from ui.common import state
from ui.common.serving import serves_this_machine_alone

REPORT_KEY = "ll_import_report"  # (file name, ok, report lines) of the last import
PYTHON_KEY = "ll_import_python"  # (file name, bytes) of a .py upload waiting for its class and input shape


def runs_code_allowed(address: str | None) -> bool:
    """True only when the server listens on this machine alone: then the person uploading a .py is the person
    whose machine runs it. Streamlit's default (no address) listens on every interface: not allowed."""
    return serves_this_machine_alone(address)


def _local() -> bool:
    return runs_code_allowed(st.get_option("server.address"))


def upload_types() -> list[str]:
    """What the project upload accepts here."""
    return ["json", "onnx", "py"] if _local() else ["json", "onnx"]


def upload_label() -> str:
    if _local():
        return "Load a project (.json), or import a model (.onnx, or .py: runs its code, this machine only)"
    return "Load a project (.json) or import an ONNX model (.onnx)"


def handle_upload(name: str, data: bytes) -> bool:
    """Import an uploaded model; False when the upload is a project file for the usual path."""
    lower = name.lower()
    if lower.endswith(".onnx"):
        _import_onnx(name, data)
        return True
    if lower.endswith(".py"):
        if not _local():  # the uploader doesn't offer .py here; a crafted request still gets a plain refusal
            state.flash("error", "Python files run their code, so they are imported only when LayerLab serves one "
                                 "person on this machine (not in classroom mode). Upload an .onnx export instead.")
        else:
            st.session_state[PYTHON_KEY] = (name, data)
        return True
    return False


def _import_onnx(name: str, data: bytes) -> None:
    from importer import ImportFailure

    try:
        from importer.onnx_import import import_onnx
    except ModuleNotFoundError as err:  # an install without LayerLab's dependencies (pip --no-deps)
        state.flash("error", f"‘{name}’ can't be imported: ONNX support needs the package {err.name!r}; install "
                             "LayerLab with its dependencies (pip install -e .) or pip install onnx onnxruntime")
        return

    limit = settings().max_upload_bytes
    if len(data) > limit:
        state.flash("error", f"‘{name}’ is {len(data) / 1e6:.1f} MB; uploads here are limited to "
                             f"{settings().max_upload_mb} MB (setting max_upload_mb).")
        return
    try:
        result = import_onnx(data, file_name=name)  # one file arrives: weights kept beside it are refused in words
    except ImportFailure as err:
        state.flash("error", f"‘{name}’ can't be imported: {err}")
        return
    _opened(name, result)


def _opened(name: str, result: object) -> None:
    from importer import ImportResult

    assert isinstance(result, ImportResult)
    state.replace_graph(result.graph)
    check = result.verification
    ok = bool(check and check.same and not result.problems)
    st.session_state[REPORT_KEY] = (name, ok, result.report_lines())
    state.flash("success" if ok else "warning", f"Imported ‘{name}’: {check.note if check else 'not verified'}")


def _import_python(name: str, data: bytes, class_name: str, shape_text: str, dtype: str) -> None:
    from importer import ImportFailure, example_inputs, import_module
    from importer.source_file import construct

    try:
        shape = tuple(int(d) for d in shape_text.lower().replace(",", "x").split("x") if d.strip())
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        state.flash("error", f"Input shape {shape_text!r}: expected sizes like 3x32x32 (one sample, no batch).")
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(name).name
        path.write_bytes(data)
        try:
            model = construct(f"{path}:{class_name}")
            result = import_module(model, example_inputs([shape], [dtype], high=2))
        except ImportFailure as err:
            state.flash("error", f"‘{name}’ can't be imported: {err}")
            return
    st.session_state.pop(PYTHON_KEY, None)
    _opened(name, result)


def render_import_status() -> None:
    """Below the upload: the .py form when one waits, and the last import's report."""
    pending = st.session_state.get(PYTHON_KEY)
    if pending is not None and _local():
        name, data = pending
        st.caption(f"‘{name}’ is Python: importing it runs its code on this machine.")
        with st.form("import_python"):
            class_name = st.text_input("Model class", placeholder="e.g. ResNet")
            shape = st.text_input("Input shape (one sample, without the batch)", placeholder="3x32x32")
            dtype = st.selectbox("Input values", ["float", "long"], help="long: token ids for an Embedding")
            if st.form_submit_button("Import model"):
                _import_python(name, data, class_name.strip(), shape, dtype)
                st.rerun()
    report = st.session_state.get(REPORT_KEY)
    if report is not None:
        name, ok, lines = report
        text = "\n".join(f"- {line.strip()}" for line in lines)
        (st.success if ok else st.warning)(f"Import of ‘{name}’:\n{text}")
