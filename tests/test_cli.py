"""The `layerlab` command as a user runs it: a real subprocess, exit codes, JSON output, clear lines, no tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder.templates import template_names

ROOT = Path(__file__).resolve().parent.parent
# The installed console script when there is one (what users type), else the same entry point through -m.
COMMAND = [shutil.which("layerlab")] if shutil.which("layerlab") else [sys.executable, "-m", "cli"]


def layerlab(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    done = subprocess.run([*COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    assert "Traceback" not in done.stdout
    return done


# Runs several command lines in one fresh process (each `layerlab` start imports torch, ~1.3 s of CPU):
# the same main() the console script calls, with its stdout, stderr and exit code kept apart per command.
_MANY = """
import contextlib, io, json, sys, traceback
from cli.main import main
results = []
for argv in json.load(sys.stdin):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:
            code = stop.code
        except BaseException:
            traceback.print_exc()
            code = -1
    results.append({"code": code, "out": out.getvalue(), "err": err.getvalue()})
print(json.dumps(results))
"""


def layerlab_many(commands: list[list[str]]) -> list[dict]:
    done = subprocess.run([sys.executable, "-c", _MANY], input=json.dumps(commands), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for result in results:
        assert "Traceback" not in result["err"] + result["out"], result["err"]
    return results


def tiny(**node_changes) -> dict:
    """Input(4) → Linear(2), with changes to the Linear node."""
    data = {"layerlab": 1, "name": "tiny",
            "nodes": [{"id": "x", "type": "Input", "params": {"shape": [4]}},
                      {"id": "fc", "type": "Linear", "params": {"out_features": 2}}],
            "edges": [{"source": "x", "target": "fc"}]}
    data["nodes"][1].update(node_changes)
    return data


def test_templates_lists_every_template_with_a_description():
    done = layerlab("templates")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == template_names()
    assert all(len(line.split(None, 1)) == 2 for line in lines)
    as_json = json.loads(layerlab("templates", "--json").stdout)
    assert [t["name"] for t in as_json] == template_names()
    assert all(t["description"] for t in as_json)


def test_validate_a_valid_template_exits_0():
    done = layerlab("validate", "cifar_cnn")
    assert done.returncode == 0
    assert done.stdout.strip() == "cifar_cnn: valid, 11 blocks, 167,562 parameters"


def test_validate_json_structure_for_valid_and_invalid_designs(tmp_path):
    report = json.loads(layerlab("validate", "mnist_mlp", "--json").stdout)
    assert report == {"valid": True, "name": "mnist_mlp", "total_params": 109_386, "issues": []}
    bad = tiny(params={"out_features": 2, "in_features": 5})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    done = layerlab("validate", str(path), "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["valid"] is False
    (issue,) = report["issues"]
    assert issue == {
        "node": "fc", "code": "shape", "severity": "error",
        "message": "in_features=5 but the input has 4 features in its last dimension from ‘x’; "
                   "leave in_features empty to infer it",
        "edge": {"source": "x", "target": "fc"},
        "fix": {"label": "infer in_features (4)", "action": "set_param", "args": {"name": "in_features", "value": None}},
    }


def test_validate_text_output_names_node_and_fix(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(tiny(params={"out_features": 2, "in_features": 5})), encoding="utf-8")
    done = layerlab("validate", str(path))
    assert done.returncode == 1
    assert done.stdout.strip() == ("error: ‘fc’: in_features=5 but the input has 4 features in its last dimension "
                                   "from ‘x’; leave in_features empty to infer it  [fix: infer in_features (4)]")


@pytest.mark.parametrize("name,total,batch", [("cifar_cnn", 167_562, 32), ("mnist_mlp", 109_386, 1)])
def test_summary_json_reports_the_seed_totals(name, total, batch):
    done = layerlab("summary", name, "--json", "--batch-size", str(batch))
    assert done.returncode == 0
    data = json.loads(done.stdout)
    assert data["total_params"] == total
    assert data["batch_size"] == batch
    assert sum(row["total_params"] for row in data["rows"]) == total
    assert {"node", "type", "output_shape", "total_params", "macs", "activation_bytes"} <= set(data["rows"][0])
    if name == "cifar_cnn":
        assert data["rows"][1]["node"] == "conv1" and data["rows"][1]["output_shape"] == [-1, 32, 30, 30]
        assert data["rows"][1]["activation_bytes"] == 32 * 32 * 30 * 30 * 4


def test_summary_text():
    done = layerlab("summary", "cifar_cnn")
    assert done.returncode == 0
    assert "Total params: 167,562" in done.stdout
    assert "conv1 (Conv2d)" in done.stdout and "(N, 32, 30, 30)" in done.stdout


# (file content, expected stderr lines, exit code). One clear line per problem, prefixed with the file.
BAD_INPUTS = {
    "not_json": ('{"layerlab": 1, "nodes": [', ["not valid JSON: Expecting value at line 1, column 27"], 1),
    "wrong_version": (json.dumps({"layerlab": 4, "nodes": []}),
                      ["this file uses format version 4; this LayerLab reads version 3: update LayerLab"], 1),
    "unknown_type": (json.dumps(tiny(type="Dense")),
                     ["nodes[1] ('fc'): unknown block type 'Dense' (did you mean 'Linear'?)"], 1),
    "unknown_param": (json.dumps(tiny(params={"out_feature": 2})),
                      ["nodes[1] ('fc'): Linear has no parameter 'out_feature' (did you mean 'out_features'?); "
                       "its parameters: out_features, in_features, bias"], 1),
    "out_of_range": (json.dumps(tiny(params={"out_features": -3})),
                     ["nodes[1] ('fc'): Linear out_features=-3 is too small: it must be ≥ 1 and ≤ 1e+07"], 1),
    "duplicate_ids": (json.dumps({**tiny(id="x"), "edges": []}),
                      ["nodes[1]: the id 'x' is used twice; ids must be unique"], 1),
    "edge_to_missing_node": (json.dumps({**tiny(), "edges": [{"source": "x", "target": "fc"},
                                                              {"source": "fc", "target": "ghost"}]}),
                             ["edges[1]: the target 'ghost' is not a node id"], 1),
    "two_problems": (json.dumps(tiny(params={"out_features": 0, "bias": "yes"})),
                     ["nodes[1] ('fc'): Linear out_features=0 is too small: it must be ≥ 1 and ≤ 1e+07",
                      "nodes[1] ('fc'): Linear bias='yes' must be true or false"], 1),
}


def test_bad_input_gives_one_clear_line_per_problem(tmp_path):
    paths = {}
    for case, (content, _, _) in BAD_INPUTS.items():
        paths[case] = tmp_path / f"{case}.json"
        paths[case].write_text(content, encoding="utf-8")
    results = layerlab_many([["validate", str(paths[case])] for case in BAD_INPUTS])
    for (case, (_, lines, code)), result in zip(BAD_INPUTS.items(), results):
        assert result["code"] == code, case
        assert result["err"].splitlines() == [f"{paths[case]}: {line}" for line in lines], case
        assert result["out"] == "", case


def test_bad_input_with_json_flag_is_still_json(tmp_path):
    path = tmp_path / "typo.json"
    path.write_text(json.dumps(tiny(type="Dense")), encoding="utf-8")
    done = layerlab("validate", str(path), "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["valid"] is False
    assert report["issues"][0]["message"].endswith("unknown block type 'Dense' (did you mean 'Linear'?)")


def test_absurdly_large_model_is_refused_with_a_size_line(tmp_path):
    data = tiny(params={"out_features": 100_000})
    data["nodes"][0]["params"]["shape"] = [100_000]
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    done = layerlab("validate", str(path))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "error: graph: the model has 10.0 B parameters (10,000,100,000); the limit is 1.0 B. "
        "The largest block is ‘fc’ with 10.0 B"]


def test_a_directory_and_a_missing_file_exit_2(tmp_path):
    done = layerlab("validate", str(tmp_path))  # through the console script once
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"{tmp_path}: cannot read the file (Is a directory)"]
    missing = tmp_path / "missing.json"
    results = layerlab_many([["validate", str(missing)], ["summary", str(missing)], ["summary", str(tmp_path)],
                             ["validate", str(missing), "--json"]])
    for result in results:
        assert result["code"] == 2
        assert result["out"] == ""
    assert [r["err"].splitlines() for r in results] == [
        [f"{missing}: no such file or template"], [f"{missing}: no such file or template"],
        [f"{tmp_path}: cannot read the file (Is a directory)"], [f"{missing}: no such file or template"]]


def test_bad_arguments_and_unknown_names():
    bad_batch, unknown = layerlab_many([["summary", "cifar_cnn", "--batch-size", "0"], ["validate", "no_such_template"]])
    assert bad_batch["code"] == 2
    assert "--batch-size: must be at least 1, got 0" in bad_batch["err"]
    assert unknown["code"] == 2
    assert unknown["err"].strip() == "no_such_template: no such file or template"


def test_summary_depth_opens_blocks_and_keeps_the_totals():
    collapsed = json.loads(layerlab("summary", "resnet_mini", "--json").stdout)
    one = json.loads(layerlab("summary", "resnet_mini", "--depth", "1", "--json").stdout)
    every = json.loads(layerlab("summary", "resnet_mini", "--depth", "-1", "--json").stdout)
    assert collapsed["total_params"] == one["total_params"] == every["total_params"] == 19_994
    assert len(collapsed["rows"]) < len(one["rows"]) < len(every["rows"])
    assert "layer2.downsample.conv" in {r["node"] for r in every["rows"]} - {r["node"] for r in one["rows"]}
