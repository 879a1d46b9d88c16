"""`layerlab import model.py:ClassName --input 3x224x224 -o design.json` (runs your code) or
`layerlab import model.onnx -o design.json` (reads the file only): a model as a verified design."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cli.main import EXIT_INVALID, EXIT_OK, EXIT_UNREADABLE, CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("import", help="turn a PyTorch model (FILE.py:Class) or an ONNX file into a design, "
                                             "verified to give the same outputs",
                              description="FILE.py:Class runs FILE.py (your code) and traces the class with torch.fx "
                                          "on a random batch; FILE.onnx is only read (no code runs) and checked "
                                          "against onnxruntime. Writes the design and prints an import report.")
    p.add_argument("model", help="FILE.py:ClassName or FILE.onnx")
    p.add_argument("--args", help="the constructor's keyword arguments as JSON, e.g. '{\"classes\": 10}'")
    p.add_argument("--input", action="append", metavar="SHAPE",
                   help="one sample's shape without the batch, e.g. 3x224x224; repeat for several inputs "
                        "(FILE.py only: an ONNX file says its own)")
    p.add_argument("--dtype", action="append", choices=("float", "long"),
                   help="float (default) or long (token ids), one per --input")
    p.add_argument("--vocab", type=int, default=2, help="with --dtype long: token ids are drawn below this")
    p.add_argument("-o", "--output", required=True, help="the project file to write")
    p.add_argument("--weights", help="also write the imported weights here (.safetensors), keyed for the design")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_import)


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.lower().replace(",", "x").split("x") if d)
    except ValueError:
        dims = ()
    if not dims or min(dims) < 1:
        raise CliError([f"--input {text}: expected sizes like 3x224x224 (one sample, without the batch)"],
                       EXIT_UNREADABLE)
    return dims


def cmd_import(args: argparse.Namespace) -> int:
    from builder.project import to_json
    from importer import ImportFailure

    try:
        result, original = _import_onnx(args) if args.model.lower().endswith(".onnx") else _import_python(args)
    except ImportFailure as err:
        raise CliError([f"{args.model}: {err}"], EXIT_INVALID) from None
    from importer.saveable import validation_errors

    errors = validation_errors(result.graph)
    if errors:  # never a file that `layerlab validate` refuses: the report says what stops it, nothing is written
        print("\n".join(result.report_lines()))
        raise CliError([f"{args.model}: not written to {args.output}: the design does not pass validation "
                        f"({errors[0]}{f'; and {len(errors) - 1} more' if len(errors) > 1 else ''})"], EXIT_INVALID)
    Path(args.output).write_text(to_json(result.graph), encoding="utf-8")
    if args.weights:
        _write_weights(result, original, args.weights)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        print("\n".join(result.report_lines()))
        print(f"wrote {args.output}")
    check = result.verification
    return EXIT_OK if check is not None and check.same and not result.problems else EXIT_INVALID


def _import_python(args: argparse.Namespace):  # noqa: ANN202  (torch types stay lazy)
    from importer import example_inputs, import_module
    from importer.source_file import construct

    if not args.input:
        raise CliError([f"{args.model}: --input SHAPE is needed (one sample's shape, e.g. 3x224x224)"],
                       EXIT_UNREADABLE)
    shapes = [_shape(s) for s in args.input]
    dtypes = list(args.dtype or []) + ["float"] * (len(shapes) - len(args.dtype or []))
    model = construct(args.model, args.args)
    result = import_module(model, example_inputs(shapes, dtypes[: len(shapes)], high=max(2, args.vocab)))
    if result.state is not None:  # read through torch.export: the weights are the exported graph's, by design keys
        import torch

        return result, {k: torch.from_numpy(v.copy()) for k, v in result.state.items()}
    return result, model.state_dict()


def _import_onnx(args: argparse.Namespace):  # noqa: ANN202
    import torch

    try:
        from importer.onnx_import import import_onnx
    except ModuleNotFoundError as err:  # an install without LayerLab's dependencies (pip --no-deps)
        raise CliError([f"{args.model}: ONNX support needs the package {err.name!r}; install LayerLab with its "
                        "dependencies (pip install -e .) or pip install onnx onnxruntime"], EXIT_UNREADABLE) from None

    path = Path(args.model)
    if not path.is_file():
        raise CliError([f"{args.model}: no such file"], EXIT_UNREADABLE)
    from importer.onnx_external import folder_reader

    result = import_onnx(path.read_bytes(), file_name=path.name, beside=folder_reader(str(path.parent)))
    return result, {k: torch.from_numpy(v.copy()) for k, v in (result.state or {}).items()}


def _write_weights(result, original, path: str) -> None:  # noqa: ANN001  (torch types stay lazy)
    from safetensors.torch import save_file

    from codegen.loader import build_model
    from codegen.source import CodegenError, generate_model
    from importer.verify import carry_weights

    try:
        source = generate_model(result.graph)
    except CodegenError as err:
        raise CliError([f"--weights: the design has errors, so it has no weights yet: {err.problems[0]}"],
                       EXIT_INVALID) from None
    state, _ = carry_weights(source, build_model(source), original, result.origins, result.renames)
    save_file({k: v.contiguous() for k, v in state.items()}, path)
