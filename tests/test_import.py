"""Import: every hand-written corpus model becomes a design that, rebuilt from its generated code with the
original's weights, gives the same outputs at another batch size; and each failure mode says what, where, and
what to do, without a traceback."""

from __future__ import annotations

import inspect

import pytest
import torch

from builder.project import load_project, to_json
from builder.validate import validate
from codegen.loader import build_model
from codegen.source import CodegenError, generate_model
from importer import TRACE_BATCH, ImportFailure, example_inputs, import_module
from importer.verify import carry_weights
from tests.import_corpus import failures, sequence, vision

F32, LONG = "float", "long"
CORPUS = {
    "mlp": (vision.MLP, [(20,)], [F32]),
    "lenet": (vision.LeNet, [(1, 28, 28)], [F32]),
    "resnet18": (vision.resnet18, [(3, 32, 32)], [F32]),
    "resnet50": (vision.resnet50, [(3, 32, 32)], [F32]),
    "vgg11_bn": (vision.VGG11BN, [(3, 32, 32)], [F32]),
    "mobilenet_v2": (vision.MobileNetV2, [(3, 32, 32)], [F32]),
    "unet": (vision.UNet, [(3, 16, 16)], [F32]),
    "lstm_classifier": (sequence.LSTMClassifier, [(12,)], [LONG]),
    "gru_forecaster": (sequence.GRUForecaster, [(10, 3)], [F32]),
    "seq2seq": (sequence.Seq2Seq, [(9,), (7,)], [LONG, LONG]),
    "transformer_classifier": (sequence.TransformerClassifier, [(12,)], [LONG]),
    "gpt": (sequence.GPT, [(16,)], [LONG]),
}


def _randomize(model: torch.nn.Module) -> torch.nn.Module:
    """Non-default weights and running statistics, so copying them is really tested."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
            if "running_var" in name:
                tensor.uniform_(0.5, 1.5)
            elif "running_mean" in name:
                tensor.normal_(0, 0.1)
            elif tensor.is_floating_point() and name.endswith(("weight", "bias")):
                tensor.add_(torch.randn_like(tensor) * 0.01)
    return model.eval()


# Keys that can't be the original's, so the weights travel through the import's mapping: none now. (GPT's learned
# position table, a bare nn.Parameter, is a Parameter node under its own name, no longer a PositionalEncoding's pe.)
MAPPED: set[str] = set()


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus_model_imports_and_gives_the_same_outputs(name):
    factory, shapes, dtypes = CORPUS[name]
    model = _randomize(factory())
    result = import_module(model, example_inputs(shapes, dtypes, high=40))
    assert result.problems == []
    check = result.verification
    assert check.ran and check.same, check.note
    assert check.max_abs_diff <= 1e-5 and check.batch_size != TRACE_BATCH
    # The design survives the project format, and the original's state dict loads into the rebuilt model as it is.
    again = load_project(to_json(result.graph))
    assert validate(again).valid
    source = generate_model(again)
    rebuilt = build_model(source).eval()
    if name in MAPPED:
        state, unused = carry_weights(source, rebuilt, model.state_dict(), result.origins, result.renames)
        assert unused == []
    else:
        state = model.state_dict()
    rebuilt.load_state_dict(state, strict=True)
    assert sum(p.numel() for p in rebuilt.parameters()) == result.param_count
    inputs = example_inputs(shapes, dtypes, batch=5, high=40)
    with torch.no_grad():
        assert torch.allclose(rebuilt(*inputs), model(*inputs), atol=1e-5, rtol=0)


def test_resnet18_opens_as_stages_of_blocks():
    model = _randomize(vision.resnet18())
    result = import_module(model, example_inputs([(3, 32, 32)], [F32]))
    graph = result.graph
    assert len(graph.nodes) <= 15 and set(graph.definitions) == {"BasicBlock", "Downsample"}
    stages = {n.id: n for n in graph.nodes if n.type == "BasicBlock"}
    assert list(stages) == ["layer1", "layer2", "layer3", "layer4"] and all(n.repeat == 2 for n in stages.values())
    assert dict(stages["layer2"].params) == {"out_channels": 32, "stride": 2, "downsample": True}
    block = graph.definitions["BasicBlock"]
    assert [p.name for p in block.params if p.first_only] == ["stride", "downsample"]
    assert block.graph.node("downsample").when == "downsample"
    source = generate_model(graph)
    classes = [line for line in source.code.splitlines() if line.startswith("class ")]
    assert classes == ["class Downsample(nn.Sequential):", "class BasicBlock(nn.Module):", "class ResNet(nn.Module):"]
    assert result.counts()["nodes"] == 11 and result.counts()["blocks"] == 4 + 8 * 7 + 3 * 2 + 3  # stem, blocks, shortcuts, head


class _Dense(torch.nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x))


class _Stack(torch.nn.Module):
    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(*[_Dense(a, b) for a, b in zip(widths, widths[1:])])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def test_copies_that_differ_after_the_first_stay_separate_instances():
    """Later copies that disagree can't be one repeat: the container becomes a block of its own, keys unchanged."""
    model = _Stack([4, 8, 6, 5]).eval()
    result = import_module(model, (torch.randn(3, 4),))
    assert result.verification.same
    body = result.graph.definitions["Body"]
    assert [n.type for n in body.graph.nodes if n.type != "Port"] == ["Dense"] * 3
    assert [dict(n.params) for n in body.graph.nodes if n.type != "Port"] == [{}, {"out_features": 6},
                                                                              {"out_features": 5}]
    build_model(generate_model(result.graph)).load_state_dict(model.state_dict(), strict=True)
    same = import_module(_Stack([4, 8, 8, 8]).eval(), (torch.randn(3, 4),)).graph
    assert [(n.type, n.repeat) for n in same.nodes] == [("Input", 1), ("Dense", 3)]


def line_of(cls: type, marker: str) -> str:
    lines, start = inspect.getsourcelines(cls)
    number = next(start + k for k, line in enumerate(lines) if marker in line)
    return f"failures.py:{number}"


def _problems(model: torch.nn.Module, *inputs: torch.Tensor) -> list[str]:
    result = import_module(model, inputs)
    assert result.verification is not None and not result.verification.ran  # blocked, not silently wrong
    with pytest.raises(CodegenError):
        generate_model(result.graph)
    return [p.message for p in result.problems]


def test_data_dependent_control_flow_is_named_with_its_line():
    with pytest.raises(ImportFailure) as caught:
        import_module(failures.DataDependent(), (torch.randn(3, 4),))
    err = caught.value
    assert err.what == "data-dependent control flow"
    assert err.where == line_of(failures.DataDependent, "if x.sum() > 0")
    assert "torch.where" in err.todo and "x.sum() > 0" in err.detail


def test_a_python_loop_over_time_steps_is_named():
    messages = _problems(failures.TimeLoop(), torch.randn(3, 5, 3))
    where = line_of(failures.TimeLoop, "h = self.cell")
    loop = [m for m in messages if "loop over time steps" in m]
    assert loop and all(where in m and "GRUCell 'cell'" in m and "nn.GRU(batch_first=True)" in m for m in loop)


def test_weight_sharing_is_named():
    [message] = _problems(failures.SharedWeights(), torch.randn(3, 6))
    assert "nn.Linear 'fc'" in message and line_of(failures.SharedWeights, "the same layer again") in message
    assert f"first at {line_of(failures.SharedWeights, 'torch.relu(self.fc(x))')}" in message


def test_a_mask_passed_at_call_time_is_named():
    mask = torch.zeros(4, 4, dtype=torch.bool)
    [message] = _problems(failures.MaskAtCall(), torch.randn(3, 4, 8), mask)
    assert "nn.MultiheadAttention 'attn'" in message and "'mask'" in message and "causal=True" in message
    assert line_of(failures.MaskAtCall, "mask from the caller") in message


def test_a_time_first_rnn_is_named():
    # The LSTM itself imports time first (tests/test_import_recurrent_layout.py); out[-1], its last time step,
    # picks along the design's leading dimension and is named with what to do.
    messages = _problems(failures.TimeFirst(), torch.randn(5, 3, 3))
    assert any("LSTM output" in m and "batch_first=False" in m and "out[:, -1]" in m
               and line_of(failures.TimeFirst, "self.head(out[-1])") in m for m in messages)


def test_an_operation_without_a_block_stays_visible():
    messages = _problems(failures.Rolls(), torch.randn(3, 5))
    assert messages == [f"torch.roll at {line_of(failures.Rolls, 'no block for this')} has no LayerLab block; "
                        "replace this node with blocks that compute the same thing, or change the model"]
    result = import_module(failures.Rolls(), (torch.randn(3, 5),))
    issue = next(i for i in validate(result.graph).errors if i.node == "roll")
    assert issue.message == messages[0]


def test_a_wrong_example_input_is_a_plain_message():
    with pytest.raises(ImportFailure) as caught:
        import_module(vision.LeNet(), (torch.randn(3, 3, 28, 28),))
    assert caught.value.what == "the model fails on the example input" and "vision.py:" in caught.value.where


class _SqueezeHead(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.nn.functional.adaptive_avg_pool2d(self.conv(x), 1).squeeze())


def test_a_model_that_squeezes_its_batch_at_size_one_is_checked_at_another_size():
    check = import_module(_SqueezeHead().eval(), (torch.randn(TRACE_BATCH, 3, 8, 8),)).verification
    assert check.same and check.batch_size == TRACE_BATCH + 1, check.note
