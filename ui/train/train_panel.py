"""The Train tab: data, fit check with one-click fixes, hyper-parameters, Start/Stop, live curves, results
and run history.

``render_train_panel(graph, result, on_fix=None, on_load=None)`` is the entry point. Runs are queued by
``ui.train.run_manager`` (capped per server, stopped when the page goes away) and train where ``ui.train.executor`` puts them
(a thread of the server, or a worker process); this module only submits work and reads what the run wrote.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from builder.settings import settings
from data.fetch import with_cached_data
from training.config import TrainConfig
from ui.common import state
from ui.train import lr_finder, neurons, train_data
from ui.train.compare import render_compare
from ui.train.health_view import render_health
from ui.train.run_continue import chosen_label, chosen_weights, render_weights_upload
from ui.train.run_continue import start_from as weights_start
from ui.train.run_manager import RunHandle, get_manager, session_alive
from ui.train.runs_panel import LOADED_RUN, render_runs_panel
from ui.train.train_form import KEY as FORM_KEY
from ui.train.train_form import design_settings, form_problems, pending, render_form
from ui.train.train_live import ICONS, render_live
from ui.train.train_state import FORM, forget

RUN = state.TRAIN_RUN  # this session's ActiveRun
_LOADED_CACHE = "ll_train_loaded"  # (key, LoadedResult) of a run reloaded from the history

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
    health: Any = None  # training.health.HealthMonitor: per-layer statistics and warnings (ui.train.health_view)
    neurons: Any = None  # ui.train.neurons.NeuronMaps: hidden units over the plane, 2-D data only


def render_train_panel(
    graph: Any,
    result: Any,
    on_fix: FixCallback | None = None,
    on_load: LoadCallback | None = None,
    key: str = "train",
) -> None:
    """Draw the Train panel for ``graph`` (``result`` is its ValidationResult)."""
    from training.warmup import start_warmup
    from ui.train.executor import get_executor

    get_executor()  # with worker processes, the first worker starts (imports torch) before the first Start
    start_warmup()  # in this process too: the LR finder and thread runs build optimizers here
    values, saved_problems = form_values(graph)
    run: ActiveRun | None = st.session_state.get(RUN)
    live = run is not None and run.handle.state.active
    data_col, settings_col = st.columns([3, 2], gap="large")
    with data_col:
        dataset = _live_data(run) if live else _data_section(graph, values)
    with settings_col:
        values = render_form(values, _task_of(dataset), run.config.to_dict() if live else None,
                             under={"lr": lambda: lr_finder.render_button(disabled=dataset is None)})
        problems = saved_problems + form_problems(values, settings().max_epochs)
        for problem in problems:
            st.error(problem)
        config = None if problems else TrainConfig.from_dict(values)
        st.caption(f"Device: **{device_label(values['device'])}**")
    ready = not live and dataset is not None and config is not None
    ready = ready and fit_section(graph, result, dataset, config, on_fix, key)
    _controls(graph, dataset, config, ready, live, key)
    if not live:
        lr_finder.render_section(graph, dataset, config, ready)
    render_compare(graph, dataset, config, ready, lambda c: start_run(graph, dataset, c), key=f"{key}_compare")
    loaded = st.session_state.get(LOADED_RUN)
    if run is not None and (live or not loaded):
        _run_section(run, key)
    elif loaded and dataset is not None:
        _loaded_section(loaded, graph, dataset, key)
    with st.expander("Run history", expanded=False):
        render_runs_panel(on_load, key=f"{key}_runs",
                          on_continue=lambda g, d, c, run_id: _resume(g, d, c, run_id, on_load))


def form_values(graph: Any) -> tuple[dict[str, Any], list[str]]:
    """This session's settings for ``graph``: kept across reruns and tab switches, and reset to a design's own
    ``meta.training`` when another design (a template, a loaded file) comes in. Also the problems found in
    the design's saved values."""
    meta = dict(graph.meta.get("training") or {})
    identity = _digest(graph.name, meta)
    saved = st.session_state.get(FORM)
    if saved is None or saved[0] != identity:
        values, problems = design_settings(with_cached_data(meta))  # lenet5 on MNIST once it is downloaded
        forget(FORM_KEY)  # the widgets show the new design's values
        forget(train_data.KEY)
        saved = (identity, values, problems)
        st.session_state[FORM] = saved
    return saved[1], saved[2]


def current_settings(graph: Any) -> dict[str, Any]:
    """The settings the Train tab shows for ``graph`` (its design's own until the tab was opened): what the
    Code tab's training script and notebook are generated from."""
    saved = st.session_state.get(FORM)
    meta = dict(graph.meta.get("training") or {})
    if saved is not None and saved[0] == _digest(graph.name, meta):
        return dict(saved[1])
    return design_settings(with_cached_data(meta))[0]


def _task_of(dataset: Any) -> str | None:
    task = getattr(dataset, "task", None)
    return getattr(task, "value", task)


def _digest(name: str, defaults: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([name, defaults], sort_keys=True, default=str).encode()).hexdigest()[:8]


# ---- data ---------------------------------------------------------------------------------------------------
def _data_section(graph: Any, values: dict[str, Any]) -> Any:
    """The picker and its dataset; the choice is written into ``values`` (dataset, options, target)."""
    st.markdown("**Data**")
    defaults = {**values, "dataset_options": _suggested_options(graph, values)}
    choice = train_data.render_picker(defaults)
    if choice is None:
        return None
    values.update(dataset=choice.filename or choice.name, dataset_options=dict(choice.options),
                  target=choice.target or "")
    with st.spinner("Loading the data…"):
        split = (float(pending(values, "val_fraction")), float(pending(values, "test_fraction")))
        dataset, error = train_data.load_choice(choice, int(pending(values, "seed")), split)
    if error:
        st.error(error)
        return None
    with st.expander("Preview", expanded=False):
        train_data.render_preview(dataset, "train_data")
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


def _live_data(run: ActiveRun) -> Any:
    st.markdown("**Data**")
    st.caption(f"**{run.dataset.name}**: the live run's data. The data picker comes back when the run ends.")
    return run.dataset


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
    from ui.train.executor import over_memory_cap

    problems = [FitProblem(p) for p in config.problems()]
    _, fit = check_fit(graph, source, result, dataset, config.loss, config.task, config.label_smoothing)
    too_big = over_memory_cap(graph, result, config.batch_size)
    return problems + fit + ([FitProblem(too_big)] if too_big else [])


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
def _controls(graph: Any, dataset: Any, config: Any, ready: bool, live: bool, key: str) -> None:
    """Start is off while a run is live (the form shows that run's settings): Stop it first."""
    left, right, _ = st.columns([1, 1, 4])
    # Start acts in its callback, before the click's own rerun draws the page: that one rerun shows the live
    # view, with no second, full-app rerun racing the live view's polls. Stop is in the run bar at the top of
    # the page (ui.train.run_bar): outside every fragment, its click preempts whatever rerun is in flight.
    left.button("▶ Start training", type="primary", disabled=not ready, key=f"{key}_start",
                on_click=start_run, args=(graph, dataset, config))
    chosen = chosen_weights()
    if chosen and not live:
        left.caption(f"from {chosen_label(chosen)}")
    if not live:
        with st.expander("Fine-tune: start from weights"):
            st.caption("Pick a run's weights in the run history below (Start from these weights), or a file here. "
                       "Freeze layers with the inspector's Trainable switch.")
            render_weights_upload(f"{key}_weights")
    if not live:
        right.button("Stop", icon=ICONS["stopped"], disabled=True, key=f"{key}_stop_off")
    else:
        right.caption(f"{ICONS['stopped']} Stop is in the bar at the top of the page")


def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else "local"


def _resume(graph: Any, dataset: Any, config: Any, run_id: str, on_load: LoadCallback | None) -> None:
    """"Continue this run": its design goes back on the canvas and it trains on from its last checkpoint."""
    if on_load is not None:
        on_load(graph, run_id)
    start_run(graph, dataset, config, resume=run_id)


def start_run(graph: Any, dataset: Any, config: Any, resume: str | None = None) -> ActiveRun:
    """Queue a run for this session (its previous run is stopped) and remember it in session state. ``resume``:
    a run of the history to continue; otherwise the weights chosen with "Start from these weights", if any,
    are where this run begins (once: the next Start trains from scratch again)."""
    from builder.project import dump_project
    from training.runstore import RunStoreError
    from ui.train.executor import get_executor
    from ui.train.live_work import RunOrder
    from ui.train.run_continue import FINETUNE
    from ui.train.runs_panel import get_store

    weights_of = None if resume else st.session_state.pop(FINETUNE, None)

    try:
        store = get_store()
    except RunStoreError as err:  # train anyway; only the history is lost
        store, note = None, f"This run won't be kept in the history: {err}"
    else:
        note = ""
    if resume and store is not None and resume not in getattr(store, "started", [resume]):
        store.started.append(resume)  # this session's history lists the run it continues
    task = str(config.task or getattr(dataset.task, "value", dataset.task))
    run = ActiveRun(None, graph, dataset, config, task, note)  # the handle comes from the manager below

    def work(handle: RunHandle) -> Any:  # the manager's run thread: no st.* here
        start_from = weights_start(weights_of, store) if weights_of is not None else None
        store_path = str(store.path) if store is not None else None
        order = RunOrder(dump_project(graph), dataset, config, task, store_path, resume, start_from)
        return get_executor().run(order, run, handle, store, graph=graph)

    session = _session_id()
    label = f"{graph.name} on {dataset.name}"
    if resume:
        label += " · continued"
    elif weights_of is not None:
        label += f" · from {chosen_label(weights_of)}"
    handle = get_manager().submit(session, work, label=label, alive=session_alive(session))
    run.handle = handle
    st.session_state[RUN] = run
    st.session_state.pop(LOADED_RUN, None)  # the new run's results replace a loaded run's
    return run


# ---- live view and results ---------------------------------------------------------------------------------
def _run_section(run: ActiveRun, key: str) -> None:
    st.divider()
    st.markdown(f"**Run:** {run.handle.label}")
    if run.note:
        st.warning(run.note)
    render_live(run, f"{key}_live", extra=_live_views)
    handle = run.handle
    if handle.state.active or handle.result is None:
        return
    from ui.train.train_results import render_results

    try:
        # the live section's health header shows the overfitting verdict: counted there, not repeated here
        render_results(handle.result, run.graph, run.dataset, f"{key}_results", overfitting_shown=True)
    except Exception as err:  # a view that can't be drawn must not hide the rest of the page
        st.error(f"Some results could not be drawn: {type(err).__name__}: {err}")


def _loaded_section(run_id: str, graph: Any, dataset: Any, key: str) -> None:
    """Results of a run reloaded from the history, with its saved weights."""
    from training.runstore import RunStoreError
    from training.tasks import FitError
    from ui.train.runs_panel import get_store, loaded_result
    from ui.train.train_results import render_results

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


def _live_views(run: ActiveRun) -> None:
    """Inside the live fragment: the neurons with the boundary (2-D data) or the boundary alone, then health."""
    if run.neurons is not None:
        neurons.render_neurons(run)
    else:
        _draw_live_boundary(run)
    render_health(run)


def _draw_live_boundary(run: ActiveRun) -> None:
    if run.boundary is None or not run.handle.state.active:
        return
    from ui.train import charts
    from ui.train.train_data import labels_of

    xs, ys, values = run.boundary
    split = run.dataset.train
    st.columns(2)[0].plotly_chart(
        charts.decision_boundary_chart(
            xs, ys, values, split.inputs[0].numpy(), labels_of(run.dataset, split), run.dataset.class_names
        ),
        key="ll_live_boundary",
    )
