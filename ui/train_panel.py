"""The Train tab: data, fit check with one-click fixes, hyper-parameters, Start/Stop, live curves, results
and run history.

``render_train_panel(graph, result, on_fix=None, on_load=None)`` is the entry point. Training runs in a worker
thread owned by ``ui.run_manager`` (capped per server, queued, stopped when the page goes away); this module
only submits work and reads what the worker wrote.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from builder.settings import settings
from ui import train_data
from ui.run_manager import RunHandle, get_manager, session_alive
from ui.runs_panel import LOADED_RUN
from ui.train_live import render_live

RUN = "ll_train_run"  # this session's ActiveRun
_LOADED_CACHE = "ll_train_loaded"  # (key, LoadedResult) of a run reloaded from the history
LIVE_BOUNDARY_INTERVAL = 0.4  # seconds between live decision-boundary redraws in the worker

FixCallback = Callable[[str, Any], None]  # (node id, builder Fix)
LoadCallback = Callable[[Any, str], None]  # (graph, run id)


@dataclass
class ActiveRun:
    """A run of this session: the worker's handle plus what it was started with."""

    handle: RunHandle | None
    graph: Any
    dataset: Any
    config: Any
    task: str
    note: str = ""  # shown above the live view (e.g. the history is unavailable)
    plan: Any = None  # the engine's TaskPlan, for live views
    boundary: Any = None  # (xs, ys, values) drawn while training on 2-D data
    boundary_at: float = 0.0


def render_train_panel(
    graph: Any,
    result: Any,
    on_fix: FixCallback | None = None,
    on_load: LoadCallback | None = None,
    key: str = "train",
) -> None:
    """Draw the Train panel for ``graph`` (``result`` is its ValidationResult)."""
    defaults = dict(graph.meta.get("training") or {})
    prefix = f"{key}_{_digest(graph.name, defaults)}"  # widgets reset to a new template's defaults
    data_col, settings_col = st.columns([3, 2], gap="large")
    with settings_col:
        config = render_settings(defaults, prefix)
    with data_col:
        dataset = _data_section(graph, defaults, config.seed, prefix)
    ready = dataset is not None and fit_section(graph, result, dataset, config, on_fix, key)
    _controls(graph, dataset, config, ready, key)
    run: ActiveRun | None = st.session_state.get(RUN)
    loaded = st.session_state.get(LOADED_RUN)
    if run is not None and (run.handle.state.active or not loaded):
        _run_section(run, key)
    elif loaded and dataset is not None:
        _loaded_section(loaded, graph, dataset, key)
    from ui.runs_panel import render_runs_panel

    with st.expander("Run history", expanded=False):
        render_runs_panel(on_load, key=f"{key}_runs")


def _digest(name: str, defaults: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([name, defaults], sort_keys=True, default=str).encode()).hexdigest()[:8]


# ---- data ---------------------------------------------------------------------------------------------------
def _data_section(graph: Any, defaults: dict[str, Any], seed: int, prefix: str) -> Any:
    st.markdown("**Data**")
    defaults = {**defaults, "dataset_options": _suggested_options(graph, defaults)}
    choice = train_data.render_picker(defaults, prefix)
    if choice is None:
        return None
    with st.spinner("Loading the data…"):
        dataset, error = train_data.load_choice(choice, seed)
    if error:
        st.error(error)
        return None
    with st.expander("Preview", expanded=False):
        train_data.render_preview(dataset, prefix)
    return dataset


def _suggested_options(graph: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    """The template's dataset options, adjusted to the graph's Input shapes (e.g. digits at 28×28)."""
    from data.datasets import suggest_options

    options = dict(defaults.get("dataset_options") or {})
    name = defaults.get("dataset")
    shapes = [tuple(n.params.get("shape") or ()) for n in graph.inputs()]
    if name and shapes and all(shapes):
        options.update(suggest_options(name, shapes))
    return options


# ---- fit check ----------------------------------------------------------------------------------------------
def fit_problems(graph: Any, result: Any, dataset: Any, config: Any) -> list[Any]:
    """Why the graph can't train on ``dataset`` (FitProblems; empty when it can)."""
    from codegen.source import CodegenError, generate_model
    from training.tasks import FitProblem, check_fit

    if not result.valid:
        first = result.errors[0]
        where = f"‘{first.node}’: " if first.node else ""
        return [
            FitProblem(
                f"the design has {len(result.errors)} error(s) to fix first — {where}{first.message}",
                first.node,
                first.fix,
            )
        ]
    try:
        source = generate_model(graph, result)
    except CodegenError as err:
        return [FitProblem(p) for p in err.problems]
    problems = [FitProblem(p) for p in config.problems()]
    _, fit = check_fit(graph, source, result, dataset, config.loss, config.task, config.label_smoothing)
    return problems + fit


def fit_section(
    graph: Any, result: Any, dataset: Any, config: Any, on_fix: FixCallback | None, key: str
) -> bool:
    problems = fit_problems(graph, result, dataset, config)
    if not problems:
        st.success(f"✓ The model fits {dataset.name}: ready to train.")
        return True
    for i, problem in enumerate(problems):
        st.warning(problem.message)
        if problem.fix is not None and problem.node and on_fix is not None:
            st.button(
                problem.fix.label, key=f"{key}_fix_{i}", on_click=on_fix, args=(problem.node, problem.fix)
            )
    return False


# ---- settings -----------------------------------------------------------------------------------------------
def render_settings(defaults: dict[str, Any], prefix: str) -> Any:
    """Hyper-parameter widgets, seeded from the template's meta.training; returns a TrainConfig."""
    from training.engine import TrainConfig

    base = TrainConfig.from_dict(defaults)
    st.markdown("**Training**")
    left, right = st.columns(2)
    most = settings().max_epochs  # the server's limit (LAYERLAB_MAX_EPOCHS)
    epochs = int(left.number_input("Epochs", 1, most, min(int(base.epochs), most), key=f"{prefix}_epochs"))
    batch = int(right.number_input("Batch size", 1, 65_536, int(base.batch_size), key=f"{prefix}_batch"))
    lr = float(
        left.number_input("Learning rate", 1e-6, 10.0, float(base.lr), format="%g", key=f"{prefix}_lr")
    )
    optimizer = _select(right, "Optimizer", _optimizers(), base.optimizer, f"{prefix}_opt")
    with st.expander("More settings"):
        extra = _more_settings(base, prefix)
    config = TrainConfig.from_dict(
        {**base.to_dict(), "epochs": epochs, "batch_size": batch, "lr": lr, "optimizer": optimizer, **extra}
    )
    st.caption(f"Device: **{device_label(config.device)}**")
    return config


def _more_settings(base: Any, prefix: str) -> dict[str, Any]:
    from training.device import AMP_MODES, DEVICES
    from training.optim import SCHEDULES
    from training.tasks import LOSSES

    a, b = st.columns(2)
    values: dict[str, Any] = {
        "schedule": _select(a, "LR schedule", SCHEDULES, base.schedule, f"{prefix}_sched"),
        "loss": _select(b, "Loss", LOSSES, base.loss, f"{prefix}_loss"),
        "weight_decay": float(
            a.number_input(
                "Weight decay", 0.0, 1.0, float(base.weight_decay), format="%g", key=f"{prefix}_wd"
            )
        ),
        "label_smoothing": float(
            b.number_input(
                "Label smoothing", 0.0, 0.9, float(base.label_smoothing), step=0.05, key=f"{prefix}_ls"
            )
        ),
        "device": _select(a, "Device", DEVICES, base.device, f"{prefix}_device"),
        "amp": _select(b, "Mixed precision (CUDA)", AMP_MODES, base.amp, f"{prefix}_amp"),
        "seed": int(a.number_input("Seed", 0, 2**31 - 1, int(base.seed), key=f"{prefix}_seed")),
    }
    clip = float(
        b.number_input(
            "Gradient clipping (0 = off)",
            0.0,
            1e6,
            float(base.grad_clip or 0.0),
            format="%g",
            key=f"{prefix}_clip",
        )
    )
    patience = int(
        a.number_input(
            "Early-stopping patience (0 = off)", 0, 10_000, int(base.patience or 0), key=f"{prefix}_patience"
        )
    )
    limit = float(
        b.number_input(
            "Time limit in seconds (0 = none)",
            0.0,
            1e7,
            float(base.max_seconds or 0.0),
            key=f"{prefix}_limit",
        )
    )
    values.update(grad_clip=clip or None, patience=patience or None, max_seconds=limit or None)
    return values


def _optimizers() -> tuple[str, ...]:
    from training.optim import OPTIMIZERS

    return OPTIMIZERS


def _select(where: Any, label: str, options: tuple[str, ...], value: str, key: str) -> str:
    options = list(options)
    return where.selectbox(label, options, index=options.index(value) if value in options else 0, key=key)


def device_label(requested: str) -> str:
    """'CPU', or the GPU's name on CUDA, plus why a requested device is not used."""
    import torch

    from training.device import pick_device

    choice = pick_device(requested)
    if choice.device.type == "cuda":
        name = f"CUDA · {torch.cuda.get_device_name(choice.device)}"
    else:
        name = {"mps": "Apple GPU (MPS)", "cpu": "CPU"}.get(choice.device.type, choice.device.type)
    return f"{name} ({choice.note})" if choice.note else name


# ---- start / stop -------------------------------------------------------------------------------------------
def _controls(graph: Any, dataset: Any, config: Any, ready: bool, key: str) -> None:
    run: ActiveRun | None = st.session_state.get(RUN)
    active = run is not None and run.handle.state.active
    left, right, _ = st.columns([1, 1, 4])
    if left.button("▶ Start training", type="primary", disabled=not ready, key=f"{key}_start"):
        start_run(graph, dataset, config)
        st.rerun()  # redraw the live view with polling switched on
    if right.button("⏹ Stop", disabled=not active, key=f"{key}_stop"):
        get_manager().stop(run.handle)


def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else "local"


def start_run(graph: Any, dataset: Any, config: Any) -> ActiveRun:
    """Queue a run for this session (its previous run is stopped) and remember it in session state."""
    from training.engine import prepare, train
    from training.runstore import RunStoreError
    from ui.runs_panel import get_store

    try:
        store = get_store()
    except RunStoreError as err:  # train anyway; only the history is lost
        store, note = None, f"This run won't be kept in the history: {err}"
    else:
        note = ""
    task = str(config.task or getattr(dataset.task, "value", dataset.task))
    run = ActiveRun(None, graph, dataset, config, task, note)  # the handle comes from the manager below

    def work(handle: RunHandle) -> Any:  # the worker thread: no st.* here
        if run.task in ("classification", "binary"):
            run.plan = prepare(graph, dataset, config)[1]  # for live views; raises FitError like train()

        def on_event(event: Any) -> None:
            handle.emit(event)
            _live_boundary(run, event)

        return train(graph, dataset, config, on_event=on_event, stop_event=handle.stop_event, store=store)

    session = _session_id()
    handle = get_manager().submit(
        session, work, label=f"{graph.name} on {dataset.name}", alive=session_alive(session)
    )
    run.handle = handle
    st.session_state[RUN] = run
    st.session_state.pop(LOADED_RUN, None)  # the new run's results replace a loaded run's
    return run


def _live_boundary(run: ActiveRun, event: Any) -> None:
    """In the worker: redraw the 2-D decision boundary now and then, when the engine's event carries the
    model being trained (``event.model``); without it the boundary is drawn once the run has ended."""
    import time

    from ui.train_insight import boundary_values
    from ui.train_results import is_two_d

    model = getattr(event, "model", None)
    if model is None or run.plan is None or not is_two_d(run.dataset):
        return
    now = time.monotonic()
    if event.kind == "step" or now - run.boundary_at < LIVE_BOUNDARY_INTERVAL:
        return
    run.boundary = boundary_values(model, run.plan, run.dataset.extras["bounds"], resolution=40)
    run.boundary_at = now


# ---- live view and results ---------------------------------------------------------------------------------
def _run_section(run: ActiveRun, key: str) -> None:
    st.divider()
    st.markdown(f"**Run:** {run.handle.label}")
    if run.note:
        st.warning(run.note)
    render_live(run, f"{key}_live", extra=_draw_live_boundary)
    handle = run.handle
    if handle.state.active or handle.result is None:
        return
    from ui.train_results import render_results

    try:
        render_results(handle.result, run.graph, run.dataset, f"{key}_results")
    except Exception as err:  # a view that can't be drawn must not hide the rest of the page
        st.error(f"Some results could not be drawn: {type(err).__name__}: {err}")


def _loaded_section(run_id: str, graph: Any, dataset: Any, key: str) -> None:
    """Results of a run reloaded from the history, with its saved weights."""
    from training.runstore import RunStoreError
    from training.tasks import FitError
    from ui.runs_panel import get_store, loaded_result
    from ui.train_results import render_results

    st.divider()
    st.markdown(f"**Loaded run:** {run_id}")
    cache_key = (
        run_id,
        _digest(graph.name, {"graph": repr(graph.nodes), "edges": repr(graph.edges)}),
        dataset.name,
    )
    cached = st.session_state.get(_LOADED_CACHE)
    try:
        if not cached or cached[0] != cache_key:
            cached = (cache_key, loaded_result(get_store(), run_id, graph, dataset))
            st.session_state[_LOADED_CACHE] = cached
        render_results(cached[1], graph, dataset, f"{key}_loaded")
    except (RunStoreError, FitError) as err:
        st.warning(f"The weights of run {run_id} can't be shown for this design and data: {err}")


def _draw_live_boundary(run: ActiveRun) -> None:
    if run.boundary is None or not run.handle.state.active:
        return
    from ui import charts
    from ui.train_data import labels_of

    xs, ys, values = run.boundary
    split = run.dataset.train
    st.columns(2)[0].plotly_chart(
        charts.decision_boundary_chart(
            xs, ys, values, split.inputs[0].numpy(), labels_of(run.dataset, split), run.dataset.class_names
        ),
        key="ll_live_boundary",
    )
