"""A CSV regression reports every figure in the target's own units: the live events and chart data, the run
store, `layerlab runs` and the predictions table (the CSV's own columns and values, the true value as written)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from cli.main import main
from data.userdata import load_csv
from training.engine import TrainConfig, train
from training.run_table import units_label
from training.runstore import RunStore
from ui.train.train_live import curves
from ui.train.train_results import table_rows

COLUMNS = ["area_m2", "rooms", "district", "year_built", "garden", "price_eur"]


def _homes(path: Path, n: int = 120) -> Path:
    """Homes priced in euros (hundreds of thousands): standardized, the RMSE would read about 0.1."""
    rng = np.random.default_rng(4)
    lines = [",".join(COLUMNS)]
    for _ in range(n):
        area, rooms = rng.uniform(40, 220), int(rng.integers(1, 7))
        district, year, garden = rng.choice(["north", "south", "centre"]), int(rng.integers(1900, 2020)), rng.random() < .4
        price = int(3500 * area + 12_000 * rooms + (90_000 if district == "centre" else 0) + rng.normal(0, 20_000))
        lines.append(f"{area:.1f},{rooms},{district},{year},{'yes' if garden else 'no'},{price}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _project(path: Path, inputs: int) -> Path:
    nodes = [{"id": "x", "type": "Input", "params": {"shape": [inputs]}},
             {"id": "h", "type": "Linear", "params": {"out_features": 16}}, {"id": "act", "type": "ReLU", "params": {}},
             {"id": "out", "type": "Linear", "params": {"out_features": 1}}]
    edges = [{"source": a, "target": b} for a, b in (("x", "h"), ("h", "act"), ("act", "out"))]
    path.write_text(json.dumps({"layerlab": 1, "name": "price_mlp", "nodes": nodes, "edges": edges}))
    return path


@pytest.fixture(scope="module")
def homes_run(tmp_path_factory):
    """One real run on the CSV, with its events and its store."""
    folder = tmp_path_factory.mktemp("homes")
    csv = _homes(folder / "homes.csv")
    data = load_csv(csv, "price_eur", seed=0)
    project = _project(folder / "price.json", data.input_shapes[0][0])
    from builder.project import load_project

    graph = load_project(json.loads(project.read_text()))
    store = RunStore(folder / "runs.sqlite")
    events: list = []
    config = TrainConfig.from_settings({"epochs": 4, "lr": 0.01, "threads": 1, "device": "cpu",
                                        "dataset": str(csv), "target": "price_eur"})
    result = train(graph, data, config, on_event=events.append, store=store)
    return data, result, events, store, folder


def _rmse_in_euros(model: torch.nn.Module, data, split: str) -> float:
    """The RMSE computed here, independently of the engine: predictions and truth both back in euros."""
    part = getattr(data, split)
    with torch.no_grad():
        model.eval()
        predicted = model(part.inputs[0]).double().reshape(-1)
    std, mean = data.extras["target_std"], data.extras["target_mean"]
    truth = part.target.double().reshape(-1) * std + mean
    return float(((predicted * std + mean - truth) ** 2).mean().sqrt())


def test_live_events_and_chart_data_are_in_euros(homes_run):
    data, result, events, store, _ = homes_run
    epochs = [e for e in events if e.kind == "epoch"]
    assert len(epochs) == 4 and all(e.metrics["rmse"] > 1_000 for e in epochs)  # euros, not ~0.1
    assert all("rmse_units" not in e.metrics for e in epochs)  # one figure per metric, not two
    live = curves(events, "regression")
    assert live.metric == "rmse" and live.metric_y == [e.metrics["rmse"] for e in epochs]
    assert units_label(live.metric, "regression", data.extras["target_column"]) == "rmse (price_eur)"  # its title
    end = next(e for e in events if e.kind == "end")
    assert end.metrics["rmse"] == pytest.approx(_rmse_in_euros(result.model, data, "test"), rel=1e-4)


def test_run_store_holds_euros(homes_run):
    _, result, events, store, _ = homes_run
    record = store.get_run(result.run_id)
    assert record.metrics["test_rmse"] == pytest.approx(result.test_metrics["rmse"]) and record.metrics["test_rmse"] > 1_000
    assert [row["rmse"] for row in record.epochs] == pytest.approx([e.metrics["rmse"] for e in events if e.kind == "epoch"])
    assert record.headline()[0] == "rmse" and record.headline()[1] > 1_000
    assert record.weights_label.endswith(f"test rmse {record.headline()[1]:,.0f}")  # 23,456, not 2.346e+04


def test_layerlab_runs_prints_euros_under_the_target_column(homes_run, capsys):
    _, result, _, store, _ = homes_run
    assert main(["runs", "--db", str(store.path)]) == 0
    out = capsys.readouterr().out
    header, row = out.splitlines()[:2]
    assert "test rmse (price_eur)" in header and "test mae (price_eur)" in header
    assert f"{result.test_metrics['rmse']:,.0f}" in row  # 23,456: euros, as the app shows them


def test_predictions_table_shows_the_csv_as_written(homes_run):
    data, result, _, _, folder = homes_run
    rows = table_rows(result.model, result.plan, data)
    written = (folder / "homes.csv").read_text().splitlines()[1:]
    by_line = {tuple(line.split(",")[:-1]): int(line.split(",")[-1]) for line in written}
    assert len(rows) == 10
    for row in rows:
        assert list(row)[:5] == COLUMNS[:5]  # every feature column, in the file's order, none standardized
        key = (f"{row['area_m2']:.1f}", str(row["rooms"]), row["district"], str(row["year_built"]), row["garden"])
        assert row["true"] == by_line[key] and isinstance(row["true"], int)  # 731734, not 731734.0085
        assert row["error"] == pytest.approx(row["predicted"] - row["true"], abs=1)
    with torch.no_grad():
        result.model.eval()
        first = float(result.model(data.test.inputs[0][:1]).reshape(-1)[0])
    euros = first * data.extras["target_std"] + data.extras["target_mean"]
    assert rows[0]["predicted"] == pytest.approx(euros, rel=1e-5) and not math.isclose(rows[0]["predicted"], first)


def test_older_runs_with_separate_unit_figures_read_in_units(tmp_path):
    """Runs recorded before the conversion moved into evaluation kept rmse_units beside a standardized rmse."""
    store = RunStore(tmp_path / "old.sqlite")
    run_id = store.start_run("old", {}, {"target": "price_eur"}, "csv:homes.csv", "cpu")
    store.add_epoch(run_id, 1, {"epoch": 1, "rmse": 0.12, "mae": 0.1, "rmse_units": 24_000.0, "mae_units": 20_000.0})
    store.finish_run(run_id, "finished", metrics={"task": "regression", "test_rmse": 0.13,
                                                  "test": {"rmse": 0.13, "mae": 0.1, "rmse_units": 26_000.0,
                                                           "mae_units": 20_500.0, "r2": 0.8}})
    record = store.get_run(run_id)
    assert record.metrics["test_rmse"] == 26_000.0 and record.metrics["test"]["mae"] == 20_500.0
    assert record.epochs[0]["rmse"] == 24_000.0 and "rmse_units" not in record.epochs[0]
