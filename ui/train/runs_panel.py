"""Run history from the SQLite store: a table of past runs, curves of several runs overlaid, and for one run
its design back on the canvas (with its weights) or its weights as a download.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from training.run_table import KEY_SETTINGS, final_metrics, format_value, run_rows
from training.settings import setting_label
from ui.train import charts
from ui.train.run_continue import ContinueCallback, render_continue_actions

_STORE = "ll_run_store"
LOADED_RUN = "ll_loaded_run"  # the run whose weights the Train panel shows results for
ALL_RUNS_LABEL = "Show all runs on this server"
CHOSEN_RUN = "ll_export_run"  # (run id, time.monotonic() when chosen, whether its settings are wanted too)


def choose_run(run_id: str, with_settings: bool) -> None:
    """The history's "Export this run" (settings and weights) and "Load" (weights) buttons."""
    st.session_state[CHOSEN_RUN] = (run_id, time.monotonic(), with_settings)


class SessionStore:
    """The run store as one browser session uses it: every call goes to the shared store, and the ids of the
    runs this session starts are remembered, so the history can show a student only their own runs.

    ``start_run`` is called from the worker thread; appending to a list is atomic, and readers copy it."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.started: list[str] = []

    def __getattr__(self, name: str) -> Any:  # everything but start_run is the store's own
        if name == "store":  # not set yet (a copy being made): no endless recursion
            raise AttributeError(name)
        return getattr(self.store, name)

    def start_run(self, *args: Any, **kwargs: Any) -> str:
        run_id = self.store.start_run(*args, **kwargs)
        self.started.append(run_id)
        return run_id


def _open_store() -> Any:
    """The shared store in the server's data folder (``builder.settings.data_dir``)."""
    from builder.settings import data_dir
    from training.runstore import RunStore

    return RunStore(data_dir() / "runs.sqlite")


def get_store() -> SessionStore:
    """This session's handle on the run store (the database itself is shared through its file); raises
    RunStoreError when the file can't be used (and tries again on the next run)."""
    if _STORE not in st.session_state:
        st.session_state[_STORE] = SessionStore(_open_store())
    return st.session_state[_STORE]


def visible_runs(store: Any, started: list[str], show_all: bool, limit: int) -> list[Any]:
    """The runs the history lists, newest first: every run on the server, or only those in ``started``
    (this session's; a run deleted meanwhile is skipped)."""
    from training.runstore import RunStoreError

    if show_all:
        return store.list_runs(limit=limit)
    records = []
    for run_id in reversed(started[-limit:]):
        try:
            records.append(store.get_run(run_id))
        except RunStoreError:
            continue  # deleted, e.g. by the teacher from the CLI
    return sorted(records, key=lambda r: r.created, reverse=True)


# ---- pure helpers ------------------------------------------------------------------------------------
def history_table(records: list[Any]) -> pd.DataFrame:
    """The history as a table: run number, the settings that tell the runs apart (optimizer, learning rate,
    seed, epochs, data and any other that differs) and the final test metrics as columns, then how it ended."""
    frame = pd.DataFrame(run_rows(records))
    frame["Message"] = [r.message for r in records]
    frame["ID"] = [r.id for r in records]  # what `--run` also takes, and what a test can find a run by
    return frame


def run_label(record: Any, settings: tuple[str, ...] = KEY_SETTINGS) -> str:
    """'run 12 · digits_cnn · adam, lr 0.001, seed 0': the number `--run N` takes and what sets it apart."""
    parts = [f"{_short(name)} {format_value(record.config.get(name))}" for name in settings
             if name in record.config and name != "optimizer"]
    optimizer = record.config.get("optimizer")
    shown = ", ".join(([str(optimizer)] if optimizer else []) + parts)
    return f"run {record.number} · {record.name} · {record.dataset} · {shown}"


def _short(name: str) -> str:
    return "lr" if name == "lr" else setting_label(name).lower()


def epoch_metric_names(epochs: list[dict[str, Any]]) -> list[str]:
    """Numeric per-epoch metrics, losses first."""
    names = {k for e in epochs for k, v in e.items() if isinstance(v, (int, float)) and k != "epoch"}
    return sorted(names, key=lambda n: (not n.endswith("loss"), n))


def overlay_series(records: list[Any], metric: str) -> dict[str, tuple[list[float], list[float]]]:
    """run label -> (epochs, values) for the epochs that recorded ``metric``."""
    series = {}
    for record in records:
        points = [
            (e.get("epoch", i + 1), e[metric])
            for i, e in enumerate(record.epochs)
            if isinstance(e.get(metric), (int, float))
        ]
        series[run_label(record)] = ([p[0] for p in points], [p[1] for p in points])
    return series


@dataclass
class LoadedResult:
    """A past run rebuilt for the result views: the graph's generated model with the run's weights."""

    run_id: str
    model: Any
    source: Any
    plan: Any
    test_metrics: dict[str, Any]
    epochs: int
    seconds: float
    samples_per_s: float
    notes: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # per epoch, as the run recorded it


def loaded_result(store: Any, run_id: str, graph: Any, dataset: Any) -> LoadedResult:
    """Rebuild run ``run_id`` for ``graph`` on ``dataset``; raises RunStoreError or FitError when that fails."""
    from codegen.loader import build_model
    from training.engine import TrainConfig, prepare

    record = store.get_run(run_id)
    config = TrainConfig.from_dict({**record.config, "device": "cpu"})
    source, plan = prepare(graph, dataset, config)[:2]  # (source, plan, ...)
    model = store.load_weights(run_id, build_model(source))
    metrics = record.metrics
    note = f"weights of run {record.name} · {record.dataset} · {run_id} ({record.status})"
    return LoadedResult(
        run_id,
        model,
        source,
        plan,
        dict(metrics.get("test") or {}),
        int(metrics.get("epochs") or 0),
        float(metrics.get("seconds") or 0.0),
        float(metrics.get("samples_per_s") or 0.0),
        [note],
        list(record.epochs),
    )


# ---- the panel ----------------------------------------------------------------------------------------
def render_runs_panel(
    on_load: Callable[[Any, str], None] | None = None, key: str = "runs", limit: int = 200,
    on_continue: ContinueCallback | None = None,
) -> None:
    """The history. ``on_load(graph, run_id)`` puts a past run's design back on the canvas; ``on_continue(graph,
    dataset, config, run_id)`` resumes a run (ui.train.run_continue).

    On a shared (classroom) server everybody's runs are in one store: by default a session sees only the runs
    it started; "Show all runs on this server" (for the teacher, or a user's earlier visits) lists them all."""
    from training.runstore import RunStoreError

    show_all = st.toggle(ALL_RUNS_LABEL, key=f"{key}_all",
                         help="Off: only the runs started in this browser tab since it was opened. On: every run "
                              "kept on this server, by anyone (e.g. the teacher's view of a class, or your runs "
                              "from an earlier visit).")
    try:
        store = get_store()
        records = visible_runs(store, list(store.started), show_all, limit)
    except RunStoreError as err:
        st.error(f"The run history can't be shown: {err}")
        return
    if not records:
        st.info("No runs on this server yet." if show_all else
                "No runs in this session yet: start one above and it will be listed here.")
        return
    st.dataframe(history_table(records), hide_index=True, width="stretch")
    st.caption("`Run` is the number `layerlab export --run N` takes. Settings columns: the usual suspects "
               "(optimizer, learning rate, seed, epochs) and any other setting these runs do not share; "
               "test columns: the final metrics, regression errors in the target's own units.")
    by_label = {run_label(r): r for r in records}
    # Keyed by the newest run: when a run is added, the selection starts again from it.
    chosen = st.multiselect(
        "Compare runs", list(by_label), default=list(by_label)[:1], key=f"{key}_pick_{records[0].id}"
    )
    try:
        picked = [store.get_run(by_label[c].id) for c in chosen]  # with their epochs
    except RunStoreError as err:  # deleted meanwhile, or the file went bad
        st.error(str(err))
        return
    if not picked:
        return
    _overlay(picked, key)
    if len(picked) == 1:
        _single_run_actions(store, picked[0], on_load, key)
        render_continue_actions(store, picked[0], on_continue, key)


def _overlay(records: list[Any], key: str) -> None:
    names = epoch_metric_names([e for r in records for e in r.epochs])
    if not names:
        st.caption("These runs recorded no epochs.")
        return
    metric = st.selectbox("Metric", names, key=f"{key}_metric")
    st.plotly_chart(charts.runs_overlay_chart(overlay_series(records, metric), metric), key=f"{key}_overlay")


def _single_run_actions(
    store: Any, record: Any, on_load: Callable[[Any, str], None] | None, key: str
) -> None:
    finals = final_metrics(record.metrics, record.config)
    if finals:
        st.caption("Final metrics: " + ", ".join(f"{k} {format_value(v)}" for k, v in finals.items()))
    left, middle, right = st.columns(3)
    if on_load is not None and left.button("Load this design and its weights", key=f"{key}_load"):
        _load(record, on_load)
    middle.button("Export this run", key=f"{key}_export", on_click=choose_run, args=(record.id, True),
                  help="The Code tab's training script and notebook then use this run's settings, and its ONNX, "
                       "TorchScript and weights downloads this run's weights (when the design is the one it "
                       "trained).")
    chosen = st.session_state.get(CHOSEN_RUN)
    if chosen and chosen[0] == record.id and chosen[2]:
        middle.caption("✓ The Code tab's downloads follow this run.")
    weights = Path(record.weights) if record.weights else None
    if weights is None:
        right.caption(f"This run saved no weights (it ended {record.status}).")
        return
    try:
        data = weights.read_bytes()
    except OSError as err:  # moved, deleted or unreadable: the curves above are still worth seeing
        right.warning(f"The weights file of this run can't be read ({err.strerror or err}): {weights} "
                      "was moved or deleted. Its curves and metrics are still here.")
        return
    right.download_button(
        "Download weights (.safetensors)",
        data,
        file_name=f"{record.name}-{record.id}.safetensors",
        mime="application/octet-stream",
        key=f"{key}_download",
    )


def _load(record: Any, on_load: Callable[[Any, str], None]) -> None:
    from builder.project import ProjectError, load_project

    try:
        graph = load_project(record.graph)
    except ProjectError as err:
        st.error("This run's design can't be loaded: " + "; ".join(err.problems))
        return
    st.session_state[LOADED_RUN] = record.id
    choose_run(record.id, with_settings=False)  # the Code tab's weights downloads follow the loaded run
    on_load(graph, record.id)
    st.rerun()  # draw the loaded design and its results at once
