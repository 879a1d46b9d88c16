"""The exported training script carries only the code its run reaches (issue 22, item 7).

What a run reaches is decided in one place (``export.script``: the names the script's own load_data, loop
and main read, followed through LayerLab's modules by ``carry``; flags from ``training.settings`` for the
run's task). These tests read the script a user gets; that it still trains bit for bit like the app is
tests/test_script_fidelity.py's job, for every template.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from builder.edits import set_trainable
from builder.templates import load_template
from codegen.loader import import_source
from export.script import generate_script

ROOT = Path(__file__).resolve().parent.parent
# Issue 22 asks for at most 350 lines. A line trace of the default iris run executes nearly all of what is
# left (the data's preparation, the step, evaluation, torchrun's setup, the loop): the rest of the gap is the
# app's own code, carried verbatim with its docstrings. A ratchet: it was 783 before this test.
IRIS_MAX_LINES = 745


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_iris_script_carries_only_what_its_run_reaches(tmp_path: Path) -> None:
    done = _run([sys.executable, "-m", "cli", "export", "tabular_mlp", "--to", "script", "-o", "iris_train.py"],
                tmp_path)
    assert done.returncode == 0, done.stderr
    code = (tmp_path / "iris_train.py").read_text(encoding="utf-8")
    assert len(code.splitlines()) <= IRIS_MAX_LINES, len(code.splitlines())
    assert "def prepare_tabular(" in code and "class ClassAccumulator" in code and "def _ce(" in code
    # Not reached by a classification run on a built-in table that freezes nothing: other tasks' losses and
    # metrics, other data families (and the DatasetError only they raise), frozen parts, errors in units.
    for absent in ("RegressionAccumulator", "TokenAccumulator", "def _bce(", "vae_loss", "prepare_csv",
                   "read_source", "def prepare_image", "DatasetError", "keep_frozen_norms", "in_units",
                   "'frozen_norm'", "from dataclasses import replace\n"):
        assert absent not in code, absent

    helped = _run([sys.executable, "-I", "iris_train.py", "--help"], tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "--label-smoothing" in helped.stdout and "--class-weights" in helped.stdout
    assert "--optimizer {sgd,momentum,nesterov,rmsprop,adam,adamw,radam}" in helped.stdout  # every optimizer
    assert "--frozen-norm" not in helped.stdout
    bad = _run([sys.executable, "-I", "iris_train.py", "--lr", "20"], tmp_path)
    assert bad.returncode == 2 and "argument --lr: must be from 1e-07 to 10, got 20.0" in bad.stderr
    bad = _run([sys.executable, "-I", "iris_train.py", "--epochs", "2.5"], tmp_path)
    assert bad.returncode == 2 and "argument --epochs: expected a number, got '2.5'" in bad.stderr
    trained = _run([sys.executable, "-I", "iris_train.py", "--epochs", "2", "--out", ""], tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "TabularMlp on iris (classification)" in trained.stdout and "finished: trained 2 epochs" in trained.stdout


def _script(graph, capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[str, dict]:
    code = generate_script(graph)
    threads = torch.get_num_threads()
    try:
        result = import_source(code, "script").main([*argv, "--out", ""])
    finally:
        torch.set_num_threads(threads)
    capsys.readouterr()
    return code, result


@pytest.mark.parametrize(("template", "present", "absent"), [
    # regression: its errors in the target's units; no class weights or label smoothing (no classes)
    ("lstm_timeseries", ("RegressionAccumulator", "in_units(metrics"), ("'class_weights'", "'label_smoothing'",
                                                                       "ClassAccumulator", "with_class_weights")),
    # a VAE: its loss adds the KL term to the reconstruction's
    ("vae", ("vae_loss", "ReconstructionAccumulator"), ("'class_weights'", "'label_smoothing'", "_ce(")),
])
def test_other_tasks_scripts_carry_what_they_need(template: str, present: tuple[str, ...],
                                                 absent: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    code, result = _script(load_template(template), capsys, ["--epochs", "1", "--max-seconds", "20"])
    assert result["status"] in ("finished", "stopped") and result["test"], result["message"]
    for name in present:
        assert name in code, name
    for name in absent:
        assert name not in code, name


def test_a_design_that_freezes_a_part_gets_its_frozen_norm_flag(capsys: pytest.CaptureFixture[str]) -> None:
    graph = set_trainable(load_template("digits_cnn"), "conv1", False)
    code, result = _script(graph, capsys, ["--epochs", "1", "--frozen-norm", "train"])
    assert "keep_frozen_norms(run.model, args.frozen_norm)" in code and "'frozen_norm'" in code
    assert result["status"] == "finished"
