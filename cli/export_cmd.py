"""`layerlab export DESIGN --to FORMAT -o PATH`: the same export functions the app's download buttons use."""

from __future__ import annotations

import argparse
import io
import pickle
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.main import EXIT_INVALID, EXIT_OK, EXIT_UNREADABLE, CliError, read_design
from cli.train_cmd import add_data_dir_flag, use_data_dir

if TYPE_CHECKING:  # the export machinery imports torch: loaded only when the command runs
    from builder.graph import Graph
    from export.files import Format


def register(subparsers: argparse._SubParsersAction) -> None:
    from export.formats import FORMATS, LEGACY, Format

    formats = ", ".join(f"{f.value} ({FORMATS[f].label})" for f in Format)
    legacy = " ".join(f"{f.value}: {why}." for f, why in LEGACY.items())
    p = subparsers.add_parser("export", help="write the design as PyTorch code, a training script, a notebook, "
                                             "ONNX, a torch.export program (.pt2), TorchScript (legacy), "
                                             "weights, a diagram or a project file",
                              description=f"Formats: {formats}. {legacy}")
    p.add_argument("design", help="a project file or a template name")
    p.add_argument("--to", dest="format", required=True, choices=[f.value for f in Format], help="the format")
    p.add_argument("-o", "--output", help="the file to write (default: the design's name plus the format's suffix)")
    p.add_argument("--dataset", help="script/ipynb: the built-in data set (or .csv file) to train on "
                                     "(default: the design's training settings)")
    p.add_argument("--epochs", type=int, help="script/ipynb: default number of epochs")
    p.add_argument("--lr", type=float, help="script/ipynb: default learning rate")
    p.add_argument("--batch-size", type=int, help="script/ipynb: default batch size")
    p.add_argument("--weights", help="onnx/pt2/torchscript/weights: trained weights to export "
                                          "(.safetensors, or the .pt state dict a training script saved)")
    p.add_argument("--run", metavar="RUN", help="a recorded run (its number or id, as `layerlab runs` lists "
                                                "them): onnx/pt2/torchscript/weights get its weights (the run must "
                                                "have trained this design), script/ipynb its training settings")
    p.add_argument("--db", help="with --run: the run history database (default: in the user's data directory)")
    p.add_argument("--orient", choices=("landscape", "portrait"), help="svg/png: landscape, a 16:9 slide "
                                                                       "(1920×1080 png; the default), or portrait "
                                                                       "(top to bottom, as on the canvas)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights when no --weights or --run "
                                                       "is given")
    add_data_dir_flag(p)
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from export.files import ExportError, as_format, export_bytes, file_name

    use_data_dir(args)  # a script for MNIST, CIFAR-10, ... reads the data once to plan the task
    graph = read_design(args.design)
    fmt = as_format(args.format)
    output = Path(args.output or file_name(graph, fmt))
    options = {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr), ("batch_size", args.batch_size))
               if v is not None}
    if args.run and args.weights:
        raise CliError(["--run and --weights both give weights: choose one"], EXIT_UNREADABLE)
    try:
        if fmt.value in ("script", "ipynb"):
            settings = _run_settings(args) if args.run else None
            data = export_bytes(graph, fmt, dataset=args.dataset, settings=settings, **options)
        else:
            state, label = _run_weights(args, graph) if args.run else (None, None)
            if args.weights:
                state, label = _read_weights(args.weights), f"weights from {Path(args.weights).name}"
            data = export_bytes(graph, fmt, state_dict=state, seed=args.seed, label=label, orient=args.orient,
                                **options)
    except ExportError as err:
        raise CliError([f"{args.design}: {p}" for p in err.problems], EXIT_INVALID) from None
    try:
        output.write_bytes(data)
    except OSError as err:
        raise CliError([f"{output}: cannot write the file ({err.strerror or err})"], EXIT_UNREADABLE) from None
    print(f"wrote {output} ({_describe(graph, fmt, len(data))}{_labelled(data, fmt)})")
    from export.formats import LEGACY, Format

    if fmt is Format.PT2:  # torch.export keeps the batch dynamic unless the model's code fixes it
        from export.pt2 import batch_note

        print(f"the program takes {batch_note(data)}")
    if fmt in LEGACY:  # torch's own DeprecationWarning is hidden by Python's default filters: say it here
        print(f"note: {fmt.value} is {LEGACY[fmt]}", file=sys.stderr)
    return EXIT_OK


def _run_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The training settings run ``args.run`` was started with (what "export this run" does in the app)."""
    from training.runstore import RunStore, RunStoreError

    try:
        return dict(RunStore(args.db).find_run(args.run).config)
    except RunStoreError as err:
        raise CliError([f"{args.design}: {err}"], EXIT_INVALID) from None


def _run_weights(args: argparse.Namespace, graph: Graph) -> tuple[dict[str, Any], str]:
    """The state dict and label of run ``args.run``, after checking that the run trained this design."""
    from export.files import WEIGHT_FORMATS
    from training.runstore import RunStore, RunStoreError

    if args.format not in WEIGHT_FORMATS:
        raise CliError([f"--run: {args.format} holds neither weights nor training settings; use --to onnx, "
                        "pt2, torchscript, weights, script or ipynb"], EXIT_UNREADABLE)
    try:
        record, state = RunStore(args.db).trained_weights(args.run, graph)
    except RunStoreError as err:
        raise CliError([f"{args.design}: {err}"], EXIT_INVALID) from None
    return state, record.weights_label


def _labelled(data: bytes, fmt: Format) -> str:
    """', trained: run 12, test accuracy 0.981' for the formats that carry weights."""
    from export.files import WEIGHT_FORMATS, read_label

    return f"; {read_label(data, fmt)}" if fmt in WEIGHT_FORMATS else ""


def _read_weights(path: str) -> dict[str, Any]:
    """A state dict from .safetensors, or from a .pt file that the training script saved (no pickled code)."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise CliError([f"{path}: cannot read the weights ({err.strerror or err})"], EXIT_UNREADABLE) from None
    try:
        if path.endswith((".pt", ".pth")):
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        else:
            state = load(data)
    except (SafetensorError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError):
        raise CliError([f"{path}: not a weights file that loads safely (.safetensors, or a .pt state dict of "
                        "tensors only)"], EXIT_UNREADABLE) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CliError([f"{path}: expected a state dict (parameter name -> tensor)"], EXIT_UNREADABLE)
    return state


def _describe(graph: Graph, fmt: Format, size: int) -> str:
    from builder.validate import validate
    from export.files import Format

    if fmt is Format.JSON:
        return f"{size:,} bytes"
    total = validate(graph).total_params
    return f"{total:,} parameters, {size:,} bytes"
