"""Exports against real torch, onnxruntime and Python: every template's module, scripts, notebooks, ONNX,
TorchScript, safetensors weights and the CLI."""

from __future__ import annotations

import io
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from builder.graph import Edge, Graph, Node
from builder.project import dump_project, load_project
from builder.templates import load_template, template_names
from builder.validate import validate
from codegen.loader import build_model, example_batch, import_source
from codegen.source import generate_model
from export.files import ExportError, Format, export, export_bytes, export_text, file_name, load_weights
from export.script import generate_script

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = template_names()


@pytest.fixture(autouse=True)
def one_thread() -> None:
    """On a busy 2-core machine two intra-op threads per process make small models 10× slower, not faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _run(args: list[str], cwd: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _outputs(value: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return value if isinstance(value, tuple) else (value,)


# ---------------------------------------------------------------- fidelity of the model module, every template

@pytest.mark.parametrize("name", TEMPLATES)
def test_generated_module_matches_validation(name: str) -> None:
    graph = load_template(name)
    result = validate(graph)
    source = generate_model(graph, result)
    model = build_model(source, seed=0)
    assert sum(p.numel() for p in model.parameters()) == result.total_params
    with torch.no_grad():
        outs = _outputs(model.eval()(*example_batch(source, 3)))
    expected = [(3, *result.nodes[sink.id].output.shape) for sink in graph.sinks()]
    assert [tuple(o.shape) for o in outs] == expected


def test_every_exported_module_runs_as_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each file's __main__ block in this process (fast); a few of them as real `python file.py` below."""
    for name in TEMPLATES:
        path = export(load_template(name), "py", tmp_path / f"{name}.py")
        runpy.run_path(str(path), run_name="__main__")
        printed = capsys.readouterr().out
        total = validate(load_template(name)).total_params
        assert f"parameters: {total:,}" in printed, name


@pytest.mark.slow
def test_exported_files_run_with_python(tmp_path: Path) -> None:
    names = ["resnet_mini", "lstm_text", "seq2seq_lstm", "transformer_seq2seq"]  # cifar_cnn: in test_cli_export_done_when_checks
    for name in names:
        export(load_template(name), "py", tmp_path / f"{name}.py")
    # One interpreter start per file is the point of this test; a small shell loop keeps it to one subprocess call.
    loop = "; ".join(f'"{sys.executable}" {n}.py || exit 1' for n in names)
    done = _run(["bash", "-c", loop], tmp_path)
    assert done.returncode == 0, done.stderr
    totals = [validate(load_template(n)).total_params for n in names]
    assert re.findall(r"parameters: ([0-9,]+)", done.stdout) == [f"{t:,}" for t in totals]


def test_generated_sources_pass_ruff(tmp_path: Path) -> None:
    ruff = shutil.which("ruff")
    assert ruff, "ruff is a test dependency"
    for name in TEMPLATES:
        graph = load_template(name)
        (tmp_path / f"{name}.py").write_text(export_text(graph, "py"))
        (tmp_path / f"{name}_train.py").write_text(export_text(graph, "script"))
    done = _run([ruff, "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(tmp_path)], tmp_path)
    assert done.returncode == 0, done.stdout


# ---------------------------------------------------------------- training scripts

def _script_module(graph: Graph, **kwargs: object):
    code = generate_script(graph, **kwargs)
    return import_source(code, "script")


def _mlp(name: str, features: int, outputs: int) -> Graph:
    nodes = (Node("x", "Input", {"shape": [features]}), Node("hidden", "Linear", {"out_features": 16}),
             Node("act", "ReLU"), Node("head", "Linear", {"out_features": outputs}))
    edges = (Edge("x", "hidden"), Edge("hidden", "act"), Edge("act", "head"))
    return Graph(name, nodes, edges)


@pytest.mark.parametrize(("dataset", "features", "outputs", "metric"), [
    ("iris", 4, 3, "accuracy"), ("wine", 13, 3, "accuracy"), ("breast_cancer", 30, 1, "accuracy"),
    ("diabetes", 10, 1, "rmse"), ("moons", 2, 2, "accuracy"), ("circles", 2, 1, "accuracy"),
])
def test_script_trains_on_builtin_tables(dataset: str, features: int, outputs: int, metric: str,
                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = _script_module(_mlp(f"t_{dataset}", features, outputs), dataset=dataset)
    module.main(["--epochs", "4", "--lr", "0.03", "--out", str(tmp_path / "w.pt"), "--device", "cpu"])
    printed = capsys.readouterr().out
    assert len(re.findall(rf"^epoch \d/4  train_loss [0-9.]+  val_loss [0-9.]+ .*val_{metric} [0-9.]+", printed, re.M)) == 4
    score = float(re.search(rf"^finished: .*; test loss [0-9.]+, .*\b{metric} ([0-9.]+)", printed, re.M).group(1))
    if metric == "accuracy":
        assert score > 0.6
    else:  # an RMSE in the target's own units (disease progression): better than 1.5 standard deviations
        from data.datasets import load_dataset
        assert score < 1.5 * load_dataset(dataset, seed=0).extras["target_std"]
    state = torch.load(tmp_path / "w.pt", weights_only=True)
    fresh = build_model(generate_model(_mlp(f"t_{dataset}", features, outputs)))
    fresh.load_state_dict(state, strict=True)


@pytest.mark.parametrize(("template", "task", "metric"), [
    ("xor_mlp", "binary", "accuracy"), ("autoencoder", "reconstruction", "mse"),
    ("transformer_seq2seq", "sequence", "token_accuracy"), ("lenet5", "classification", "accuracy"),
])
def test_template_scripts_train(template: str, task: str, metric: str, capsys: pytest.CaptureFixture[str]) -> None:
    module = _script_module(load_template(template))
    assert task == module.PLAN["task"]
    module.main(["--epochs", "1", "--out", ""])
    printed = capsys.readouterr().out
    assert f"({task})" in printed and re.search(rf"^finished: .*; test loss [0-9.]+, {metric} [0-9.]+", printed, re.M)


def test_script_trains_on_a_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = ["size,colour,label"] + [f"{k % 7},{'red' if k % 2 else 'blue'},{'big' if k % 7 > 3 else 'small'}"
                                    for k in range(120)]
    (tmp_path / "data.csv").write_text("\n".join(rows))
    # Trained in the Train tab on the user's table: the script reads the same file with --csv.
    module = _script_module(_mlp("csv_model", 3, 2), settings={"dataset": str(tmp_path / "data.csv"), "target": "label"})
    assert module.DATASET == "csv"
    module.main(["--csv", str(tmp_path / "data.csv"), "--target", "label", "--epochs", "2", "--out", ""])
    assert "on csv (classification)" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="data.csv has no column ‘price’ to predict. Its columns: ‘size’, ‘colour’, ‘label’"):
        module.main(["--csv", str(tmp_path / "data.csv"), "--target", "price"])


def test_script_refuses_a_model_that_does_not_fit_the_data() -> None:
    with pytest.raises(ExportError) as err:
        export_bytes(load_template("digits_mlp"), "script", dataset="iris")
    assert err.value.problems == ["iris is 4 but Input ‘x’ is (64,): set its shape to [4]",
                                  "the model outputs (N, 10) but iris has 3 classes: set the last Linear's (‘fc3’) "
                                  "out_features to 3"]
    with pytest.raises(ExportError, match="the model outputs \\(N, 5\\) but iris has 3 classes: set the last "
                                          "Linear's \\(‘head’\\) out_features to 3"):
        export_bytes(_mlp("m", 4, 5), "script", dataset="iris")
    with pytest.raises(ExportError, match="no dataset named ‘emnist’"):
        export_bytes(_mlp("m", 4, 3), "script", dataset="emnist")


def test_script_defaults_come_from_the_template() -> None:
    graph = load_template("perceptron")
    meta = graph.meta["training"]
    module = _script_module(graph)
    defaults = vars(module.parse_args([]))
    assert {k: meta[k] for k in ("epochs", "lr", "batch_size", "optimizer")} == \
           {k: defaults[k] for k in ("epochs", "lr", "batch_size", "optimizer")}
    assert meta["dataset_options"]["gate"] == module.DATA_ARGS["gate"]
    args = module.parse_args(["--lr", "0.5"])
    assert (args.epochs, args.lr, args.optimizer, args.device) == (meta["epochs"], 0.5, meta["optimizer"], "auto")


@pytest.mark.slow
def test_script_runs_alone_and_under_torchrun(tmp_path: Path) -> None:
    """The done-when check: `layerlab export digits_mlp --to script`, then python and torchrun with 2 processes."""
    done = _run([sys.executable, "-m", "cli.main", "export", "digits_mlp", "--to", "script", "-o", "t.py"], tmp_path)
    assert done.returncode == 0, done.stderr
    single = _run([sys.executable, "t.py", "--epochs", "1", "--out", "one.pt"], tmp_path)
    assert single.returncode == 0, single.stderr
    assert "1 process(es) on cpu" in single.stdout and "; test loss" in single.stdout
    torchrun = shutil.which("torchrun") or "torchrun"
    multi = _run([torchrun, "--standalone", "--nproc_per_node=2", "t.py", "--epochs", "1", "--out", "two.pt"],
                 tmp_path, timeout=300)
    assert multi.returncode == 0, multi.stderr[-3000:]
    assert "2 process(es) on cpu" in multi.stdout
    assert multi.stdout.count("epoch 1/1") == 1 and multi.stdout.count("; test loss") == 1  # rank 0 only
    source = generate_model(load_template("digits_mlp"))
    model = build_model(source)
    model.load_state_dict(torch.load(tmp_path / "two.pt", weights_only=True), strict=True)
    # The trained weights go on to ONNX through the CLI.
    import onnxruntime as ort

    from cli.main import main

    assert main(["export", "digits_mlp", "--to", "onnx", "--weights", str(tmp_path / "two.pt"),
                 "-o", str(tmp_path / "trained.onnx")]) == 0
    x = example_batch(source, 4)[0]
    got = ort.InferenceSession(str(tmp_path / "trained.onnx")).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        assert float((torch.from_numpy(got) - model.eval()(x)).abs().max()) <= 1e-4
    (tmp_path / "bad.pt").write_bytes(b"not a state dict")
    assert main(["export", "digits_mlp", "--to", "onnx", "--weights", str(tmp_path / "bad.pt")]) == 2


def test_notebook_is_valid_and_runs(capsys: pytest.CaptureFixture[str]) -> None:
    text = export_text(load_template("xor_mlp"), "ipynb")
    notebook = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)
    kinds = [c.cell_type for c in notebook.cells]
    assert kinds[0] == "markdown" and kinds.count("markdown") >= 7
    assert all(a != b for a, b in zip(kinds[1:], kinds[2:]))  # each code cell follows its explanation
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    assert code[-1].strip().endswith("main([])")
    module = import_source("\n\n\n".join(code[:-1]), "notebook")
    module.main(["--epochs", "2", "--out", ""])
    assert "; test loss" in capsys.readouterr().out


# ---------------------------------------------------------------- ONNX, TorchScript, weights, JSON

ONNX_TEMPLATES = ["mnist_mlp", "digits_cnn", "lstm_text", "gru_timeseries", "transformer_classifier", "seq2seq_lstm"]


@pytest.mark.parametrize("name", ONNX_TEMPLATES)
def test_onnx_matches_torch_with_a_dynamic_batch(name: str) -> None:
    import onnxruntime as ort

    graph = load_template(name)
    source = generate_model(graph)
    data = export_bytes(graph, "onnx", seed=3)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    model = build_model(source, seed=3).eval()
    assert [i.name for i in session.get_inputs()] == [i.name for i in source.inputs]
    for batch in (1, 5):
        inputs = example_batch(source, batch)
        got = session.run(None, {i.name: x.numpy() for i, x in zip(source.inputs, inputs)})
        with torch.no_grad():
            want = _outputs(model(*inputs))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == tuple(w.shape)
            assert float((torch.from_numpy(g) - w).abs().max()) <= 1e-4


@pytest.mark.filterwarnings("ignore:`torch.jit")  # deprecated in favour of torch.export, still supported
@pytest.mark.parametrize("name", ["resnet_mini", "transformer_classifier", "transformer_seq2seq"])
def test_torchscript_loads_back_with_the_same_output(name: str) -> None:
    graph = load_template(name)
    source = generate_model(graph)
    scripted = torch.jit.load(io.BytesIO(export_bytes(graph, "torchscript", seed=1)))
    model = build_model(source, seed=1).eval()
    inputs = example_batch(source, 4)
    with torch.no_grad():
        for got, want in zip(_outputs(scripted(*inputs)), _outputs(model(*inputs))):
            assert torch.allclose(got, want, atol=1e-6)


def test_weights_round_trip_strictly_into_the_exported_class() -> None:
    graph = load_template("resnet_mini")
    source = generate_model(graph)
    trained = build_model(source, seed=5)
    trained.train()(*example_batch(source, 8))  # BatchNorm running statistics move: buffers must travel too
    data = export_bytes(graph, "weights", model=trained)
    assert trained.training  # the caller's model is left as it was
    loaded = load_weights(source, data).eval()
    inputs = example_batch(source, 3)
    with torch.no_grad():
        assert torch.equal(loaded(*inputs), trained.eval()(*inputs))
    with pytest.raises(ExportError, match="the weights have no ‘fc1.weight’"):
        load_weights(generate_model(load_template("digits_mlp")), data)


def test_json_export_round_trips() -> None:
    graph = load_template("transformer_seq2seq")
    assert dump_project(load_project(export_bytes(graph, "json"))) == dump_project(graph)
    assert json.loads(export_text(graph, Format.JSON))["name"] == "transformer_seq2seq"


def test_an_invalid_design_names_the_node_and_reason() -> None:
    nodes = (Node("img", "Input", {"shape": [1, 28, 28]}), Node("flat", "Flatten"),
             Node("conv", "Conv2d", {"out_channels": 8}))
    graph = Graph("broken", nodes, (Edge("img", "flat"), Edge("flat", "conv")))
    for fmt in ("py", "script", "onnx", "weights"):
        with pytest.raises(ExportError) as err:
            export_bytes(graph, fmt)
        assert err.value.problems and err.value.problems[0].startswith("‘conv’: "), err.value.problems
    with pytest.raises(ExportError, match="unknown export format 'keras'"):
        export_bytes(graph, "keras")


def test_file_names_are_safe() -> None:
    graph = Graph('../../etc/x"; import os', (Node("x", "Input", {"shape": [2]}),))
    assert file_name(graph, "script") == "etc_x_import_os_train.py"
    assert file_name(graph, Format.ONNX) == "etc_x_import_os.onnx"


# ---------------------------------------------------------------- the CLI

def test_cli_export_done_when_checks(tmp_path: Path) -> None:
    import onnxruntime as ort

    lines = [f'"{sys.executable}" -m cli.main export cifar_cnn --to py -o m.py',
             f'"{sys.executable}" m.py',
             f'"{sys.executable}" -m cli.main export transformer_classifier --to onnx -o m.onnx --seed 4']
    done = _run(["bash", "-c", " && ".join(lines)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote m.py (167,562 parameters" in done.stdout
    assert "output shape: (2, 10)\nparameters: 167,562" in done.stdout
    source = generate_model(load_template("transformer_classifier"))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    tokens = example_batch(source, 6)[0]
    with torch.no_grad():
        want = build_model(source, seed=4).eval()(tokens)
    assert float((torch.from_numpy(session.run(None, {"tokens": tokens.numpy()})[0]) - want).abs().max()) <= 1e-4


def test_cli_export_errors_are_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"layerlab": 1, "name": "bad", "nodes": [
        {"id": "img", "type": "Input", "params": {"shape": [1, 28, 28]}}, {"id": "flat", "type": "Flatten"},
        {"id": "conv", "type": "Conv2d", "params": {"out_channels": 8}}],
        "edges": [{"source": "img", "target": "flat"}, {"source": "flat", "target": "conv"}]}))
    cases = [(["export", str(bad), "--to", "py", "-o", str(tmp_path / "x.py")], 1, f"{bad}: ‘conv’: "),
             (["export", "digits_mlp", "--to", "script", "--dataset", "wine", "-o", str(tmp_path / "t.py")], 1,
              "digits_mlp: wine is 13 but Input ‘x’ is (64,): set its shape to [13]"),
             (["export", "digits_mlp", "--to", "py", "-o", str(tmp_path / "no" / "dir.py")], 2,
              f"{tmp_path / 'no' / 'dir.py'}: cannot write the file (No such file or directory)"),
             (["export", str(tmp_path / "missing.json"), "--to", "py"], 2,
              f"{tmp_path / 'missing.json'}: no such file or template")]
    for argv, code, text in cases:
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        assert err.startswith(text) and "Traceback" not in err, err
    with pytest.raises(SystemExit) as exit_:
        main(["export", "digits_mlp", "--to", "keras"])
    assert exit_.value.code == 2 and "invalid choice: 'keras'" in capsys.readouterr().err
    assert not (tmp_path / "x.py").exists() and not (tmp_path / "t.py").exists()


def test_a_model_with_two_outputs_exports_both() -> None:
    import onnxruntime as ort

    nodes = (Node("x", "Input", {"shape": [5]}), Node("a", "Linear", {"out_features": 2}),
             Node("b", "Linear", {"out_features": 3}))
    graph = Graph("two_heads", nodes, (Edge("x", "a"), Edge("x", "b")))
    model = build_model(generate_model(graph), seed=0).eval()
    session = ort.InferenceSession(export_bytes(graph, "onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["output_0", "output_1"]
    x = torch.randn(4, 5)
    with torch.no_grad():
        want = model(x)
    for got, ref in zip(session.run(None, {"x": x.numpy()}), want):
        assert float((torch.from_numpy(got) - ref).abs().max()) <= 1e-4
    with pytest.raises(ExportError, match=r"the model has 2 outputs \(‘a’, ‘b’\); training needs exactly one"):
        export_bytes(graph, "script")


# ---------------------------------------------------------------- trained weights travel

@pytest.fixture(scope="module")
def trained_digits_cnn(tmp_path_factory: pytest.TempPathFactory):
    """digits_cnn trained for two epochs into a real run store: (store, run record, dataset)."""
    from data.datasets import load_dataset
    from training.engine import TrainConfig, train
    from training.runstore import RunStore

    store = RunStore(tmp_path_factory.mktemp("runs") / "runs.sqlite")
    graph = load_template("digits_cnn")
    dataset = load_dataset("digits", seed=0)
    config = TrainConfig.from_dict({**graph.meta["training"], "epochs": 2, "threads": 1})
    result = train(graph, dataset, config, store=store)
    yield store, store.get_run(result.run_id), dataset
    store.close()


def test_onnx_of_a_run_scores_the_runs_test_accuracy(trained_digits_cnn) -> None:
    """What the Code tab and `layerlab export --run` do: the run's weights, checked against the design,
    exported with their label; onnxruntime then gets the test accuracy the run reported."""
    import onnxruntime as ort

    from export.files import read_label

    store, record, dataset = trained_digits_cnn
    graph = load_template("digits_cnn")
    found, state = store.trained_weights(record.number, graph)
    assert found.id == record.id
    data = export_bytes(graph, "onnx", state_dict=state, label=found.weights_label)
    accuracy = record.metrics["test_accuracy"]
    assert read_label(data, "onnx") == f"trained: run {record.number}, test accuracy {accuracy:.3f}"
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    logits = session.run(None, {name: dataset.test.inputs[0].numpy()})[0]
    correct = int((torch.from_numpy(logits).argmax(1) == dataset.test.target).sum())
    assert correct == round(accuracy * len(dataset.test))  # as many test digits right as the run counted
    assert read_label(export_bytes(graph, "onnx"), "onnx") == "untrained (random initialization)"


def test_every_weights_format_carries_its_label(trained_digits_cnn) -> None:
    from export.files import WEIGHT_FORMATS, read_label

    store, record, _ = trained_digits_cnn
    graph = load_template("digits_cnn")
    _, state = store.trained_weights(str(record.number), graph)
    for fmt in WEIGHT_FORMATS:
        assert read_label(export_bytes(graph, fmt, state_dict=state, label=record.weights_label), fmt) == \
            record.weights_label, fmt
        assert read_label(export_bytes(graph, fmt), fmt) == "untrained (random initialization)", fmt
    scripted = torch.jit.load(io.BytesIO(export_bytes(graph, "torchscript", state_dict=state)))
    x = example_batch(generate_model(graph), 3)
    with torch.no_grad():
        assert torch.equal(scripted(*x), load_weights(generate_model(graph), export_bytes(
            graph, "weights", state_dict=state)).eval()(*x))


def test_a_runs_weights_only_go_to_the_design_it_trained(trained_digits_cnn) -> None:
    from training.runstore import RunStoreError

    store, record, _ = trained_digits_cnn
    renamed = load_template("digits_cnn")
    renamed = Graph("my_copy", renamed.nodes, renamed.edges, description="another text")
    store.trained_weights(record.id, renamed)  # the name and description don't change the weights' meaning
    other = load_template("digits_mlp")
    with pytest.raises(RunStoreError, match=rf"run {record.number} \(digits_cnn\) trained a different model"):
        store.trained_weights(record.number, other)
    with pytest.raises(RunStoreError, match="no run number 999"):
        store.trained_weights(999, renamed)


def test_cli_exports_a_runs_weights(trained_digits_cnn, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main
    from export.files import read_label

    store, record, _ = trained_digits_cnn
    out = tmp_path / "m.pt"
    assert main(["export", "digits_cnn", "--run", str(record.number), "--db", str(store.path), "--to",
                 "torchscript", "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"; {record.weights_label})")
    assert read_label(out.read_bytes(), "torchscript") == record.weights_label
    cases = [(["export", "digits_mlp", "--run", record.id, "--db", str(store.path), "--to", "onnx"], 1,
              f"digits_mlp: run {record.number} (digits_cnn) trained a different model"),
             (["export", "digits_cnn", "--run", "77", "--db", str(store.path), "--to", "weights"], 1,
              "digits_cnn: no run number 77"),
             (["export", "digits_cnn", "--run", "1", "--db", str(store.path), "--to", "py"], 2,
              "--run: py holds neither weights nor training settings")]
    for argv, code, text in cases:
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        assert err.startswith(text) and "Traceback" not in err, err
    script = tmp_path / "t.py"
    assert main(["export", "digits_cnn", "--run", str(record.number), "--db", str(store.path), "--to", "script",
                 "-o", str(script)]) == 0
    graph = load_template("digits_cnn")  # the run trained 2 epochs, the template says 8: the script follows the run
    assert script.read_bytes() == export_bytes(graph, "script", settings=record.config) != export_bytes(graph, "script")
