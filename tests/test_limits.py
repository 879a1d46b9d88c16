"""Limits a classroom server sets through builder.settings (LAYERLAB_* variables or layerlab.toml): design size
(nodes, parameters, file bytes), epochs and seconds per run. Every refusal says what is too big and how big.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from builder import project
from builder import validate as validate_module
from builder.graph import Graph, Node
from builder.project import ProjectError, load_project, parse_json
from builder.settings import Settings, SettingsError, load_settings, settings
from builder.validate import validate
from cli.main import main
from data.datasets import load_dataset
from training.engine import TrainConfig, train
from training.tasks import FitError

REPO = Path(__file__).resolve().parent.parent
TEN_BILLION = {
    "layerlab": 1, "name": "huge",
    "nodes": [{"id": "x", "type": "Input", "params": {"shape": [100_000]}},
              {"id": "fc", "type": "Linear", "params": {"out_features": 100_000}}],
    "edges": [{"source": "x", "target": "fc"}],
}
SIZE_MESSAGE = ("the model has 10.0 B parameters (10,000,100,000); the limit is 1.0 B. "
                "The largest block is ‘fc’ with 10.0 B")


@pytest.fixture
def env(monkeypatch):
    """Set LAYERLAB_* variables for one test; the cached process settings are re-read before and after."""
    def setter(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"LAYERLAB_{name.upper()}", value)
        settings.cache_clear()

    settings.cache_clear()
    yield setter
    monkeypatch.undo()
    settings.cache_clear()


def _chain(n: int) -> dict:
    nodes = [{"id": "x", "type": "Input", "params": {"shape": [4]}}]
    nodes += [{"id": f"r{k}", "type": "ReLU"} for k in range(1, n)]
    edges = [{"source": a["id"], "target": b["id"]} for a, b in zip(nodes, nodes[1:])]
    return {"layerlab": 1, "name": "chain", "nodes": nodes, "edges": edges}


# -- settings ---------------------------------------------------------------------------------------
def test_defaults_are_the_module_constants():
    defaults = Settings()
    assert defaults.max_nodes == project.MAX_NODES
    assert defaults.max_file_bytes == project.MAX_FILE_BYTES
    assert defaults.max_params == validate_module.MAX_PARAMS
    assert (defaults.max_run_seconds, defaults.max_epochs, defaults.max_concurrent_runs) == (0.0, 10_000, 2)


def test_environment_then_toml_then_defaults(tmp_path):
    toml = tmp_path / "layerlab.toml"
    toml.write_text("[layerlab]\nmax_nodes = 50\nmax_run_seconds = 90\nmax_epochs = 20\n")
    loaded = load_settings({"LAYERLAB_CONFIG": str(toml), "LAYERLAB_MAX_NODES": "30",
                            "LAYERLAB_MAX_PARAMS": "1e10", "LAYERLAB_MAX_UPLOAD_MB": " 1_000 ",
                            "LAYERLAB_MAX_EPOCHS": ""})  # an empty variable is unset: the file's value holds
    assert (loaded.max_nodes, loaded.max_params, loaded.max_upload_mb) == (30, 10_000_000_000, 1000)
    assert loaded.max_upload_bytes == 1000 * 1024 * 1024
    assert (loaded.max_run_seconds, loaded.max_epochs, loaded.max_file_bytes) == (90.0, 20, 5_000_000)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("max_nodes", "lots", "setting LAYERLAB_MAX_NODES='lots' must be a whole number"),
    ("max_nodes", "0", "setting LAYERLAB_MAX_NODES='0' must be at least 1"),
    ("max_epochs", "2.5", "setting LAYERLAB_MAX_EPOCHS='2.5' must be a whole number"),
    ("max_params", "-5", "setting LAYERLAB_MAX_PARAMS='-5' must be at least 1"),
    ("max_run_seconds", "-1", "setting LAYERLAB_MAX_RUN_SECONDS='-1' must be 0 or more"),
    ("max_run_seconds", "nan", "setting LAYERLAB_MAX_RUN_SECONDS='nan' must be a number"),
    ("max_upload_mb", "1e999", "setting LAYERLAB_MAX_UPLOAD_MB='1e999' must be a whole number"),
])
def test_bad_environment_values_are_named(name, value, message):
    with pytest.raises(SettingsError) as err:
        load_settings({f"LAYERLAB_{name.upper()}": value})
    assert str(err.value) == message


@pytest.mark.parametrize(("text", "message"), [
    ("max_nodes = [", "is not valid TOML"),
    ("[layerlab]\nmax_node = 5\n", "unknown setting 'max_node' (did you mean 'max_nodes'?)"),
    ("[layerlab]\nmax_epochs = true\n", "setting max_epochs = True must be a number, not true/false"),
    ("[layerlab]\ndata_dir = 5\n", "setting data_dir = 5 must be text"),
    ("layerlab = 3\n", "[layerlab] must be a table of settings"),
])
def test_bad_settings_files_are_named(tmp_path, text, message):
    path = tmp_path / "layerlab.toml"
    path.write_text(text)
    with pytest.raises(SettingsError) as err:
        load_settings({"LAYERLAB_CONFIG": str(path)})
    assert message in str(err.value)
    with pytest.raises(SettingsError, match="cannot read the settings file"):
        load_settings({"LAYERLAB_CONFIG": str(tmp_path / "missing.toml")})


def test_cli_reports_a_bad_setting_in_one_line(env, capsys):
    env(max_nodes="many")
    assert main(["validate", "xor_mlp"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "layerlab: setting LAYERLAB_MAX_NODES='many' must be a whole number"


# -- design size ------------------------------------------------------------------------------------
def test_ten_billion_parameters_refused_before_anything_is_allocated():
    """In a fresh interpreter: reading and validating the design never imports torch, and the peak Python
    allocation while doing it stays small (the weights would take 40 GB)."""
    script = textwrap.dedent(f"""
        import json, sys, tracemalloc
        from builder.project import load_project
        from builder.validate import validate
        tracemalloc.start()
        result = validate(load_project({json.dumps(json.dumps(TEN_BILLION))}))
        peak = tracemalloc.get_traced_memory()[1]
        print(json.dumps({{"peak": peak, "torch": "torch" in sys.modules, "valid": result.valid,
                          "messages": [i.message for i in result.errors], "total": result.total_params}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["torch"] is False and report["valid"] is False
    assert report["messages"] == [SIZE_MESSAGE] and report["total"] == 10_000_100_000
    assert report["peak"] < 2_000_000  # measured ~55 kB; 10 B float32 weights would be 40 GB


def test_engine_refuses_ten_billion_parameters_with_the_same_message():
    data = load_dataset("iris", seed=0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    with pytest.raises(FitError) as err:
        train(load_project(TEN_BILLION), data, TrainConfig(epochs=1))
    assert [p.message for p in err.value.problems] == [SIZE_MESSAGE]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # no 40 GB model was built


def test_cli_train_refuses_ten_billion_parameters_before_loading_data(tmp_path, capsys):
    design = tmp_path / "huge.json"
    design.write_text(json.dumps(TEN_BILLION))
    db = tmp_path / "runs.sqlite"
    assert main(["train", str(design), "--dataset", "iris", "--db", str(db)]) == 1
    assert capsys.readouterr().err.strip() == f"{design}: {SIZE_MESSAGE}"
    assert not db.exists()  # refused before the run history was even opened


def test_parameter_limit_follows_the_setting(env):
    small = load_project(_chain(2) | {"nodes": [{"id": "x", "type": "Input", "params": {"shape": [100]}},
                                                {"id": "r1", "type": "Linear", "params": {"out_features": 100}}]})
    assert validate(small).valid  # 10,100 parameters
    env(max_params="10000")
    [issue] = validate(small).errors
    assert issue.code == "size" and issue.message.startswith("the model has 10.1 K parameters (10,100); the limit")


def test_node_limit_follows_the_setting(env):
    env(max_nodes="5")
    load_project(_chain(5))
    with pytest.raises(ProjectError) as err:
        load_project(_chain(6))
    assert err.value.problems == ["the graph has 6 nodes; the limit is 5"]
    graph = Graph("big", tuple(Node(f"r{k}", "ReLU") for k in range(6)))  # as built by edits, not read
    [issue] = validate(graph).issues
    assert issue.message == "the graph has 6 blocks; the limit is 5 (LAYERLAB_MAX_NODES)"
    assert issue.code == "size" and not validate(graph).order


def test_file_size_limit_follows_the_setting(env):
    env(max_file_bytes="200")
    text = json.dumps(_chain(2))
    assert len(text) < 200
    load_project(text)
    with pytest.raises(ProjectError, match=r"the file is 2\d\d bytes; the limit is 200"):
        parse_json(text + " " * 100)


# -- runs -------------------------------------------------------------------------------------------
def _linear() -> Graph:
    return load_project({"layerlab": 1, "name": "reg",
                         "nodes": [{"id": "x", "type": "Input", "params": {"shape": [10]}},
                                   {"id": "out", "type": "Linear", "params": {"out_features": 1}}],
                         "edges": [{"source": "x", "target": "out"}]})


def test_engine_stops_at_the_servers_time_limit(env):
    env(max_run_seconds="0.3")
    data = load_dataset("diabetes", seed=0)
    result = train(_linear(), data, TrainConfig(epochs=1000, batch_size=8, max_seconds=60))
    assert result.status == "stopped"
    assert result.message.startswith("the server's time limit of 0.3 s per run (LAYERLAB_MAX_RUN_SECONDS) "
                                     "reached at epoch")
    assert 0 < result.epochs < 1000
    shorter = train(_linear(), data, TrainConfig(epochs=1000, batch_size=8, max_seconds=0.2))
    assert shorter.message.startswith("time limit of 0.2 s reached")  # the run's own, shorter limit wins


def test_engine_and_cli_refuse_more_epochs_than_allowed(env, tmp_path, capsys):
    env(max_epochs="3")
    data = load_dataset("diabetes", seed=0)
    with pytest.raises(FitError) as err:
        train(_linear(), data, TrainConfig(epochs=4))
    message = "4 epochs is more than this server allows (3, LAYERLAB_MAX_EPOCHS): choose fewer epochs"
    assert [p.message for p in err.value.problems] == [message]
    assert main(["train", "xor_mlp", "--epochs", "4", "--db", str(tmp_path / "r.sqlite")]) == 1
    assert capsys.readouterr().err.strip() == f"xor_mlp: {message}"
