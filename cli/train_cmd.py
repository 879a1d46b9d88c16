"""`layerlab train` and `layerlab runs`: train a design on a dataset from the terminal, list recorded runs.

A template's ``meta.training`` supplies every option the command line leaves out, so
``layerlab train digits_cnn`` alone trains with settings that reach the documented accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cli.main import EXIT_INVALID, EXIT_OK, EXIT_UNREADABLE, CliError
from cli.sweep_cmd import add_flags as add_sweep_flags
from cli.sweep_cmd import run_sweep, use_executor_flags
from cli.train_start import design_and_weights, resumed, weights_of_run
from data.sources import DATASETS_ENV
from training.settings import Kind, Setting, SettingError, cli_settings

_STARTED = time.perf_counter()  # the command's clock starts when the module is imported (at parse time)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a design on a dataset; records the run")
    p.add_argument("design", nargs="?", help="a project file or a template name (left out with --resume, and "
                                             "with --from-run: the run's own design)")
    add_setting_flags(p)
    add_data_dir_flag(p)
    p.add_argument("--db", help="the run history database (default: in the user's data directory)")
    p.add_argument("--json", action="store_true", help="print only one JSON line of results on stdout "
                                                       "(progress goes to stderr)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--resume", metavar="RUN", help="continue run RUN (its number or id) from its last checkpoint, "
                                                       "with its own design, data and settings")
    start.add_argument("--from-run", metavar="RUN", help="a new run whose model starts from run RUN's weights "
                                                         "(fine-tuning), with its own optimizer")
    start.add_argument("--from-weights", metavar="FILE", help="a new run whose model starts from these weights (a "
                                                              ".safetensors file keyed for the design, as "
                                                              "`layerlab import --weights` writes)")
    add_sweep_flags(p)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("runs", help="list recorded training runs")
    p.add_argument("--db", help="the run history database (default: in the user's data directory)")
    p.add_argument("--limit", type=_positive_int, default=50)
    p.add_argument("--show", metavar="RUN", help="one run in detail (its number or id, as listed), checking "
                                                 "that its weights can be read")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)


def add_data_dir_flag(parser: argparse.ArgumentParser) -> None:
    """--data-dir: where the downloaded data sets are kept (it sets the variable data.fetch reads)."""
    parser.add_argument("--data-dir", metavar="DIR", help="where downloaded data sets (MNIST, Fashion-MNIST, "
                        f"CIFAR-10, Tiny Shakespeare) are kept; default: ${DATASETS_ENV}, else datasets/ in the user's "
                        "data directory. A download's progress goes to stderr.")


def use_data_dir(args: argparse.Namespace) -> None:
    if getattr(args, "data_dir", None):
        os.environ[DATASETS_ENV] = str(Path(args.data_dir).expanduser().resolve())


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per training setting (training.settings.SETTINGS), checked by the setting itself; left out,
    the design's meta.training (else the setting's default) decides."""
    for spec in cli_settings():
        if spec.kind is Kind.OPTIONS:
            parser.add_argument(spec.flag, "-o", dest=spec.name, action="append", default=[], metavar="KEY=VALUE",
                                help=spec.help)
            continue
        metavar = "{" + ",".join(spec.choices) + "}" if spec.kind is Kind.CHOICE else None
        parser.add_argument(spec.flag, dest=spec.name, type=_checker(spec), metavar=metavar,
                            help=f"{spec.help} ({spec.describe()}; default {spec.default!r})")


def _checker(spec: Setting) -> Any:
    def check(text: str) -> Any:
        try:
            return spec.check(text)
        except SettingError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    check.__name__ = spec.name  # argparse names the type in its messages
    return check


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


# -- train --------------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from training.engine import train
    from training.runstore import RunStoreError
    from training.tasks import FitError

    use_data_dir(args)
    use_executor_flags(args)
    if args.sweep and (args.resume or args.from_run or args.from_weights):
        raise CliError(["--sweep trains new runs from the design: leave out --resume, --from-run and "
                        "--from-weights"], EXIT_INVALID)
    if args.resume:
        store = _open_store(args.db)  # a damaged history is reported before minutes go into loading data
        graph, config, resume, start_from, ref = resumed(args, store)
    else:  # an oversized design is refused before the history is even opened
        graph, start_from, ref = design_and_weights(args)
        _refuse_oversized(ref, graph)
        store = _open_store(args.db)
        start_from = start_from or weights_of_run(args, store)
        if args.sweep:
            return run_sweep(args, graph, ref, store, lambda a: _config(a, graph, ref),
                             lambda c: _load_data(ref, graph, c))
        config, resume = _config(args, graph, ref), None
    dataset = _load_data(ref, graph, config)
    stop = threading.Event()
    progress = _Progress(args.json, sys.stderr.isatty())
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set()) if _main_thread() else None
    try:
        result = train(graph, dataset, config, on_event=progress, stop_event=stop, store=store, resume=resume,
                       start_from=start_from)
    except FitError as err:
        raise CliError([f"{ref}: {p.message}" for p in err.problems], EXIT_INVALID) from None
    except RunStoreError as err:
        raise CliError([str(err)], EXIT_UNREADABLE) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    progress.close()
    for note in result.notes:  # e.g. why this run keeps no checkpoint (those said at the start aren't repeated)
        if note not in progress.said:
            print(note, file=sys.stderr)
    _report(args, graph.name, dataset.name, result)
    return EXIT_OK if result.status in ("finished", "stopped") else EXIT_INVALID


def _refuse_oversized(ref: str, graph: Any) -> None:
    """A design over the size limits is refused before any data is loaded (validation only counts)."""
    from builder.validate import validate

    sizes = [i for i in validate(graph).errors if i.code == "size" and i.node is None]
    if sizes:
        raise CliError([f"{ref}: {i.message}" for i in sizes], EXIT_INVALID)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (the dataset ones are read by _load_data)."""
    data = ("dataset", "dataset_options", "target")
    return {s.name: getattr(args, s.name) for s in cli_settings()
            if s.name not in data and getattr(args, s.name) is not None}


def _config(args: argparse.Namespace, graph: Any, ref: str) -> Any:
    """The design's meta.training, then the flags; every value checked by training.settings. The design's
    dataset options and task go with its own dataset only; without options the dataset is shaped for the
    model's inputs where it can be (digits at 28×28, ...)."""
    from data.datasets import suggest_options
    from data.fetch import with_cached_data
    from training.config import SettingsError, TrainConfig

    meta = with_cached_data(graph.meta.get("training") or {})  # lenet5 on MNIST once it is downloaded
    values = {**meta, **_overrides(args)}
    name = args.dataset or meta.get("dataset") or ""
    own = name == meta.get("dataset")
    options = dict(meta.get("dataset_options") or {}) if own else {}
    if not options and not name.lower().endswith((".csv", ".zip")):
        options = suggest_options(name, [tuple(n.params.get("shape", ())) for n in graph.inputs()])
    options.update(_parse_options(args.dataset_options))
    values.update(dataset=name, dataset_options=options, target=args.target or meta.get("target") or "")
    if not own and args.task is None:
        values["task"] = None
    try:
        return TrainConfig.from_settings(values)
    except SettingsError as err:
        raise CliError([f"{ref}: {p}" for p in err.problems], EXIT_INVALID) from None


def _load_data(ref: str, graph: Any, config: Any) -> Any:
    """The dataset the config names, split by its seed and shares."""
    from data.datasets import DatasetError, dataset_names, load_dataset

    name = config.dataset
    if not name:
        raise CliError([f"{ref}: name a dataset with --dataset (one of {', '.join(dataset_names())} "
                        "or a .csv file)"], EXIT_UNREADABLE)
    split = (config.val_fraction, config.test_fraction)
    try:
        if name.lower().endswith(".csv"):
            return _load_csv(name, config.target, config.seed, split)
        if name.lower().endswith(".zip"):
            return _load_zip(name, graph, config.seed, split)
        return load_dataset(name, seed=config.seed, fractions=split, **config.dataset_options)
    except DatasetError as err:
        raise CliError([err.message], EXIT_UNREADABLE) from None


def _load_csv(path: str, target: str | None, seed: int, split: tuple[float, float]) -> Any:
    from data.userdata import load_csv

    if not target:
        raise CliError([f"{path}: name the column to predict with --target COLUMN"], EXIT_UNREADABLE)
    if not Path(path).is_file():
        raise CliError([f"{path}: no such file"], EXIT_UNREADABLE)
    return load_csv(Path(path), target, seed=seed, fractions=split)


def _load_zip(path: str, graph: Any, seed: int, split: tuple[float, float]) -> Any:
    """Image folders in a zip, resized to the model's (C, H, W) input: grey for one channel."""
    from data.userdata import load_image_zip

    if not Path(path).is_file():
        raise CliError([f"{path}: no such file"], EXIT_UNREADABLE)
    shape = next((tuple(n.params.get("shape", ())) for n in graph.inputs()), ())
    if len(shape) != 3:
        raise CliError([f"{path}: images need a model whose Input is (channels, height, width), not {shape}"],
                       EXIT_INVALID)
    return load_image_zip(Path(path), size=shape[1], grayscale=shape[0] == 1, seed=seed, fractions=split)


def _parse_options(items: list[str]) -> dict[str, str]:
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError([f"--option {item!r}: write it as KEY=VALUE, e.g. gate=xor"], EXIT_UNREADABLE)
        options[key.strip()] = value.strip()
    return options


def _open_store(path: str | None) -> Any:
    from training.runstore import RunStore, RunStoreError

    try:
        return RunStore(path)
    except RunStoreError as err:
        raise CliError([str(err)], EXIT_UNREADABLE) from None


class _Progress:
    """A bar redrawn in place on a terminal; one line per epoch otherwise. With --json (``as_json``) stdout
    carries the JSON result only, so the epoch lines go to stderr and no bar is drawn."""

    def __init__(self, as_json: bool, tty: bool) -> None:
        self.tty = tty and not as_json
        self.drawn = False
        self.out = sys.stderr if as_json else sys.stdout
        self.said = ""

    def __call__(self, event: Any) -> None:
        if event.kind == "start" and event.message:  # e.g. the device asked for is missing
            print(event.message, file=sys.stderr, flush=True)
            self.said = event.message
        elif event.kind == "step" and self.tty:
            done = event.step / max(1, event.total_steps)
            bar = "#" * int(done * 30)
            eta = f"{event.eta_s:.0f}s" if event.eta_s is not None else "?"
            sys.stderr.write(f"\repoch {event.epoch}/{event.epochs} [{bar:<30}] loss {event.train_loss:.4f} "
                             f"{event.samples_per_s:,.0f} samples/s ETA {eta}   ")
            sys.stderr.flush()
            self.drawn = True
        elif event.kind == "epoch":
            self.close()
            print(_epoch_line(event), file=self.out, flush=True)

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\r" + " " * 100 + "\r")
            self.drawn = False


def _epoch_line(event: Any) -> str:
    parts = [f"epoch {event.epoch}/{event.epochs}", f"train_loss {event.train_loss:.4f}"]
    if event.val_loss is not None:
        parts.append(f"val_loss {event.val_loss:.4f}")
    for key, value in event.metrics.items():
        if isinstance(value, float):
            parts.append(f"val_{key} {value:.4f}")
    return "  ".join(parts)


def _report(args: argparse.Namespace, name: str, dataset: str, result: Any) -> None:
    scalars = {k: v for k, v in result.test_metrics.items() if isinstance(v, (int, float))}
    if result.status != "finished":  # stopped, NaN loss, out of memory: say why
        print(result.message, file=sys.stderr)
    human = sys.stderr if args.json else sys.stdout  # under --json, stdout is the JSON line alone
    print(f"{name} on {dataset}: {result.status} after {result.epochs} epochs on {result.device} "
          f"({result.seconds:.1f} s); test " + ", ".join(f"{k} {v:.4f}" for k, v in scalars.items()), file=human)
    if args.json:
        summary = {"design": name, "dataset": dataset, "task": result.task, "status": result.status,
                   "message": result.message, "epochs": result.epochs, "device": result.device,
                   "seconds": round(time.perf_counter() - _STARTED, 3), "train_seconds": round(result.seconds, 3),
                   "samples_per_s": round(result.samples_per_s, 1), "run_id": result.run_id,
                   **{f"test_{k}": v for k, v in scalars.items()}}
        print(json.dumps(summary))


# -- runs ---------------------------------------------------------------------------------------------
def cmd_runs(args: argparse.Namespace) -> int:
    store = _open_store(args.db)
    from training.runstore import RunStoreError

    if args.show:
        return _show_run(store, args.show, args.json)
    try:
        runs = store.list_runs(limit=args.limit)
    except RunStoreError as err:
        raise CliError([str(err)], EXIT_UNREADABLE) from None
    if args.json:
        print(json.dumps([r.summary() for r in runs], indent=2))
        return EXIT_OK
    if not runs:
        print(f"no runs recorded yet in {store.path}")
        return EXIT_OK
    print(runs_text(runs))
    return EXIT_OK


def runs_text(runs: list[Any]) -> str:
    """The history as a table: the `Run` column is the number `--run N` and `--show N` take (the store's
    own numbering), then the settings that tell runs apart and the final test metrics."""
    import pandas as pd

    from training.run_table import format_value, run_rows

    frame = pd.DataFrame(run_rows(runs))
    return frame.to_string(index=False, na_rep="", formatters={c: format_value for c in frame.columns})


def _show_run(store: Any, run_id: str, as_json: bool) -> int:
    """The run's record and epochs; its weights are read too, so a deleted or damaged file is reported."""
    from training.runstore import RunStoreError

    try:
        record = store.find_run(run_id)  # a number, as `layerlab runs` lists it, or an id
    except RunStoreError as err:
        raise CliError([str(err)], EXIT_UNREADABLE) from None
    problem, tensors = None, 0
    try:
        tensors = len(store.weights_state(record.id))
    except RunStoreError as err:
        problem = str(err)
    if as_json:
        print(json.dumps({**record.summary(), "epochs": record.epochs, "weights": record.weights,
                          "weights_ok": problem is None}, indent=2))
    else:
        print(f"run {record.number}  {record.id}  {record.name}  {record.dataset}  {record.device}  {record.status}  {record.message}")
        for row in record.epochs:
            print("  " + "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
        if problem is None:
            print(f"weights: {record.weights} ({tensors} tensors)")
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK
