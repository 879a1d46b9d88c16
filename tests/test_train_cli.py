"""`layerlab train` and `layerlab runs`: the real command in a subprocess (process start included) for the
done-when thresholds, in-process for the user-mistake cases (bad CSV files, unknown datasets, misfit designs)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.main import main


def _layerlab(*args: str, db: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cli", *args, "--db", db], capture_output=True, text=True,
                          timeout=300)
    return done, time.perf_counter() - started


@pytest.mark.slow
@pytest.mark.parametrize("template", ["digits_cnn", "digits_mlp"])
def test_template_defaults_reach_95_percent(template, tmp_path, capsys):
    db = str(tmp_path / "runs.sqlite")
    done, wall = _layerlab("train", template, "--dataset", "digits", "--json", db=db)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # --json: stdout is the JSON alone, progress is on stderr
    assert summary["test_accuracy"] >= 0.95
    assert summary["device"] == "cpu" or summary["device"] in ("cuda", "mps")
    epoch_lines = [ln for ln in done.stderr.splitlines() if ln.startswith("epoch ")]
    assert summary["epochs"] == len(epoch_lines)  # a line per epoch
    assert summary["seconds"] > 0 and summary["run_id"]
    code, out, _ = _run(capsys, "runs", "--json", "--db", db)
    runs = json.loads(out)
    assert code == 0 and [r["id"] for r in runs] == [summary["run_id"]] and runs[0]["status"] == "finished"
    with capsys.disabled():
        print(f"\n{template}: {wall:.1f} s wall incl. process start, test accuracy {summary['test_accuracy']:.4f}")


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_small_run_prints_epochs_and_json(capsys, tmp_path):
    db = str(tmp_path / "r.sqlite")
    code, out, err = _run(capsys, "train", "xor_mlp", "--epochs", "3", "--batch-size", "8", "--json", "--db", db)
    assert code == 0
    assert [ln.split()[1] for ln in err.splitlines() if ln.startswith("epoch ")] == ["1/3", "2/3", "3/3"]
    summary = json.loads(out)  # the JSON alone on stdout
    assert summary["epochs"] == 3 and summary["dataset"] == "gates" and 0 <= summary["test_accuracy"] <= 1
    code, out, _ = _run(capsys, "runs", "--db", db)
    assert code == 0 and "xor_mlp" in out and "finished" in out


def test_regression_json_has_rmse(capsys, tmp_path):
    code, out, _ = _run(capsys, "train", "gru_timeseries", "--epochs", "1", "--json", "--db", str(tmp_path / "r.db"))
    summary = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and summary["task"] == "regression" and summary["test_rmse"] > 0


def test_misfit_design_exits_1_naming_the_node(capsys, tmp_path):
    code, _, err = _run(capsys, "train", "digits_mlp", "--dataset", "iris", "--db", str(tmp_path / "r.db"))
    assert code == 1
    assert "iris is 4 but Input ‘x’ is (64,): set its shape to [4]" in err
    assert "set the last Linear's (‘fc3’) out_features to 3" in err


def test_unknown_dataset_and_bad_option_exit_2(capsys, tmp_path):
    db = str(tmp_path / "r.db")
    code, _, err = _run(capsys, "train", "digits_mlp", "--dataset", "emnist", "--db", db)
    assert code == 2 and "no dataset named ‘emnist’" in err
    code, _, err = _run(capsys, "train", "xor_mlp", "-o", "gate", "--db", db)
    assert code == 2 and "KEY=VALUE" in err
    code, _, err = _run(capsys, "train", "no_such_design", "--db", db)
    assert code in (1, 2) and "no_such_design" in err and "Traceback" not in err


@pytest.mark.parametrize("content, target, expected", [
    ("", "label", "empty"),
    ("a,b,label\n1,2,x\n3,4,x\n5,6,x\n7,8,x\n", "label", "only one value"),
    ("a,b,label\n1,2,x\n3,4,y\n", "price", "price"),
])
def test_bad_csv_files_give_clear_errors(capsys, tmp_path, content, target, expected):
    path = tmp_path / "data.csv"
    path.write_text(content)
    code, _, err = _run(capsys, "train", "digits_mlp", "--dataset", str(path), "--target", target,
                        "--db", str(tmp_path / "r.db"))
    assert code == 2
    assert expected in err.lower() and "Traceback" not in err


def test_csv_needs_a_target_column(capsys, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,label\n1,x\n")
    code, _, err = _run(capsys, "train", "digits_mlp", "--dataset", str(path), "--db", str(tmp_path / "r.db"))
    assert code == 2 and "--target" in err


def test_good_csv_trains(capsys, tmp_path):
    rows = ["x1,x2,label"] + [f"{i % 7},{(i * 3) % 5},{'big' if i % 7 > 3 else 'small'}" for i in range(80)]
    path = tmp_path / "points.csv"
    path.write_text("\n".join(rows))
    project = tmp_path / "model.json"
    project.write_text(json.dumps({"layerlab": 1, "name": "csv_mlp", "nodes": [
        {"id": "x", "type": "Input", "params": {"shape": [2]}},
        {"id": "h", "type": "Linear", "params": {"out_features": 16}}, {"id": "act", "type": "ReLU", "params": {}},
        {"id": "out", "type": "Linear", "params": {"out_features": 2}}],
        "edges": [{"source": "x", "target": "h"}, {"source": "h", "target": "act"},
                  {"source": "act", "target": "out"}]}))
    code, out, err = _run(capsys, "train", str(project), "--dataset", str(path), "--target", "label",
                          "--epochs", "30", "--lr", "0.05", "--json", "--db", str(tmp_path / "r.db"))
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["test_accuracy"] >= 0.9


def test_corrupt_history_database_exits_2(capsys, tmp_path):
    db = tmp_path / "broken.sqlite"
    db.write_bytes(b"garbage" * 500)
    code, _, err = _run(capsys, "runs", "--db", str(db))
    assert code == 2 and "can't be used" in err


def test_zip_of_image_folders_trains(capsys, tmp_path):
    import io
    import zipfile

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    archive = tmp_path / "shapes.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for label, level in (("dark", 40), ("light", 210)):
            for i in range(30):
                pixels = np.clip(rng.normal(level, 20, (8, 8)), 0, 255).astype("uint8")
                buffer = io.BytesIO()
                Image.fromarray(pixels).save(buffer, "PNG")
                z.writestr(f"{label}/{i}.png", buffer.getvalue())
    design = json.loads((Path(__file__).parent.parent / "assets/templates/digits_cnn.json").read_text())
    design["nodes"] = [{**n, "params": {**n["params"], "out_features": 2}} if n["id"] == "fc2" else n
                       for n in design["nodes"]]
    project = tmp_path / "model.json"
    project.write_text(json.dumps(design))
    code, out, err = _run(capsys, "train", str(project), "--dataset", str(archive), "--epochs", "5", "--json",
                          "--db", str(tmp_path / "r.db"))
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["dataset"] == "zip:shapes.zip" and summary["test_accuracy"] >= 0.9


def test_every_setting_is_a_flag_and_the_run_records_them(capsys, tmp_path):
    """Flags generated from training.settings reach the run; the record holds the settings the run used
    (the template's, the flags', the dataset options suggested for the model), so it can be exported again."""
    from training.runstore import RunStore

    db = str(tmp_path / "r.sqlite")
    code, out, err = _run(capsys, "train", "digits_mlp", "--epochs", "2", "--optimizer", "nesterov", "--momentum",
                          "0.8", "--schedule", "cosine", "--warmup", "0.25", "--class-weights", "balanced",
                          "--label-smoothing", "0.1", "--grad-clip", "1", "--val-fraction", "0.2", "--seed", "3",
                          "--json", "--db", db)
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    record = RunStore(db).get_run(summary["run_id"])
    assert {k: record.config[k] for k in ("optimizer", "momentum", "schedule", "warmup", "class_weights",
                                          "label_smoothing", "grad_clip", "val_fraction", "seed", "epochs")} == {
        "optimizer": "nesterov", "momentum": 0.8, "schedule": "cosine", "warmup": 0.25, "class_weights": "balanced",
        "label_smoothing": 0.1, "grad_clip": 1.0, "val_fraction": 0.2, "seed": 3, "epochs": 2}
    assert record.config["dataset"] == "digits" and record.config["dataset_options"]["flat"] is True
    assert "event_interval" not in record.config  # the engine's own knobs are not settings


def test_bad_settings_get_one_line_each(capsys, tmp_path):
    code, _, err = _run(capsys, "train", "xor_mlp", "--val-fraction", "0.4", "--test-fraction", "0.3",
                        "--db", str(tmp_path / "r.sqlite"))
    assert code == 1
    assert err.strip() == ("xor_mlp: training settings val_fraction + test_fraction: 0.4 + 0.3 leaves less than "
                           "40 % of the data to train on; keep their sum at most 0.6")
    with pytest.raises(SystemExit):
        main(["train", "xor_mlp", "--warmup", "2"])
    assert "training setting warmup: '2' is out of range; expected a number from 0 to 0.9" in capsys.readouterr().err
