"""--to pt2: a torch.export ExportedProgram that loads back (torch.export.load) and computes what the design does.

Every template is exported, loaded from the saved bytes, and run on a batch size other than the example's
(3, where the program was traced with 2): equal to the generated module within 1e-6. A model torch.export
can't capture says why in words.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from torch import nn

from builder.templates import load_template, template_names
from codegen.loader import build_model, example_batch
from export.files import ExportError, export_bytes, model_source, read_label
from export.pt2 import Pt2Error, batch_is_dynamic, batch_note, exported_program


def _outputs(value: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return value if isinstance(value, tuple) else (value,)


@pytest.mark.slow
@pytest.mark.parametrize("name", template_names())
def test_every_template_round_trips_through_pt2(name: str) -> None:
    graph = load_template(name)
    source = model_source(graph)
    data = export_bytes(graph, "pt2", seed=3)
    program = torch.export.load(io.BytesIO(data))
    assert batch_is_dynamic(program), f"{name}: the batch dimension was fixed to the example's"
    assert batch_note(data) == "any batch size"
    module = build_model(source, seed=3).eval()
    inputs = example_batch(source, 3)  # traced with 2: a dynamic batch must take 3
    with torch.no_grad():  # the same seed before each: a VAE draws its noise in forward
        torch.manual_seed(0)
        got = _outputs(program.module()(*inputs))
        torch.manual_seed(0)
        want = _outputs(module(*inputs))
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape
        assert torch.allclose(a, b, rtol=0, atol=1e-6), f"{name}: differs by {float((a - b).abs().max())}"


def test_pt2_carries_the_weights_and_their_label() -> None:
    graph = load_template("digits_mlp")
    source = model_source(graph)
    trained = build_model(source, seed=11)
    data = export_bytes(graph, "pt2", state_dict=trained.state_dict(), label="trained: run 4, accuracy 0.9")
    assert read_label(data, "pt2") == "trained: run 4, accuracy 0.9"
    assert read_label(export_bytes(graph, "pt2"), "pt2") == "untrained (random initialization)"
    program = torch.export.load(io.BytesIO(data))
    x = example_batch(source, 5)
    with torch.no_grad():
        assert torch.allclose(program.module()(*x), trained.eval()(*x), rtol=0, atol=1e-6)


class _DataDependent(nn.Module):
    """Branches on a value inside the tensor: torch.export can't capture that as one graph."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x * 2
        return x - 1


class _FixedBatch(nn.Module):
    """Adds a table with one row per sample of the example: the program keeps that batch size only."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("table", torch.arange(4.0).reshape(2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table


def test_a_model_torch_export_refuses_says_why() -> None:
    with pytest.raises(Pt2Error) as err:
        exported_program(_DataDependent(), (torch.ones(2, 3),))
    assert err.value.reason.split(":")[0].isidentifier()  # the exception's type, then torch's first line
    assert len(err.value.reason) > 20


def test_a_fixed_batch_is_reported_not_hidden() -> None:
    from export.pt2 import pt2_bytes

    program = exported_program(_FixedBatch(), (torch.ones(2, 2),))
    assert not batch_is_dynamic(program)
    assert batch_is_dynamic(exported_program(nn.Linear(3, 2), (torch.ones(2, 3),)))
    source = model_source(load_template("xor_mlp"))  # its example batch: (2, 2)
    assert batch_note(pt2_bytes(_FixedBatch(), source, {})) == "batch size 2 only (the model fixes it)"


def test_cli_writes_pt2_and_names_torchscript_legacy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    out = tmp_path / "xor.pt2"
    assert main(["export", "xor_mlp", "--to", "pt2", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "untrained" in printed and "the program takes any batch size" in printed
    graph = load_template("xor_mlp")
    x = example_batch(model_source(graph), 7)
    with torch.no_grad():
        loaded = torch.export.load(str(out)).module()
        assert torch.allclose(loaded(*x), build_model(model_source(graph), seed=0).eval()(*x), rtol=0, atol=1e-6)
    assert main(["export", "xor_mlp", "--to", "torchscript", "-o", str(tmp_path / "xor.pt")]) == 0
    assert "torchscript is legacy: torch.jit (script, trace, save) is deprecated" in capsys.readouterr().err


def test_the_export_error_names_the_model_and_the_way_out() -> None:
    from export.files import exported_program_bytes

    source = model_source(load_template("xor_mlp"))  # its example batch, fed to a module torch can't capture
    with pytest.raises(ExportError) as err:
        exported_program_bytes(_DataDependent(), source)
    (problem,) = err.value.problems
    assert problem.startswith(f"pt2: torch.export could not capture {source.class_name}: ")
    assert problem.endswith("the ONNX or (legacy) TorchScript export may still work")


def test_torchscripts_deprecation_reaches_the_caller() -> None:
    """Nothing is silenced silently: torch's own DeprecationWarning for torch.jit comes through."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_bytes(load_template("xor_mlp"), "torchscript")
    assert any(issubclass(w.category, DeprecationWarning) and "torch.jit" in str(w.message) for w in caught)
