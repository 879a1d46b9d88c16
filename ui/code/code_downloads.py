"""What the Code tab's downloads are made from: the design, plus

- the training settings for the script and notebook: the Train tab's (what the user sees there now), or those
  of a run chosen in the history with "Export this run";
- the weights for ONNX, TorchScript and safetensors: the newest of this session's finished run, a run loaded
  from the history or one chosen with "Export this run" — when it trained this very model — else untrained.

``export_source(graph)`` decides (no widgets); ``ui.code.panels`` draws the buttons and the labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from builder.graph import Graph

# export.files and training.runstore import torch: they are imported when the Code tab is drawn, not when the
# app starts (the first page load stays torch-free).

# The files the Code tab offers besides the model .py and project .json: (format, button label, suffix, mime),
# derived from export.formats (torch-free). The training files take settings, the others weights.
TRAINING_DOWNLOADS = ("script", "ipynb")
WEIGHT_DOWNLOADS = ("pt2", "onnx", "torchscript", "weights")

_CHECKS = "ll_export_checks"  # (run id, design) -> why the run's weights don't fit it ("" when they do)


@dataclass(frozen=True)
class ExportSource:
    """Where the Code tab's files come from."""

    settings: dict[str, Any]  # training settings for the script and notebook
    settings_from: str  # "the Train tab" or "run 12"
    label: str  # what the weights are: "trained: run 12, test accuracy 0.981" or UNTRAINED_LABEL
    state: Callable[[], dict[str, Any] | None] = field(default=lambda: None)  # the weights, read on demand
    note: str = ""  # why a run's weights are not used
    data: Any = None  # the Train tab's loaded upload (a CSV's columns and encoding), for the script


def download_info(fmt: str) -> tuple[str, str, str, str | None]:
    """(button label, file suffix, mime, legacy note or None) of a format, from its one definition."""
    from export.formats import FORMATS, LEGACY, Format

    info = FORMATS[Format(fmt)]
    return info.label, info.suffix, info.mime, LEGACY.get(info.format)


def forget_chosen_settings() -> None:
    from ui.train.runs_panel import CHOSEN_RUN

    chosen = st.session_state.get(CHOSEN_RUN)
    if chosen:
        st.session_state[CHOSEN_RUN] = (chosen[0], chosen[1], False)


def export_source(graph: Graph) -> ExportSource:
    from export.files import UNTRAINED_LABEL
    from ui.train.runs_panel import CHOSEN_RUN
    from ui.train.train_data import loaded_dataset
    from ui.train.train_panel import current_settings

    chosen = st.session_state.get(CHOSEN_RUN)
    settings, settings_from, data = current_settings(graph), "the Train tab", None
    if _is_upload(settings.get("dataset")):
        data = loaded_dataset()
    record = _record(chosen[0]) if chosen else None
    if record is not None and chosen[2]:
        settings, settings_from, data = dict(record.config), f"run {record.number}", None
    own = _own_run()
    if own is not None and (chosen is None or own[0] >= chosen[1]):
        label, state, note = _own_weights(graph, own[1])
    elif record is not None:
        label, state, note = _stored_weights(graph, record)
    else:
        label, state, note = UNTRAINED_LABEL, None, ""
    return ExportSource(settings, settings_from, label, state or (lambda: None), note, data)


def _is_upload(dataset: Any) -> bool:
    return str(dataset or "").lower().endswith((".csv", ".zip"))


def _record(run_id: str) -> Any:
    from training.runstore import RunStoreError
    from ui.train.runs_panel import get_store

    try:
        return get_store().get_run(run_id)
    except RunStoreError:
        return None  # deleted meanwhile, or the history can't be opened: nothing to export from


def _own_run() -> tuple[float, Any] | None:
    """(when it ended, RunResult) of this session's last run, once it has ended with weights."""
    from ui.train.train_panel import RUN

    run = st.session_state.get(RUN)
    handle = getattr(run, "handle", None)
    if handle is None or handle.state.active or handle.result is None or handle.finished is None:
        return None
    return handle.finished, handle.result


def _own_weights(graph: Graph, result: Any) -> tuple[str, Callable[[], dict[str, Any]] | None, str]:
    from codegen.fingerprint import design_mismatch
    from export.files import UNTRAINED_LABEL
    from training.runstore import trained_label
    if result.run_id:
        record = _record(result.run_id)
        if record is not None:
            return _stored_weights(graph, record)
    who = "this session's last run"
    problem = design_mismatch(graph, result.source, who)
    if problem:
        return UNTRAINED_LABEL, None, problem
    label = trained_label("this session's last run (not kept in the history)", result.status, _score(result))
    return label, lambda: result.model.state_dict(), ""


def _score(result: Any) -> tuple[str, float] | None:
    from training.metrics import headline

    name, value = headline(result.task, result.test_metrics)
    return (name, float(value)) if isinstance(value, (int, float)) else None


def _stored_weights(graph: Graph, record: Any) -> tuple[str, Callable[[], dict[str, Any]] | None, str]:
    """The record's weights when they belong to ``graph``; checked once per (run, design) and session."""
    from builder.project import dump_project
    from export.files import UNTRAINED_LABEL
    from training.runstore import RunStoreError
    from ui.train.runs_panel import get_store

    store = get_store().store  # the shared store itself: the download thread has no session state
    cache_key = (record.id, repr(dump_project(graph)))
    cache = st.session_state.setdefault(_CHECKS, {})
    if cache_key not in cache:
        if len(cache) > 32:  # one entry per edit of the design: keep the newest few
            cache.clear()
        try:
            store.trained_weights(record.id, graph)
            cache[cache_key] = ""
        except RunStoreError as err:
            cache[cache_key] = str(err)
    if cache[cache_key]:
        return UNTRAINED_LABEL, None, cache[cache_key]
    return record.weights_label, lambda: store.weights_state(record.id), ""


def deferred(graph: Graph, fmt: str, source: ExportSource) -> Callable[[], bytes]:
    """The export, made on click in Streamlit's download thread, where an exception would vanish silently."""

    def make() -> bytes:
        from export.files import export_bytes

        try:
            if fmt in ("script", "ipynb"):
                return export_bytes(graph, fmt, settings=source.settings, data=source.data)
            state = source.state()
            return export_bytes(graph, fmt, state_dict=state, label=source.label if state is not None else None)
        except Exception as err:  # noqa: BLE001 - whatever failed, the user gets the reason in the file
            return f"LayerLab could not export this design as {fmt}: {err}\n".encode()

    return make
