"""Train the module generated from a graph on a dataset, reporting progress through a callback.

What trains is the generated source imported from a real file (``codegen.loader``), so the app, the CLI and
an exported script can never disagree. In-memory data is moved to the device once and batched by index
(``torch.randperm``), with no per-sample collation; data too large for the device goes through a DataLoader
that also fetches whole batches by index. Everything the run reports is a plain dataclass.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

from builder.graph import Graph
from builder.project import dump_project
from builder.settings import settings
from builder.validate import ValidationResult, validate
from codegen.loader import build_model
from codegen.source import CodegenError, ModelSource, generate_model
from training.batches import Batches, make_batches
from training.checkpoint import Checkpoint, CheckpointError, Keeper, load_resumable
from training.config import TrainConfig
from training.device import (
    amp_dtype,
    cpu_thread_budget,
    cpu_threads,
    free_cached_memory,
    is_out_of_memory,
    pick_device,
)
from training.loop import EarlyStopping, evaluate, in_units, keep_frozen_norms, snapshot, train_step
from training.metrics import headline, make_accumulator
from training.optim import make_optimizer, make_schedule
from training.rng import RunRandom
from training.runstore import RunStore
from training.tasks import FitError, FitProblem, TaskPlan, check_fit, with_class_weights

if TYPE_CHECKING:
    from training.continuation import StartFrom

__all__ = ["FitError", "FitProblem", "RunResult", "TrainConfig", "TrainEvent", "prepare", "train"]

EVAL_BATCH = 1024  # evaluation needs no gradients: bigger batches are faster and still small in memory


@dataclass(frozen=True)
class TrainEvent:
    kind: str  # start | step | epoch | end
    epoch: int  # 1-based epoch in progress (0 before the first)
    epochs: int
    step: int  # optimizer steps done
    total_steps: int
    train_loss: float | None = None  # mean since the last event (step) or over the epoch (epoch)
    val_loss: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # validation metrics (epoch), test metrics (end)
    samples_per_s: float = 0.0
    eta_s: float | None = None
    elapsed_s: float = 0.0
    lr: float = 0.0
    message: str = ""
    # Epoch and end events carry the model being trained, for views drawn inside the callback (which runs
    # in the training thread between steps); evaluate it under torch.no_grad() and leave its mode as found.
    model: nn.Module | None = field(default=None, repr=False, compare=False)


@dataclass
class RunResult:
    status: str  # finished | stopped | failed
    message: str
    task: str
    device: str
    epochs: int  # epochs completed
    history: list[dict[str, Any]]  # per epoch: epoch, train_loss, val_loss, lr, seconds and val metrics
    test_metrics: dict[str, Any]
    model: nn.Module
    source: ModelSource
    plan: TaskPlan
    seconds: float
    samples_per_s: float
    best_epoch: int | None = None
    run_id: str | None = None
    event_seconds: float = 0.0  # time spent building and sending events (the reporting overhead)
    steps: int = 0  # optimizer steps taken
    train_seconds: float = 0.0  # time in training steps only (no evaluation, no events)
    train_cpu_seconds: float = 0.0  # CPU time of the training thread in those steps (steadier on a busy machine)
    notes: list[str] = field(default_factory=list)  # e.g. why the device differs from the one asked for


class TrainingHalted(Exception):
    """Ends the epoch loop early; ``status`` says how the run ends."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- the run --------------------------------------------------------------------------------------
EventCallback = Callable[[TrainEvent], None]


class StepObserver(Protocol):
    """Watches the model between steps, in the training thread (``training.health.HealthMonitor``): after
    each step (its gradients still in ``.grad``; ``loss`` may be non-finite) and at the end of each epoch."""

    def after_step(self, model: nn.Module, epoch: int, step: int, loss: float) -> None: ...

    def end_epoch(self, model: nn.Module, epoch: int) -> None: ...


def prepare(graph: Graph, dataset: Any, config: TrainConfig,
            result: ValidationResult | None = None) -> tuple[ModelSource, TaskPlan, int]:
    """The model source, the task plan and the multiply-adds per sample; raises FitError with every problem.
    ``result`` is the graph's validation when the caller has it."""
    problems = [FitProblem(p) for p in config.problems()]
    try:
        result = result or validate(graph)
        source = generate_model(graph, result)
    except CodegenError as err:
        raise FitError(problems + [FitProblem(p) for p in err.problems]) from None
    plan, fit = check_fit(graph, source, result, dataset, config.loss, config.task, config.label_smoothing)
    if problems or fit:
        raise FitError(problems + fit)
    return source, with_class_weights(plan, config.class_weights, dataset.train), sum(info.macs for info in result.nodes.values())


def train(graph: Graph, dataset: Any, config: TrainConfig | None = None, on_event: EventCallback | None = None,
          stop_event: threading.Event | None = None, store: RunStore | None = None,
          observer: StepObserver | None = None, resume: str | None = None,
          start_from: StartFrom | None = None) -> RunResult:
    """Train ``graph`` on ``dataset``. Raises FitError before training when they don't fit; afterwards every
    ending (finished, stopped, NaN loss, out of memory) is a RunResult with its status and message.

    ``resume``: the id of a run in ``store`` to continue from its last checkpoint (``graph``, ``dataset`` and
    ``config`` must be the run's own: ``training.continuation.resume_inputs``). ``start_from``: a new run
    whose model starts from these weights, with a fresh optimizer (fine-tuning)."""
    config = config or TrainConfig()
    max_epochs = settings().max_epochs  # checked here, not in prepare(): a past run stays reloadable
    if int(config.epochs) > max_epochs:
        raise FitError([FitProblem(f"{config.epochs} epochs is more than this server allows ({max_epochs}, "
                                   "LAYERLAB_MAX_EPOCHS): choose fewer epochs")])
    source, plan, macs = prepare(graph, dataset, config)
    run = _Run(graph, dataset, config, source, plan, on_event, stop_event or threading.Event(), store)
    run.observer = observer
    run.start_from = start_from
    if resume is not None:
        run.resume_from(resume)
    if run.device.type != "cpu":
        return run.run()
    with cpu_thread_budget(cpu_threads(config.threads, macs * config.batch_size * 3)):  # forward + backward
        return run.run()


class _Run:
    def __init__(self, graph: Graph, dataset: Any, config: TrainConfig, source: ModelSource, plan: TaskPlan,
                 on_event: EventCallback | None, stop_event: threading.Event, store: RunStore | None) -> None:
        self.graph, self.dataset, self.config, self.source, self.plan = graph, dataset, config, source, plan
        self.on_event, self.stop_event, self.store = on_event, stop_event, store
        choice = pick_device(config.device)
        self.device, self.notes = choice.device, [choice.note] if choice.note else []
        self.amp = amp_dtype(self.device, config.amp)
        self.criterion = plan.criterion()
        self.history: list[dict[str, Any]] = []
        self.step = self.samples = 0
        self.train_seconds = self.train_cpu_seconds = self.event_seconds = 0.0
        self.stopper = EarlyStopping(config.patience)
        self.random = RunRandom(config.seed, self.device)
        self.good_state: dict[str, torch.Tensor] | None = None
        self.run_id: str | None = None
        self.time_limit, self.limit_text = _time_limit(config)
        self.observer: StepObserver | None = None
        self.start_from: StartFrom | None = None
        self.resumed: Checkpoint | None = None  # the checkpoint a resumed run continues from
        self.best_state: dict[str, torch.Tensor] | None = None  # ... and its early-stopping best weights
        self.first_epoch = 1
        self.clock_offset = 0.0  # seconds the run had trained before it was resumed
        self.keeper: Keeper | None = None

    def resume_from(self, run_id: str) -> None:
        """Continue run ``run_id`` of the store from its last checkpoint; FitError when it can't."""
        if self.store is None:
            raise FitError([FitProblem("a run can only be resumed from a run history")])
        try:
            self.resumed, self.best_state = load_resumable(self.store.checkpoint_folder(run_id), self.config.patience,
                                                           self.config.epochs)
        except CheckpointError as err:
            raise FitError([FitProblem(f"run {run_id} can't be resumed: {err}")]) from None
        self.run_id = run_id
    # -- setup and ending ---------------------------------------------------------------------------
    def run(self) -> RunResult:
        self.started = time.perf_counter()
        self._setup()
        self._record_start()
        try:
            status, message = self._loop()
            test = self._finish_metrics()
        except BaseException as err:  # a bug or an interrupt: the history must not keep it "running"
            if self.store and self.run_id:
                self.store.finish_run(self.run_id, "failed", f"{type(err).__name__}: {err}")
            raise
        self._emit("end", metrics=test, message=message, model=self.model)
        result = RunResult(
            status, message, self.plan.task, self.device.type, len(self.history), self.history, test, self.model,
            self.source, self.plan, time.perf_counter() - self.started, self._speed(),
            best_epoch=self.stopper.best_epoch, run_id=self.run_id, event_seconds=self.event_seconds,
            steps=self.step, train_seconds=self.train_seconds, train_cpu_seconds=self.train_cpu_seconds,
            notes=self.notes)
        self._record_end(result)
        return result

    def _setup(self) -> None:
        config = self.config
        try:
            with self.random.init():  # torch.manual_seed(seed), then the model: as a fresh process (a script)
                model = build_model(self.source)
            if self.start_from is not None:
                self.start_from.load_into(model)
            self.model = model.to(self.device)
        except Exception as err:
            if not is_out_of_memory(err):
                raise
            raise FitError([FitProblem(f"the model doesn't fit in the memory of {self.device.type}: "
                                       "make its layers smaller")]) from None
        self.train_data = make_batches(self.dataset.train, self.plan, self.device, config.batch_size,
                                       config.max_device_bytes)
        self.eval_sets = {name: make_batches(getattr(self.dataset, name), self.plan, self.device,
                                             max(EVAL_BATCH, config.batch_size), config.max_device_bytes)
                          for name in ("val", "test")}
        self.total_steps = len(self.train_data) * config.epochs
        self.optimizer = make_optimizer(config.optimizer, self.model.parameters(), config.lr, config.weight_decay,
                                        config.momentum, (config.beta1, config.beta2), config.eps)
        self.schedule = make_schedule(config.schedule, self.optimizer, self.total_steps, config.gamma, config.warmup)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == torch.float16)
        if self.resumed is not None:
            self._restore(self.resumed)

    def _restore(self, saved: Checkpoint) -> None:
        """Everything a resumed run needs to go on exactly as if it had not stopped."""
        self.model.load_state_dict(saved.model)
        self.optimizer.load_state_dict(saved.optimizer)
        self.schedule.load_state_dict(saved.schedule)
        self.scaler.load_state_dict(saved.scaler)
        self.random.restore(saved.shuffle_state, saved.global_states, saved.draws)
        self.step, self.samples = saved.step, saved.samples
        self.history = [dict(row) for row in saved.history]
        self.stopper.best_loss, self.stopper.best_epoch = saved.best_loss, saved.best_epoch
        if self.best_state is not None:
            self.stopper.best_state = {k: v.to(self.device) for k, v in self.best_state.items()}
        self.first_epoch, self.clock_offset = saved.epoch + 1, saved.seconds

    def _loop(self) -> tuple[str, str]:
        generator = self.random.shuffle
        self.loop_started = time.perf_counter()  # the time limit is for training, not for setting it up
        self._emit("start", message="; ".join(self.notes))
        self.good_state = snapshot(self.model)
        try:
            for epoch in range(self.first_epoch, self.config.epochs + 1):
                self.epoch = epoch
                train_loss = self._train_epoch(generator)
                self._end_epoch(epoch, train_loss)
        except TrainingHalted as halt:
            return halt.status, halt.message
        except Exception as err:  # out of memory is a user-level problem; anything else is a bug
            if not is_out_of_memory(err):
                raise
            return "failed", self._out_of_memory()
        if self.stopper.best_state is not None:
            self.model.load_state_dict(self.stopper.best_state)
        return "finished", f"trained {len(self.history)} epochs"

    def _out_of_memory(self) -> str:
        self.optimizer.zero_grad(set_to_none=True)
        free_cached_memory(self.device)
        self._restore_good()
        return (f"ran out of memory on {self.device.type} with batch size {self.config.batch_size} "
                f"(epoch {self.epoch}, step {self.step + 1}): try a smaller batch size or a smaller model")

    def _finish_metrics(self) -> dict[str, Any]:
        try:
            loss, metrics = self._evaluate(self.eval_sets["test"])
        except Exception as err:
            if not is_out_of_memory(err):
                raise
            free_cached_memory(self.device)
            return {}
        return {"loss": loss, **metrics} if loss is not None else {}

    # -- training -----------------------------------------------------------------------------------
    def _train_epoch(self, generator: torch.Generator) -> float:
        self.model.train()
        keep_frozen_norms(self.model, self.config.frozen_norm)
        total, count, window, window_count = 0.0, 0, 0.0, 0
        epoch_start = last_event = time.perf_counter()
        cpu_start = time.thread_time()
        events_before = self.event_seconds
        try:
            for inputs, target in self.train_data.epoch(generator):
                if self.stop_event.is_set():
                    raise TrainingHalted("stopped", f"stopped by request at epoch {self.epoch}, step {self.step}")
                loss = self._step(inputs, target)
                n = len(target)
                total, count, window, window_count = total + loss * n, count + n, window + loss * n, window_count + n
                if time.perf_counter() - last_event >= self.config.event_interval:
                    self._emit("step", train_loss=window / window_count)
                    window, window_count, last_event = 0.0, 0, time.perf_counter()
                self._check_time()
        finally:  # samples/s counts training only, not the time spent reporting it
            self.train_seconds += time.perf_counter() - epoch_start - (self.event_seconds - events_before)
            self.train_cpu_seconds += time.thread_time() - cpu_start
        return total / max(1, count)

    def _step(self, inputs: tuple[torch.Tensor, ...], target: torch.Tensor) -> float:
        with self.random.step():
            value = train_step(self.model, self.criterion, inputs, target, self.optimizer, self.schedule,
                               self.scaler, self.config.grad_clip, self.amp, self.device)
        if self.observer is not None:
            self.observer.after_step(self.model, self.epoch, self.step + 1, value)
        if not math.isfinite(value):
            self._restore_good()
            raise TrainingHalted("failed", f"the training loss became {value} at epoch {self.epoch}, step "
                                           f"{self.step + 1}: the last good weights were kept. Try a lower learning "
                                           f"rate (now {self.config.lr:g}), gradient clipping or normalised inputs")
        self.step += 1
        self.samples += len(target)
        return value

    def _check_time(self) -> None:
        if self.time_limit is not None and time.perf_counter() - self.loop_started >= self.time_limit:
            raise TrainingHalted("stopped", f"{self.limit_text} reached at epoch {self.epoch}, step {self.step}")

    def _restore_good(self) -> None:
        """Keep the current weights when they are still finite, else go back to the last epoch's."""
        finite = all(torch.isfinite(p).all() for p in self.model.parameters())
        if not finite and self.good_state is not None:
            self.model.load_state_dict(self.good_state)

    def _end_epoch(self, epoch: int, train_loss: float) -> None:
        val_loss, metrics = self._evaluate(self.eval_sets["val"])
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": self._lr(),
               "seconds": self.clock_offset + time.perf_counter() - self.started, **metrics}
        self.history.append(row)
        self.good_state = snapshot(self.model)
        if self.observer is not None:
            self.observer.end_epoch(self.model, epoch)
        stop = self.stopper.should_stop(epoch, val_loss, self.good_state)
        self._checkpoint(epoch, val_loss)  # before the history shows the epoch: a run seen there resumes from it
        if self.store and self.run_id:
            self.store.add_epoch(self.run_id, epoch, _jsonable(row))
        self._emit("epoch", train_loss=train_loss, val_loss=val_loss, metrics=metrics, model=self.model)
        if stop:
            self.model.load_state_dict(self.stopper.best_state)
            raise TrainingHalted("finished", f"early stopping at epoch {epoch}: no better validation loss for "
                                             f"{self.config.patience} epochs; restored epoch {self.stopper.best_epoch}")

    def _checkpoint(self, epoch: int, val_loss: float | None) -> None:
        if self.keeper is None:
            return
        shuffle, states, draws = self.random.state()
        saved = Checkpoint(epoch, self.step, self.samples, self.good_state, self.optimizer.state_dict(),
                           self.schedule.state_dict(), self.scaler.state_dict(), shuffle, states, draws,
                           self.stopper.best_loss, self.stopper.best_epoch, [_jsonable(r) for r in self.history],
                           self.history[-1]["seconds"])
        self.keeper.save(saved, val_loss)
        if self.keeper.note and self.keeper.note not in self.notes:
            self.notes.append(self.keeper.note)

    def _evaluate(self, batches: Batches) -> tuple[float | None, dict[str, Any]]:
        accumulator = make_accumulator(self.plan.task, self.plan.num_classes, self.plan.pad_id, self.device)
        with self.random.step():  # noise drawn in forward (torch.randn_like) comes from the run's stream, as in a script
            loss, metrics = evaluate(self.model, self.criterion, self.plan, batches, accumulator, self.device,
                                     self.amp)
        return loss, in_units(metrics, getattr(self.dataset, "extras", None) or {})

    # -- reporting ----------------------------------------------------------------------------------
    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _speed(self) -> float:
        return self.samples / self.train_seconds if self.train_seconds > 0 else 0.0

    def _emit(self, kind: str, **values: Any) -> None:
        if self.on_event is None:
            return
        began = time.perf_counter()
        done = self.step
        elapsed = began - self.started
        eta = elapsed / done * (self.total_steps - done) if done else None
        event = TrainEvent(kind, getattr(self, "epoch", 0), self.config.epochs, done, self.total_steps,
                           samples_per_s=self._speed(), eta_s=eta, elapsed_s=elapsed, lr=self._lr(), **values)
        self.on_event(event)
        self.event_seconds += time.perf_counter() - began

    def _recorded_settings(self) -> dict[str, Any]:
        """The settings as run: Threads 0 (auto) is recorded as the CPU threads it picked. Float sums depend on
        the count, and auto picks by the machine's load at the start, so a run's export, resume or rerun from its
        record uses the count it trained with and matches it to the last digit."""
        values = self.config.settings()
        if self.device.type == "cpu" and not values.get("threads"):
            values["threads"] = torch.get_num_threads()  # inside fit's cpu_thread_budget: what this run uses
        return values

    def _record_start(self) -> None:
        if self.store is None:
            return
        if self.resumed is not None:
            self.store.reopen_run(self.run_id, self.resumed.history)
        else:
            origin = self.start_from.origin if self.start_from is not None else None
            self.run_id = self.store.start_run(self.graph.name, dump_project(self.graph), self._recorded_settings(),
                                               getattr(self.dataset, "name", "?"), self.device.type, origin=origin)
        self.keeper = Keeper(self.store.checkpoint_folder(self.run_id), settings().max_checkpoint_mb * 2**20)
        if self.resumed is not None:
            self.keeper.restore_best(_best_val(self.resumed.history))

    def _record_end(self, result: RunResult) -> None:
        if self.store is None or self.run_id is None:
            return
        final = {"test": _jsonable(result.test_metrics), "epochs": result.epochs, "seconds": result.seconds,
                 "samples_per_s": result.samples_per_s, "task": result.task}
        name, value = headline(result.task, result.test_metrics)
        if value is not None:
            final[f"test_{name}"] = value
        self.store.finish_run(self.run_id, result.status, result.message, final, self.model.state_dict())


def _best_val(history: list[dict[str, Any]]) -> float | None:
    losses = [r["val_loss"] for r in history if isinstance(r.get("val_loss"), (int, float))]
    return min(losses) if losses else None


def _time_limit(config: TrainConfig) -> tuple[float | None, str]:
    """The run's time limit: the config's, or the server's (LAYERLAB_MAX_RUN_SECONDS) when that is shorter."""
    own, server = config.max_seconds or None, settings().max_run_seconds or None
    if server is not None and (own is None or server < own):
        return server, f"the server's time limit of {server:g} s per run (LAYERLAB_MAX_RUN_SECONDS)"
    return own, f"time limit of {own:g} s" if own is not None else ""


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Finite floats only (JSON has no NaN): a non-finite loss is stored as null."""
    out = {}
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out
