"""What a run does while it trains, wherever it trains: the engine's run plus the live views computed from the
model between steps (the 2-D decision boundary, the neuron tiles, the health monitor).

``RunOrder`` is everything a run needs, as plain data that pickles (the design as its project JSON, never
code); ``train_with_views`` is the one definition of a live run, called in a thread of the server
(``ui.train.executor.ThreadExecutor``) or in a worker process (``ui.train.worker``). It writes the views onto ``views``
(the page's ActiveRun in a thread; a stand-in in a worker, whose changes are sent back). No st.* here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Seconds between live decision-boundary redraws. About once a second: the live view polls twice a second, and a
# new boundary costs the browser its plotly redraw (hundreds of SVG points); an unchanged figure costs nothing.
# At 0.4 s the boundary alone kept Chromium's main thread busy a fifth of the time (bench/bench_neurons.py).
LIVE_BOUNDARY_INTERVAL = 0.9


@dataclass
class RunOrder:
    """A run handed to an executor."""

    design: dict[str, Any]  # builder.project.dump_project(graph)
    dataset: Any  # data.base.Dataset: tensors and plain values
    config: Any  # training.config.TrainConfig
    task: str
    store_path: str | None = None  # the run history's SQLite file; None: the run is not kept
    resume: str | None = None  # a run of the history to continue
    start_from: Any = None  # training.continuation.StartFrom: weights the model starts from
    views: bool = True  # compute the live views (the Train tab's run); Compare's runs only report events
    environ: dict[str, str] | None = None  # the server's settings when the order was made (server_settings())

    def graph(self) -> Any:
        from builder.project import load_project

        return load_project(self.design)


def server_settings() -> dict[str, str]:
    """The server's LayerLab settings as environment variables (LAYERLAB_*): a worker process started earlier
    adopts them, so the server's limits (epochs, time, checkpoints) hold in it as they would in a thread."""
    import contextlib
    import os
    from dataclasses import asdict

    from builder.settings import SettingsError, settings

    environ = {k: v for k, v in os.environ.items() if k.startswith("LAYERLAB_")}
    with contextlib.suppress(SettingsError):  # the worker reads the same bad setting and says so like the server
        environ.update({f"LAYERLAB_{k.upper()}": str(v) for k, v in asdict(settings()).items() if v != ""})
    return environ


@dataclass
class Views:
    """The live views of a run trained away from its page (the fields of ui.train_panel.ActiveRun they use)."""

    graph: Any
    dataset: Any
    config: Any
    task: str
    plan: Any = None
    boundary: Any = None
    boundary_at: float = 0.0
    health: Any = None
    neurons: Any = None
    neurons_at: float = 0.0


def train_with_views(order: RunOrder, graph: Any, views: Any, emit: Callable[[Any], None], stop_event: Any,
                     store: Any, after_views: Callable[[Any], None] | None = None) -> Any:
    """Train ``order`` and keep ``views`` up to date; ``emit`` gets every engine event, ``after_views(event)``
    (if given) is called once the views have been brought up to date for it. Returns the engine's RunResult."""
    from training.engine import prepare, train
    from training.health import monitor_for
    from ui.train import neurons

    dataset, config = order.dataset, order.config
    if not order.views:
        return train(graph, dataset, config, on_event=emit, stop_event=stop_event, store=store,
                     resume=order.resume, start_from=order.start_from)
    if order.task in ("classification", "binary"):
        views.plan = prepare(graph, dataset, config)[1]  # for live views; raises FitError like train()

    def on_event(event: Any) -> None:
        emit(event)
        live_boundary(views, event)
        neurons.update(views, event)
        if after_views is not None:
            after_views(event)

    views.health = monitor_for(graph, dataset, config)
    return train(graph, dataset, config, on_event=on_event, stop_event=stop_event, store=store,
                 observer=views.health, resume=order.resume, start_from=order.start_from)


def live_boundary(views: Any, event: Any) -> None:
    """Redraw the 2-D decision boundary now and then, when the engine's event carries the model being trained
    (``event.model``); without it the boundary is drawn once the run has ended."""
    from ui.train.train_insight import boundary_values
    from ui.train.train_results import is_two_d

    model = getattr(event, "model", None)
    if model is None or views.plan is None or not is_two_d(views.dataset):
        return
    now = time.monotonic()
    if event.kind == "step" or now - views.boundary_at < LIVE_BOUNDARY_INTERVAL:
        return
    views.boundary = boundary_values(model, views.plan, views.dataset.extras["bounds"], resolution=40)
    views.boundary_at = now
