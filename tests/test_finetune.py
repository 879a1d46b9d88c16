"""Start from these weights (fine-tuning): a new run whose model starts from a run's weights (or a weights file
keyed for the design), with a fresh optimizer. Its first epoch is at the source run's level, not a fresh run's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from builder.templates import load_template
from data.datasets import load_dataset
from training.config import TrainConfig
from training.continuation import from_file, from_run
from training.engine import train
from training.runstore import RunStore
from training.tasks import FitError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunStore, object, object, TrainConfig]:
    store = RunStore(tmp_path_factory.mktemp("runs") / "runs.sqlite")
    graph = load_template("digits_mlp")
    config = TrainConfig.from_settings({**graph.meta["training"], "epochs": 4, "threads": 1})
    data = load_dataset(config.dataset, seed=config.seed, **config.dataset_options)
    result = train(graph, data, config, store=store)
    assert result.status == "finished"
    return store, graph, data, config, result


def test_a_run_from_a_runs_weights_starts_at_its_level(source) -> None:  # noqa: ANN001
    store, graph, data, config, first = source
    one = TrainConfig.from_settings({**config.settings(), "epochs": 1})
    fresh = train(graph, data, one).history[0]["train_loss"]
    record, start = from_run(store, first.run_id)
    tuned = train(graph, data, one, store=store, start_from=start)
    level, began = first.history[-1]["train_loss"], tuned.history[0]["train_loss"]
    assert began < 0.5 * fresh, (began, fresh)
    assert began < 1.5 * level + 0.05, (began, level)
    again = store.get_run(tuned.run_id)
    assert again.origin == {"from_run": first.run_id, "number": record.number}
    assert tuned.run_id != first.run_id and len(again.epochs) == 1


def test_weights_from_a_file_and_a_design_they_dont_fit(source, tmp_path: Path) -> None:  # noqa: ANN001
    store, graph, data, config, first = source
    start = from_file(store.get_run(first.run_id).weights)
    one = TrainConfig.from_settings({**config.settings(), "epochs": 1})
    tuned = train(graph, data, one, start_from=start)
    assert tuned.history[0]["train_loss"] < 1.5 * first.history[-1]["train_loss"] + 0.05
    other = load_template("digits_cnn")
    with pytest.raises(FitError, match="don't fit this design"):
        train(other, load_dataset("digits", seed=0, flat=False), one, start_from=start)


def test_the_cli_starts_from_a_run(source) -> None:  # noqa: ANN001
    store, *_ = source
    done = subprocess.run([sys.executable, "-m", "cli", "train", "--from-run", "1", "--epochs", "1", "--threads",
                           "1", "--db", str(store.path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    newest = store.list_runs()[0]
    assert newest.origin.get("number") == 1 and newest.name == "digits_mlp"
    bad = subprocess.run([sys.executable, "-m", "cli", "train", "digits_cnn", "--from-run", "1", "--epochs", "1", "--dataset", "digits", "-o", "flat=false",
                          "--db", str(store.path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1 and "don't fit this design" in bad.stderr and "Traceback" not in bad.stderr


def test_uploaded_bytes_start_a_run_and_junk_is_refused(source) -> None:  # noqa: ANN001
    from training.continuation import from_bytes
    from training.runstore import RunStoreError

    store, graph, data, config, first = source
    raw = Path(store.get_run(first.run_id).weights).read_bytes()
    start = from_bytes(raw, "mine.safetensors")
    one = TrainConfig.from_settings({**config.settings(), "epochs": 1})
    assert train(graph, data, one, start_from=start).history[0]["train_loss"] < 1.5 * first.history[-1]["train_loss"] + 0.05
    with pytest.raises(RunStoreError, match="mine.pt can't be read as safetensors"):
        from_bytes(b"\x80\x04not safetensors", "mine.pt")
