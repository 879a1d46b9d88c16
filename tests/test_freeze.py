"""Freezing: a node or a block instance switched to not trainable keeps its weights (and, by default, its batch
norm statistics) through training, in the app's engine and in the exported script alike; the summary counts
trainable and frozen parameters; the project file keeps the switch and old files read as before."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
import torch

from builder.edits import EditError, set_trainable
from builder.project import ProjectError, dump_project, load_project
from builder.summary import format_summary, summarize
from builder.templates import load_template
from codegen.loader import build_model, import_source
from codegen.source import generate_model
from data.datasets import load_dataset
from export.script import generate_script, script_config
from training.engine import train
from training.rng import seeded

FROZEN = ("stem", "layer1")  # a layer and a block instance (a BasicBlock with two batch norms inside)


def _frozen_design() -> Any:
    graph = load_template("resnet_mini")
    for node_id in FROZEN:
        graph = set_trainable(graph, node_id, False)
    return graph


def _initial(graph: Any, seed: int) -> dict[str, torch.Tensor]:
    """The weights a run starts from: seeded as the engine and the script seed them."""
    with seeded(seed):
        return {k: v.clone() for k, v in build_model(generate_model(graph)).state_dict().items()}


def _frozen_key(key: str) -> bool:
    return key.startswith(tuple(f"{n}." for n in FROZEN))


@pytest.fixture(scope="module")
def run() -> tuple[Any, Any, Any]:
    graph = _frozen_design()
    config = script_config(graph, {"epochs": 1, "threads": 1})
    data = load_dataset(config.dataset, seed=config.seed, **config.dataset_options)
    return graph, config, train(graph, data, config)


def test_frozen_parameters_are_bit_identical_after_training(run) -> None:  # noqa: ANN001
    graph, config, result = run
    before, after = _initial(graph, config.seed), result.model.state_dict()
    frozen = [k for k in before if _frozen_key(k)]
    assert any("bn" in k and "running_mean" in k for k in frozen), "the block holds batch norms"
    for key in frozen:  # weights and, with frozen_norm 'eval' (the default), running statistics too
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(before[key], after[key]), key
    changed = [k for k in before if not _frozen_key(k) and k.endswith("weight")]
    assert changed and all(not torch.equal(before[k], after[k]) for k in changed)


def test_frozen_norm_train_updates_statistics_only(run) -> None:  # noqa: ANN001
    graph, config, _ = run
    config = replace(config, frozen_norm="train")
    data = load_dataset(config.dataset, seed=config.seed, **config.dataset_options)
    after = train(graph, data, config).model.state_dict()
    before = _initial(graph, config.seed)
    stats = [k for k in before if _frozen_key(k) and "running_mean" in k]
    assert stats and all(not torch.equal(before[k], after[k]) for k in stats)
    weights = [k for k in before if _frozen_key(k) and k.endswith(("weight", "bias"))]
    assert weights and all(torch.equal(before[k], after[k]) for k in weights)


def test_the_summary_counts_trainable_and_frozen() -> None:
    graph = _frozen_design()
    summary = summarize(graph)
    model = build_model(generate_model(graph))
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert frozen > 0 and (summary.frozen_params, summary.trainable_params) == (frozen, trainable)
    assert summary.total_params == frozen + trainable
    assert f"Frozen params: {frozen:,}" in format_summary(summary)
    rows = {r.node: r for r in summary.rows}
    assert rows["layer1"].trainable_params == 0 and rows["layer1"].total_params > 0
    assert rows["layer2"].trainable_params == rows["layer2"].total_params > 0


def test_the_generated_code_freezes_readably() -> None:
    code = generate_model(_frozen_design()).code
    assert "# Frozen in the design: these keep their weights while the rest trains." in code
    assert "for frozen in (self.stem, self.layer1):\n            frozen.requires_grad_(False)" in code
    single = generate_model(set_trainable(load_template("resnet_mini"), "fc", False)).code
    assert "self.fc.requires_grad_(False)  # frozen in the design" in single
    assert "requires_grad_" not in generate_model(load_template("resnet_mini")).code


def test_the_exported_script_freezes_the_same(run, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    graph, config, result = run
    code = generate_script(graph, settings=config)
    threads = torch.get_num_threads()
    try:
        out = import_source(code, "script").main(["--log-json", "--out", ""])
    finally:
        torch.set_num_threads(threads)
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert rows[0]["train_loss"] == pytest.approx(result.history[0]["train_loss"], rel=1e-6, abs=0)
    before, after = _initial(graph, config.seed), out["model"].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if _frozen_key(k) and "num_batches" not in k)


def test_the_project_file_keeps_the_switch() -> None:
    graph = _frozen_design()
    data = dump_project(graph)
    assert [n.get("trainable") for n in data["nodes"] if n["id"] in FROZEN] == [False, False]
    assert all("trainable" not in n for n in data["nodes"] if n["id"] not in FROZEN)
    assert data["layerlab"] == 3  # an older release would refuse the key: it reads version 2 at most
    again = load_project(json.loads(json.dumps(data)))
    assert [n.id for n in again.nodes if not n.trainable] == list(FROZEN)
    old = dump_project(load_template("resnet_mini"))  # a file from before the switch existed
    assert all(n.trainable for n in load_project(old).nodes)
    bad = json.loads(json.dumps(data))
    bad["nodes"][1]["trainable"] = "no"
    with pytest.raises(ProjectError, match="trainable must be true or false"):
        load_project(bad)
    inside = json.loads(json.dumps(data))
    inside["definitions"]["BasicBlock"]["nodes"][1]["trainable"] = False
    with pytest.raises(ProjectError, match="set it on the instance instead"):
        load_project(inside)
    with pytest.raises(EditError):
        set_trainable(graph, "stem", "no")


def test_the_canvas_shows_frozen_nodes() -> None:
    from builder.validate import validate
    from ui.design.canvas_view import node_face

    graph = _frozen_design()
    result = validate(graph)

    def title(node_id: str) -> list[str]:
        return [text for _, text in node_face(graph.node(node_id), result.nodes[node_id], graph)[0]]

    assert "❄ frozen" in title("stem") and "❄ frozen" in title("layer1")
    assert "❄ frozen" not in title("layer2") and "❄ frozen" not in title("fc")


def test_the_inspector_switch_freezes_in_the_app() -> None:
    from app_helpers import start_app

    from builder.share import encode_share

    at = start_app({"design": encode_share(load_template("resnet_mini"))})
    at.session_state["canvas"] = {"id": "freeze-1", "kind": "select", "node": "layer1"}
    at.run()
    at.toggle(key="trainable_layer1").set_value(False).run()
    assert not at.exception, at.exception
    design = at.session_state["ll_history"].current
    assert not design.node("layer1").trainable and design.node("layer2").trainable
    at.session_state["canvas"] = {"id": "freeze-3", "kind": "select", "node": "gap"}  # no weights: no switch
    at.run()
    assert not [t for t in at.toggle if t.key == "trainable_gap"]
