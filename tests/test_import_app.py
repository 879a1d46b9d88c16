"""Importing in the app: an uploaded ONNX file opens verified with its report; a .py upload (which runs code) is
offered and accepted only when the app serves this machine alone, never on a shared (classroom) server."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.test_import_onnx import exported
from ui.project import import_panel


def _page() -> None:
    import streamlit as st

    from ui.common import state
    from ui.project import import_panel

    state.bootstrap()
    upload = st.session_state.pop("test_upload", None)
    if upload is not None:
        import_panel.handle_upload(*upload)
    state.show_flashes()
    import_panel.render_import_status()
    st.write(f"types={','.join(import_panel.upload_types())} nodes={len(state.graph().nodes)}")


def _run(monkeypatch: pytest.MonkeyPatch, local: bool, upload: tuple[str, bytes]) -> AppTest:
    monkeypatch.setattr(import_panel, "_local", lambda: local)
    at = AppTest.from_function(_page, default_timeout=60)
    at.session_state["test_upload"] = upload
    return at.run()


def test_only_a_loopback_server_runs_uploaded_code():
    assert import_panel.runs_code_allowed("127.0.0.1") and import_panel.runs_code_allowed("localhost")
    for address in ("0.0.0.0", "", None, "192.168.1.20", "::"):
        assert not import_panel.runs_code_allowed(address)


@pytest.mark.parametrize("name, nodes", [("lenet", None), ("gpt", 6)])
def test_an_onnx_upload_opens_verified_with_its_report(monkeypatch, name, nodes):
    at = _run(monkeypatch, local=False, upload=(f"{name}.onnx", exported(name)))
    assert not at.exception
    [report] = at.success
    assert f"Import of ‘{name}.onnx’" in report.value and "verified — same outputs as onnxruntime" in report.value
    assert "types=json,onnx nodes=" in at.markdown[-1].value and "nodes=1 " not in at.markdown[-1].value
    if nodes is not None:  # GPT opens as blocks: tokens, positions, the repeated decoder block, norm, head
        assert f"nodes={nodes} " in at.markdown[-1].value + " "


def test_a_python_upload_is_refused_on_a_shared_server(monkeypatch):
    at = _run(monkeypatch, local=False, upload=("model.py", b"raise SystemExit('must not run')\n"))
    assert not at.exception
    assert any("only when LayerLab serves one person on this machine" in e.value for e in at.error)
    assert not at.text_input  # no form: nothing will run it


def test_a_python_upload_on_this_machine_asks_for_the_class_and_imports(monkeypatch):
    source = Path("tests/import_corpus/vision.py").read_bytes()
    at = _run(monkeypatch, local=True, upload=("vision.py", source))
    assert "runs its code on this machine" in at.caption[0].value
    at.text_input[0].input("MLP")
    at.text_input[1].input("20")
    at.button[0].click().run()
    assert not at.exception
    [report] = at.success
    assert "verified — same outputs" in report.value
