"""Ray is an optional extra: without it the app and every other executor work as before, LayerLab imports no Ray
until a run is sent to it, and a run sent to "ray" fails with what to install instead of a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from builder.project import dump_project
from builder.settings import SettingsError, load_settings
from builder.templates import load_template
from data.datasets import load_dataset
from training.config import TrainConfig
from ui.train.live_work import RunOrder
from ui.train.run_manager import RunManager, RunState


def test_nothing_imports_ray_until_a_run_goes_to_it():
    code = ("import sys, ui.train.executor, ui.train.ray_executor, cli.main, cli.train_cmd; "
            "ui.train.executor.new_executor('ray'); print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_a_run_sent_to_ray_without_ray_says_what_to_install(monkeypatch):
    from ui.train.ray_executor import RAY_MISSING, RayExecutor

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError, as where it isn't installed
    graph = load_template("xor_mlp")
    meta = graph.meta["training"]
    dataset = load_dataset(meta["dataset"], **(meta.get("dataset_options") or {}))
    order = RunOrder(dump_project(graph), dataset, TrainConfig.from_dict({**meta, "epochs": 1}), "classification")
    handle = RunManager(max_runs=1, heartbeat_timeout=600).submit(
        "s", lambda h: RayExecutor().run(order, None, h, None, graph=graph))
    assert handle.wait(30) and handle.state is RunState.FAILED
    assert handle.error == RAY_MISSING
    assert RAY_MISSING.startswith('executor "ray" needs Ray, which is not installed: pip install -e ".[ray]"')


def test_the_ray_settings_are_read_and_checked():
    got = load_settings({"LAYERLAB_EXECUTOR": "Ray", "LAYERLAB_RAY_ADDRESS": "10.0.0.5:6379",
                         "LAYERLAB_RAY_NUM_CPUS": "0.5", "LAYERLAB_RAY_NUM_GPUS": "1"})
    assert (got.executor, got.ray_address, got.ray_num_cpus, got.ray_num_gpus) == ("ray", "10.0.0.5:6379", 0.5, 1.0)
    with pytest.raises(SettingsError, match="LAYERLAB_RAY_NUM_GPUS='-1'.* must be 0 or more"):
        load_settings({"LAYERLAB_RAY_NUM_GPUS": "-1"})
    with pytest.raises(SettingsError, match="use one of thread, process, ray"):
        load_settings({"LAYERLAB_EXECUTOR": "dask"})


def test_layerlab_app_executor_flags_become_the_servers_settings(monkeypatch, capsys):
    from builder.settings import settings
    from cli.main import main

    monkeypatch.setenv("LAYERLAB_EXECUTOR", "thread")  # restored afterwards, with the address below
    monkeypatch.setenv("LAYERLAB_RAY_ADDRESS", "")
    try:
        assert main(["app", "--executor", "ray", "--ray-address", "10.0.0.5:6379", "--print-command"]) == 0
        assert "streamlit run" in capsys.readouterr().out
        assert (settings().executor, settings().ray_address) == ("ray", "10.0.0.5:6379")  # what the server reads
    finally:
        monkeypatch.undo()
        settings.cache_clear()
