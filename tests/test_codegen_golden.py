"""Golden files of generated source: a change to codegen shows up as a reviewable diff.

Regenerate with ``pytest tests/test_codegen_golden.py --update-golden`` and read the diff before committing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.graph import Edge, Graph, Node
from builder.templates import load_template
from codegen.source import generate_model
from export.script import generate_script

GOLDEN = Path(__file__).resolve().parent / "golden"
# Templates built from blocks made of blocks: one class per block definition, torchvision-shaped.
MODELS = ["digits_cnn", "nanogpt_tiny", "resnet18", "resnet_mini", "se_resnet", "seq2seq_lstm", "transformer_classifier", "transformer_seq2seq",
          "unet_small", "vae", "vit_tiny"]


def _iris_graph() -> Graph:
    """A fixed design (not a template, whose training settings may be retuned) for the script's golden file."""
    nodes = (Node("features", "Input", {"shape": [4]}), Node("hidden", "Linear", {"out_features": 16}),
             Node("act", "ReLU"), Node("head", "Linear", {"out_features": 3}))
    edges = (Edge("features", "hidden"), Edge("hidden", "act"), Edge("act", "head"))
    meta = {"training": {"dataset": "iris", "epochs": 50, "lr": 0.01, "optimizer": "adam", "batch_size": 16}}
    return Graph("iris_mlp", nodes, edges, "A small MLP for the iris flowers.", meta)


def _check(name: str, code: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        path.write_text(code, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run pytest with --update-golden"
    assert code == path.read_text(encoding="utf-8"), f"{name} changed: review, then rerun with --update-golden"


@pytest.mark.parametrize("template", MODELS)
def test_model_source_matches_golden(template: str, request: pytest.FixtureRequest) -> None:
    _check(f"{template}.py", generate_model(load_template(template)).code, request.config.getoption("--update-golden"))


def test_training_script_matches_golden(request: pytest.FixtureRequest) -> None:
    _check("iris_mlp_train.py", generate_script(_iris_graph()), request.config.getoption("--update-golden"))


def test_the_script_carries_only_its_runs_task_code() -> None:
    """iris is classification with cross-entropy: the other tasks' accumulators and losses stay behind, and so
    does what no iris run reaches: errors in the target's units (regression), frozen parts' batch norms (the
    design freezes nothing) and the model module's example_inputs."""
    code = generate_script(_iris_graph())
    assert "class ClassAccumulator" in code and "def _ce(" in code
    for other in ("RegressionAccumulator", "TokenAccumulator", "ReconstructionAccumulator", "def _bce(",
                  "F.mse_loss", "F.huber_loss", "in_units", "keep_frozen_norms", "example_inputs", "INPUT_SHAPES"):
        assert other not in code, other
    # A ratchet, not the goal: the issue asks for <= 350 lines; this was 847 before tables were selected, 775
    # after, 799 once freezing (keep_frozen_norms, --frozen-norm) and uint8 pixels (model_input) came in, 766
    # once unreached helpers stayed behind. What is left is nearly all reached by a default run: a line trace of
    # one left 84 of the 766 lines unexecuted (error paths, torchrun's, and the flags' other choices). The vae
    # task (each task's loss table, selected like the others; outputs that may be a tuple) added a few; the
    # settings as one table, flags only for the run's task and DatasetError only where it is raised took 40
    # off (tests/test_script_reach.py checks the script a user exports).
    assert len(code.splitlines()) <= 740
    assert "vae_loss" not in code


def test_selecting_a_key_a_table_lacks_is_refused() -> None:
    from codegen.source import CodegenError
    from export.script_data import carry
    from training.metrics import make_accumulator

    with pytest.raises(CodegenError, match="training.metrics.ACCUMULATORS has no entry 'clustering'"):
        carry(make_accumulator, select={"ACCUMULATORS": {"clustering"}})
    picked = carry(make_accumulator, select={"ACCUMULATORS": {"regression"}})
    assert "class RegressionAccumulator" in picked.code and "ClassAccumulator" not in picked.code
