"""A design written in tensor ops as real models are: a Squeeze-and-Excitation gate ``x * s``, attention pooling
``(w * h).sum(dim=1)``, a class token and a position table (Parameters), positions from ``torch.arange`` and a
GEGLU's ``a, b = x.chunk(2, dim=-1)`` into two branches (``a * F.gelu(b)``). It validates, generates readable code, trains, and exports to ONNX and TorchScript with the same outputs."""

from __future__ import annotations

import io

import pytest
import torch

from builder.project import load_project
from builder.validate import validate
from codegen.loader import build_model, example_batch
from codegen.source import generate_model
from data.datasets import load_dataset
from export.files import export_bytes
from training.engine import TrainConfig, train

NODES = [
    ("x", "Input", {"shape": [1, 8, 8]}),
    ("conv", "Conv2d", {"out_channels": 16, "kernel_size": 3, "padding": 1}),
    ("relu", "ReLU", {}),
    ("squeeze", "mean", {"dim": [2, 3]}),  # SE: (N, 16)
    ("excite", "Linear", {"out_features": 16}),
    ("gate", "Sigmoid", {}),
    ("s", "view", {"shape": [16, 1, 1]}),  # (N, 16, 1, 1)
    ("se", "mul", {}),  # x * s
    ("patches", "flatten", {"start_dim": 2}),  # (N, 16, 64)
    ("tokens", "transpose", {"dim0": 1, "dim1": 2}),  # (N, 64, 16)
    ("cls_token", "Parameter", {"shape": [1, 1, 16], "init": "normal"}),
    ("cls", "expand", {"sizes": [-1, -1]}),  # cls_token.expand(x.size(0), -1, -1)
    ("seq", "Concat", {"dim": 1}),  # (N, 65, 16)
    ("pos_embed", "Parameter", {"shape": [1, 65, 16], "init": "normal"}),
    ("with_table", "add", {}),
    ("positions", "arange", {"dim": 1}),  # torch.arange(x.size(1)): (65,)
    ("wpe", "Embedding", {"num_embeddings": 65, "embedding_dim": 16}),  # (65, 16), no batch
    ("h", "add", {}),
    ("score", "Linear", {"out_features": 1}),
    ("w", "softmax", {"dim": 1}),
    ("weighted", "mul", {}),
    ("pooled", "sum", {"dim": [1]}),  # (w * h).sum(dim=1)
    ("first", "index", {"index": ":, 0"}),  # the class token's output
    ("both", "add", {}),
    ("proj", "Linear", {"out_features": 32}),
    ("halves", "chunk", {"chunks": 2, "dim": -1}),  # GEGLU: a, b = x.chunk(2, dim=-1); a * F.gelu(b)
    ("gelu", "GELU", {}),
    ("geglu", "mul", {}),
    ("head", "Linear", {"out_features": 10}),
]
EDGES = [
    ("x", "conv"), ("conv", "relu"), ("relu", "squeeze"), ("squeeze", "excite"), ("excite", "gate"), ("gate", "s"),
    ("relu", "se", "x"), ("s", "se", "y"), ("se", "patches"), ("patches", "tokens"),
    ("cls_token", "cls", "x"), ("tokens", "cls", "like"), ("cls", "seq", "1"), ("tokens", "seq", "2"),
    ("seq", "with_table", "x"), ("pos_embed", "with_table", "y"),
    ("with_table", "positions"), ("positions", "wpe"), ("with_table", "h", "x"), ("wpe", "h", "y"),
    ("h", "score"), ("score", "w"), ("w", "weighted", "x"), ("h", "weighted", "y"), ("weighted", "pooled"),
    ("h", "first"), ("pooled", "both", "x"), ("first", "both", "y"), ("both", "proj"),
    ("proj", "halves"), ("halves", "geglu", "x", "0"), ("halves", "gelu", None, "1"), ("gelu", "geglu", "y"),
    ("geglu", "head"),
]


def design():
    return load_project({
        "layerlab": 3, "name": "op_net",
        "nodes": [{"id": i, "type": t, "params": p} for i, t, p in NODES],
        "edges": [{"source": e[0], "target": e[1], **({"port": e[2]} if len(e) > 2 and e[2] else {}),
                   **({"source_port": e[3]} if len(e) > 3 else {})} for e in EDGES],
    })


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_validates_with_the_shapes_torch_gives():
    result = validate(design())
    assert result.valid, [i.message for i in result.issues]
    shapes = {n: str(result.nodes[n].output) for n in ("s", "se", "cls", "seq", "positions", "wpe", "pooled", "head")}
    assert shapes == {"s": "(N, 16, 1, 1)", "se": "(N, 16, 8, 8)", "cls": "(N, 1, 16)", "seq": "(N, 65, 16)",
                      "positions": "(65,)", "wpe": "(65, 16)", "pooled": "(N, 16)", "head": "(N, 10)"}
    assert result.nodes["positions"].output.dtype == "long"
    assert {k: str(v) for k, v in result.nodes["halves"].outputs.items()} == {"0": "(N, 16)", "1": "(N, 16)"}
    source = generate_model(design(), result)
    model = build_model(source, seed=0)
    assert sum(p.numel() for p in model.parameters()) == result.total_params  # the Parameters counted
    assert {"cls_token", "pos_embed", "wpe.weight"} <= set(model.state_dict())


def test_generated_code_reads_as_written_by_hand():
    code = generate_model(design()).code
    for line in (
        "self.cls_token = nn.Parameter(torch.normal(0.0, 0.02, size=(1, 1, 16)))",
        "squeeze = x.mean(dim=(2, 3))  # (N, 16)",
        "x = x * s  # (N, 16, 8, 8)",
        "cls = self.cls_token.expand(tokens.size(0), -1, -1)  # (N, 1, 16)",
        "+ self.pos_embed  # (N, 65, 16)",
        "x = torch.cat([cls, tokens], dim=1)  # (N, 65, 16)",  # the joined sequence is the main path, as ViTs write it
        "positions = torch.arange(x.size(1), device=x.device)  # (65,)",
        "wpe = self.wpe(positions)  # (65, 16)",
        "score = F.softmax(score, dim=1)  # (N, 65, 1)",
        "x = score * h  # (N, 65, 16)",
        ".sum(dim=1)  # (N, 16)",
        "[:, 0]  # (N, 16)",
        "x1, x2 = x.chunk(2, dim=-1)  # x1: (N, 16), x2: (N, 16)",
        "gelu = self.gelu(x2)  # (N, 16)",
        "x = x1 * gelu  # (N, 16)",
        "x = self.head(x)  # (N, 10)",
    ):
        assert line in code, (line, code)


def test_trains_a_few_steps():
    data = load_dataset("digits", seed=0)
    run = train(design(), data, TrainConfig(epochs=1, batch_size=64))
    assert run.status == "finished", run.message
    assert len(run.history) == 1 and torch.isfinite(torch.tensor(run.history[0]["train_loss"]))


@pytest.mark.filterwarnings("ignore:`torch.jit")  # deprecated in favour of torch.export, still supported
def test_onnx_and_torchscript_equal_the_module():
    import onnxruntime as ort

    graph = design()
    source = generate_model(graph)
    model = build_model(source, seed=3).eval()
    session = ort.InferenceSession(export_bytes(graph, "onnx", seed=3), providers=["CPUExecutionProvider"])
    scripted = torch.jit.load(io.BytesIO(export_bytes(graph, "torchscript", seed=3)))
    for batch in (1, 5):
        inputs = example_batch(source, batch)
        with torch.no_grad():
            want = model(*inputs)
            assert torch.allclose(scripted(*inputs), want, atol=1e-6)
        got = session.run(None, {i.name: x.numpy() for i, x in zip(source.inputs, inputs)})[0]
        assert got.shape == tuple(want.shape)
        assert float((torch.from_numpy(got) - want).abs().max()) <= 1e-5


def test_parameters_and_buffers_inside_a_repeated_block_keep_their_state_dict_names():
    from builder.graph import PORT, Definition, Edge, Graph, Node

    inner = Graph("LayerScale", (
        Node("x", PORT), Node("gamma", "Parameter", {"shape": [16], "init": "ones"}),
        Node("mask", "Buffer", {"shape": [16], "fill": "ones"}), Node("scaled", "mul"), Node("masked", "mul"),
    ), (Edge("x", "scaled", "x"), Edge("gamma", "scaled", "y"), Edge("scaled", "masked", "x"),
        Edge("mask", "masked", "y")))
    graph = Graph("scaled", (Node("x", "Input", {"shape": [4, 16]}), Node("ls", "LayerScale", repeat=2),
                             Node("fc", "Linear", {"out_features": 3})),
                  (Edge("x", "ls"), Edge("ls", "fc")),
                  definitions={"LayerScale": Definition("LayerScale", inner, output="masked")})
    result = validate(graph)
    assert result.valid, [i.message for i in result.issues]
    source = generate_model(graph, result)
    assert 'self.register_buffer("mask", torch.ones(16))' in source.code
    assert "x = x * self.gamma  # (N, 4, 16)" in source.code
    model = build_model(source, seed=0)
    assert list(model.state_dict()) == ["ls.0.gamma", "ls.0.mask", "ls.1.gamma", "ls.1.mask", "fc.weight", "fc.bias"]
    assert sum(p.numel() for p in model.parameters()) == result.total_params == 2 * 16 + 16 * 3 + 3


def test_gpt_positions_read_as_nanogpt_writes_them():
    graph = load_project({
        "layerlab": 2, "name": "gpt",
        "nodes": [{"id": "idx", "type": "Input", "params": {"shape": [8], "dtype": "long"}},
                  {"id": "wte", "type": "Embedding", "params": {"num_embeddings": 50, "embedding_dim": 16}},
                  {"id": "pos", "type": "arange", "params": {"dim": 1}},
                  {"id": "wpe", "type": "Embedding", "params": {"num_embeddings": 8, "embedding_dim": 16}},
                  {"id": "x", "type": "add"},
                  {"id": "last", "type": "index", "params": {"index": ":, [-1], :"}}],
        "edges": [{"source": "idx", "target": "wte"}, {"source": "idx", "target": "pos"},
                  {"source": "pos", "target": "wpe"}, {"source": "wte", "target": "x", "port": "x"},
                  {"source": "wpe", "target": "x", "port": "y"}, {"source": "x", "target": "last"}],
    })
    code = generate_model(graph).code
    assert "pos = torch.arange(idx.size(1), device=idx.device)  # (8,)\n" in code
    assert "wpe = self.wpe(pos)  # (8, 16)\n" in code
    assert "x = wte + wpe  # (N, 8, 16)\n" in code  # the sum starts the trunk: x, as nanoGPT's tok_emb + pos_emb
    assert "x = x[:, [-1], :]  # (N, 1, 16)\n" in code
