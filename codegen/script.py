"""A self-contained training script (and the same thing as a Jupyter notebook) for a design.

The script inlines the generated model source (``codegen.source``), a loader for one built-in data set (or a CSV
file given on the command line), the loss and metric for the task, and a training loop that runs as one
process or under ``torchrun`` with DistributedDataParallel. It imports only torch, the standard library and,
where the data is loaded, scikit-learn or pandas.
"""

from __future__ import annotations

import ast
import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, replace
from string import Template
from typing import Any

from builder.graph import Graph
from builder.validate import ValidationResult, validate
from codegen import script_parts as parts
from codegen.naming import comment_text, to_identifier
from codegen.safety import check_source
from codegen.script_data import DATASETS, DataKind, ScriptDataset, loader_code
from codegen.source import CodegenError, ModelSource, generate_model, literal

OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "radam")
_GATES = ("and", "or", "xor", "nand", "nor")


@dataclass(frozen=True)
class TrainDefaults:
    dataset: str = "digits"
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    optimizer: str = "adam"
    task: str | None = None  # only "reconstruction" changes anything: the target is the input
    options: tuple[tuple[str, Any], ...] = ()  # dataset options, sorted


@dataclass(frozen=True)
class ScriptPlan:
    """Everything the script's text depends on, checked: the model, data set, task and defaults."""

    source: ModelSource
    dataset: ScriptDataset
    task: str
    num_classes: int | None
    output_shape: tuple[int, ...]
    defaults: TrainDefaults
    stem: str  # file-name stem for the saved weights
    description: str


@dataclass(frozen=True)
class Section:
    key: str  # names the notebook explanation in script_parts.EXPLAIN
    code: str


def training_defaults(graph: Graph, dataset: str | None = None, **overrides: Any) -> TrainDefaults:
    """Defaults from ``graph.meta["training"]``, then ``dataset`` and ``overrides``; every value checked."""
    meta = graph.meta.get("training") if isinstance(graph.meta.get("training"), Mapping) else {}
    values = {**meta, **{k: v for k, v in overrides.items() if v is not None}}
    name = dataset or values.get("dataset") or "digits"
    problems: list[str] = []
    if name not in DATASETS:
        problems.append(f"training script: unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    options = values.get("dataset_options") if name == meta.get("dataset") else None
    defaults = TrainDefaults(
        dataset=str(name),
        epochs=_checked(values.get("epochs", 10), int, 1, 100_000, "epochs", problems),
        lr=_checked(values.get("lr", 1e-3), float, 1e-9, 10.0, "lr", problems),
        batch_size=_checked(values.get("batch_size", 64), int, 1, 1_000_000, "batch_size", problems),
        optimizer=_choice(values.get("optimizer", "adam"), OPTIMIZERS, "optimizer", problems),
        task="reconstruction" if values.get("task") == "reconstruction" else None,
        options=_dataset_options(str(name), options if isinstance(options, Mapping) else {}, problems),
    )
    if problems:
        raise CodegenError(problems)
    return defaults


def _checked(value: Any, kind: type, low: float, high: float, name: str, problems: list[str]) -> Any:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind is int:
        ok = ok and float(value).is_integer()
    if not ok or not low <= value <= high:
        problems.append(f"training setting {name}: expected a number from {low:g} to {high:g}, got {value!r}")
        return kind(low)
    return kind(value)


def _choice(value: Any, choices: tuple[str, ...], name: str, problems: list[str]) -> str:
    if value not in choices:
        problems.append(f"training setting {name}: expected one of {', '.join(choices)}, got {value!r}")
        return choices[0]
    return str(value)


def _dataset_options(name: str, options: dict[str, Any], problems: list[str]) -> tuple[tuple[str, Any], ...]:
    """Only options the script's loaders understand, each range-checked; the rest are ignored."""
    checked: dict[str, Any] = {}
    if name == "gates" and "gate" in options:
        checked["gate"] = _choice(options["gate"], _GATES, "dataset_options.gate", problems)
    if name in ("moons", "circles", "gates", "spirals", "blobs") and "noise" in options:
        checked["noise"] = _checked(options["noise"], float, 0.0, 20.0, "dataset_options.noise", problems)
    if name in ("spirals", "blobs") and "classes" in options:
        checked["classes"] = _checked(options["classes"], int, 2, 20, "dataset_options.classes", problems)
    if name in ("moons", "circles", "spirals", "blobs") and "n_samples" in options:
        checked["n_samples"] = _checked(options["n_samples"], int, 20, 1_000_000, "dataset_options.n_samples",
                                        problems)
    return tuple(sorted(checked.items()))


def plan_script(graph: Graph, dataset: str | None = None, result: ValidationResult | None = None,
                **overrides: Any) -> ScriptPlan:
    """Check that ``graph`` can train on the data set; CodegenError names the node and the reason if not."""
    result = result or validate(graph)
    source = generate_model(graph, result)
    defaults = training_defaults(graph, dataset, **overrides)
    if len(source.outputs) != 1:
        names = ", ".join(f"‘{o}’" for o in source.outputs)
        raise CodegenError([f"training script: the model has {len(source.outputs)} outputs ({names}); "
                            "a training script needs exactly one"])
    output = source.outputs[0]
    out_shape = tuple(result.nodes[output].output.shape)
    chosen = dataset or _meta_dataset(graph)
    if defaults.dataset in ("spirals", "blobs") and "classes" not in dict(defaults.options):
        # As many arms or blobs as the model has outputs (two for a single yes/no output).
        classes = out_shape[-1] if 2 <= out_shape[-1] <= 20 else 2 if out_shape[-1] == 1 else 3
        defaults = replace(defaults, options=tuple(sorted({**dict(defaults.options), "classes": classes}.items())))
    try:
        task, classes = _fit(DATASETS[defaults.dataset], defaults, source, output, out_shape)
    except CodegenError:
        if chosen:
            raise
        # Nothing chosen and the model doesn't take digits: a script for the user's own CSV file.
        defaults = replace(defaults, dataset="csv", options=())
        task, classes = _fit(DATASETS["csv"], defaults, source, output, out_shape)
    return ScriptPlan(source, DATASETS[defaults.dataset], task, classes, out_shape, defaults,
                      to_identifier(graph.name, "model"), comment_text(graph.description, 1000))


def _meta_dataset(graph: Graph) -> str | None:
    training = graph.meta.get("training")
    return training.get("dataset") if isinstance(training, Mapping) else None


def _fit(info: ScriptDataset, defaults: TrainDefaults, source: ModelSource, output: str,
         out_shape: tuple[int, ...]) -> tuple[str, int | None]:
    _check_inputs(source, info)
    if info.name == "csv":
        if len(out_shape) != 1:
            raise CodegenError([f"‘{output}’: the output must be flat, one row of values per sample; it gives "
                                f"{out_shape}: add a Flatten or a pooling block"])
        return "auto", None
    return _task(info, defaults, source, output, out_shape)


def _check_inputs(source: ModelSource, info: ScriptDataset) -> None:
    wanted = 2 if info.kind is DataKind.SEQUENCE else 1
    if len(source.inputs) != wanted:
        raise CodegenError([f"training script: {info.name} feeds {wanted} input(s) but the model has "
                            f"{len(source.inputs)} ({', '.join(f'‘{i.node}’' for i in source.inputs)})"])
    for item in source.inputs:
        if (item.dtype == "long") != info.tokens:
            kind = "token ids" if info.tokens else "float features"
            raise CodegenError([f"‘{item.node}’: {info.name} gives {kind}, so set this Input's dtype to "
                                f"{'long' if info.tokens else 'float'}"])
        numel = math.prod(item.shape)
        if info.name == "digits" and numel != 64 and not _square_image(item.shape):
            raise CodegenError([f"‘{item.node}’: digits are 8×8 images (64 values; resized to 1×S×S, 3×S×S or S·S); "
                                f"this Input has shape {item.shape}"])
        if info.name == "csv" and len(item.shape) != 1:
            raise CodegenError([f"‘{item.node}’: a CSV file gives a flat row of features; this Input has shape "
                                f"{item.shape}"])
        if info.name != "digits" and info.features is not None and numel != info.features:
            raise CodegenError([f"‘{item.node}’: {info.name} has {info.features} features per sample but this "
                                f"Input has shape {item.shape}; set its shape to [{info.features}]"])
        if info.name in ("sine", "seasonal") and (len(item.shape) != 2 or item.shape[1] != 1):
            raise CodegenError([f"‘{item.node}’: {info.name} gives windows shaped (steps, 1); this Input has shape "
                                f"{item.shape}"])
        if info.tokens and item.high < (24 if info.name == "sentiment" else 3):
            raise CodegenError([f"‘{item.node}’: {info.name} needs a vocabulary of at least "
                                f"{24 if info.name == 'sentiment' else 3} token ids; the Embedding has {item.high}"])


def _square_image(shape: tuple[int, ...]) -> bool:
    """Flat S·S pixels or a 1×S×S / 3×S×S image (S ≥ 8): digits can be upsampled and repeated to fit."""
    if len(shape) == 3:
        return shape[0] in (1, 3) and shape[1] == shape[2] >= 8
    side = math.isqrt(math.prod(shape))
    return len(shape) == 1 and side * side == shape[0] and side >= 8


def _task(info: ScriptDataset, defaults: TrainDefaults, source: ModelSource, output: str,
          out_shape: tuple[int, ...]) -> tuple[str, int | None]:
    width = out_shape[-1]
    if defaults.task == "reconstruction":
        if info.name != "digits" or math.prod(out_shape) != math.prod(source.inputs[0].shape):
            raise CodegenError([f"‘{output}’: reconstruction needs an output shaped like the input "
                                f"{source.inputs[0].shape}; it gives {out_shape}"])
        return "reconstruction", None
    if info.kind is DataKind.SEQUENCE:
        if len(out_shape) != 2 or width != source.inputs[0].high:
            raise CodegenError([f"‘{output}’: {info.name} needs one score per token id at each position, "
                                f"({source.inputs[0].shape[0]}, {source.inputs[0].high}); it gives {out_shape}"])
        return "sequence", None
    if len(out_shape) != 1:
        raise CodegenError([f"‘{output}’: the output must be flat, one row of values per sample; it gives "
                            f"{out_shape}: add a Flatten or a pooling block"])
    if info.kind is DataKind.VALUES:
        if width != info.targets:
            raise CodegenError([f"‘{output}’: {info.name} predicts {info.targets} value(s) per sample but this "
                                f"block gives {width}; set its out_features to {info.targets}"])
        return "regression", None
    classes = dict(defaults.options).get("classes", info.classes)
    if width == classes:
        return "classification", classes
    if width == 1 and classes == 2:
        return "binary", None
    raise CodegenError([f"‘{output}’: {info.name} has {classes} classes but this block gives {width} "
                        f"values per sample; set its out_features to {classes}"])


def script_sections(plan: ScriptPlan) -> list[Section]:
    """The script in order: imports, model, data, loss and metric, processes, training loop, main."""
    defaults = plan.defaults
    settings = Template(parts.SETTINGS).substitute(
        dataset=literal(plan.dataset.name), task=literal(plan.task),
        standardize=literal(plan.dataset.standardize), output_shape=literal(plan.output_shape),
        defaults=_dict_literal({"epochs": defaults.epochs, "lr": defaults.lr, "batch_size": defaults.batch_size,
                                "optimizer": defaults.optimizer}))
    loader = loader_code(plan.dataset.name, dict(defaults.options), tuple(i.shape for i in plan.source.inputs),
                         plan.source.inputs[0].high)
    csv = takes_csv(plan)
    load_data = Template(parts.DATA_COMMON).substitute(load_inputs=parts.LOAD_WITH_CSV if csv else parts.LOAD_BUILTIN)
    data = [settings, loader, *([parts.CSV_LOADER] if csv else []), load_data]
    main = Template(parts.MAIN).substitute(
        description=literal(f"Train {plan.source.class_name} on {plan.dataset.name}."),
        out=literal(f"{plan.stem}.pt"), model_class=plan.source.class_name,
        csv_flags=parts.CSV_FLAGS if csv else parts.PLAIN_FLAGS, data_name="args.csv or DATASET" if csv else "DATASET")
    return [
        Section("imports", _imports(plan.source)),
        Section("model", model_body(plan.source)),
        Section("data", "\n\n\n".join(c.strip("\n") for c in data) + "\n"),
        Section("tasks", parts.TASKS.lstrip("\n")),
        Section("processes", parts.PROCESSES.lstrip("\n")),
        Section("training", parts.TRAINING.lstrip("\n")),
        Section("main", main.lstrip("\n")),
    ]


def takes_csv(plan: ScriptPlan) -> bool:
    """``--csv FILE --target COLUMN`` fits a model with one float input and a flat output."""
    inputs = plan.source.inputs
    return len(inputs) == 1 and inputs[0].dtype == "float" and len(plan.output_shape) == 1


def _dict_literal(values: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in values.items()) + "}"


def _imports(source: ModelSource) -> str:
    """The script's imports plus any extra standard-library ones the model needs (``import math``)."""
    lines = parts.IMPORTS.splitlines()
    extra = [line for line in _model_imports(source.code) if line not in lines]
    stdlib = sorted({*[line for line in lines if line.startswith("import ") and "torch" not in line], *extra})
    third = [line for line in lines if "torch" in line]
    return "\n".join([*stdlib, "", *third]) + "\n"


def _model_imports(code: str) -> list[str]:
    tree = ast.parse(code)
    lines = code.splitlines()
    found = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            text = lines[node.lineno - 1]
            if "torch" not in text:
                found.append(text)
    return found


def model_body(source: ModelSource) -> str:
    """The model module without its docstring, imports and ``__main__`` block: classes and example_inputs."""
    tree = ast.parse(source.code)
    lines = source.code.splitlines()
    body = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom, ast.If))]
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the module docstring
    chunks = ["\n".join(lines[_first_line(n) - 1:n.end_lineno]) for n in body]
    return "\n\n\n".join(chunks) + "\n"


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", None) or []
    return min([node.lineno, *(d.lineno for d in decorators)])


def _header(plan: ScriptPlan) -> str:
    lines = [f'"""Train {plan.source.class_name} on {plan.dataset.name}: a training script generated by LayerLab.',
             "",
             f"Data: {plan.dataset.description}. Task: {plan.task}.",
             "",
             f"    python {plan.stem}_train.py --epochs {plan.defaults.epochs}",
             f"    torchrun --standalone --nproc_per_node=2 {plan.stem}_train.py",
             "",
             f"Flags: --epochs --lr --batch-size --optimizer --device --out --seed"
             f"{' --csv FILE --target COLUMN' if takes_csv(plan) else ''}.",
             "Under torchrun each process trains on its share of the data (DistributedDataParallel: gloo on CPU,",
             "NCCL on GPUs) and only rank 0 prints and saves.",
             '"""', ""]
    if plan.description:
        lines += [f"# {line}" for line in textwrap.wrap(plan.description, 100)] + [""]
    return "\n".join(lines) + "\n"


def generate_script(graph: Graph, dataset: str | None = None, result: ValidationResult | None = None,
                    **overrides: Any) -> str:
    """The training script for ``graph`` as Python source, checked by ``codegen.safety.check_source``."""
    plan = plan_script(graph, dataset, result, **overrides)
    sections = script_sections(plan)
    code = _header(plan) + sections[0].code + "\n\n" + "\n\n\n".join(s.code.strip("\n") for s in sections[1:])
    code += "\n" + parts.SCRIPT_FOOTER
    check_source(code)
    return code


def generate_notebook(graph: Graph, dataset: str | None = None, result: ValidationResult | None = None,
                      **overrides: Any) -> str:
    """The same content as a Jupyter notebook (nbformat 4 JSON): a markdown cell before each part."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    plan = plan_script(graph, dataset, result, **overrides)
    sections = script_sections(plan)
    run = parts.NOTEBOOK_RUN_CSV if plan.dataset.name == "csv" else parts.NOTEBOOK_RUN
    check_source("\n".join(s.code for s in sections) + run)
    intro = (f"# Train {plan.source.class_name} on {plan.dataset.name}\n"
             f"Generated by LayerLab. Data: {plan.dataset.description}. Task: {plan.task}.\n\n"
             f"{plan.description}\n\n{parts.EXPLAIN['imports']}")
    cells = [new_markdown_cell(intro.strip())]
    for section in sections:
        if section.key != "imports":
            extra = parts.EXPLAIN["data_csv"] if section.key == "data" and takes_csv(plan) else ""
            cells.append(new_markdown_cell(parts.EXPLAIN[section.key] + extra))
        cells.append(new_code_cell(section.code.strip("\n")))
    cells += [new_markdown_cell(parts.EXPLAIN["run"]), new_code_cell(run.strip("\n"))]
    notebook = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                  "language": "python"}})
    nbformat.validate(notebook)
    return nbformat.writes(notebook)
