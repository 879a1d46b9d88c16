"""A self-contained training script (and the same thing as a Jupyter notebook) that reproduces a run.

Generated from the design *and* the run's training settings (``training.settings``): the script holds the
model source, the settings as defaults of its flags (argparse derived from ``SETTINGS``), and LayerLab's own
code for the dataset's preparation, the loss, metrics, optimizer, schedule and training step, copied by
``export.script_data.carry``. Run with the same seed on the same device it gives the app's per-epoch losses;
under ``torchrun`` the batch size stays the global batch. It needs torch (and numpy, pandas or scikit-learn
where the data does), never LayerLab.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from builder.graph import Graph
from builder.validate import ValidationResult, validate
from codegen.naming import comment_text, to_identifier
from codegen.safety import check_source
from codegen.source import CodegenError, ModelSource, literal
from export import script_parts as parts
from export.script_data import Carried, carry, data_kind, load_data, own_data, sorted_imports
from export.script_flags import argparse_section, dict_literal, settings_section, value_literal
from training.config import SettingsError, TrainConfig
from training.settings import Setting, script_settings


@dataclass(frozen=True)
class ScriptPlan:
    """Everything the script's text depends on, checked: model, settings, task plan and data."""

    source: ModelSource
    config: TrainConfig
    plan: Any  # training.tasks.TaskPlan
    dataset: str  # a built-in name, "csv" or "zip" (the user's own file)
    prepare: Any  # the dataset's preparation function (carried into the script)
    data_args: dict[str, Any]  # its fixed arguments besides seed and fractions
    file: str  # the user's file name (for --csv / --zip)
    description: str  # of the data
    stem: str  # file-name stem for the saved weights
    design: str  # the design's description
    macs: int  # multiply-adds per sample: the CPU thread count follows from it, as in the engine


@dataclass(frozen=True)
class Section:
    key: str  # names the notebook explanation in script_parts.EXPLAIN
    code: str
    carried: str = ""  # LayerLab's own definitions, copied verbatim before ``code``

    @property
    def text(self) -> str:
        return "\n\n\n".join(part.strip("\n") for part in (self.carried, self.code) if part.strip()) + "\n"


def script_config(graph: Graph, settings: Mapping[str, Any] | TrainConfig | None = None,
                  dataset: str | None = None, **overrides: Any) -> TrainConfig:
    """The design's meta.training, then ``settings`` (the Train tab's, or a run's), then ``dataset`` and
    ``overrides``; every value checked (CodegenError lists the bad ones). A dataset other than the design's
    drops the design's dataset options and task."""
    from data.fetch import with_cached_data

    meta = graph.meta.get("training") if isinstance(graph.meta.get("training"), Mapping) else {}
    meta = with_cached_data(meta)  # as the Train tab and `layerlab train` start: lenet5 on MNIST once cached
    given = settings.settings() if isinstance(settings, TrainConfig) else dict(settings or {})
    values = {**meta, **given, **{k: v for k, v in overrides.items() if v is not None}}
    if dataset is not None and dataset != values.get("dataset"):
        values.update(dataset=dataset, dataset_options={}, task=None)
    values.setdefault("dataset", "digits")
    values["dataset"] = values["dataset"] or "digits"
    try:
        return TrainConfig.from_settings(values)
    except SettingsError as err:
        raise CodegenError(err.problems) from None


def plan_script(graph: Graph, settings: Mapping[str, Any] | TrainConfig | None = None, dataset: str | None = None,
                data: Any = None, result: ValidationResult | None = None, **overrides: Any) -> ScriptPlan:
    """Check that ``graph`` trains on the chosen data with these settings; CodegenError says why not.

    ``data`` is the loaded Dataset when the caller has it (an uploaded CSV file); built-in sets are loaded
    here, with the run's seed and options, to decide the task and loss exactly as the engine does."""
    from data.datasets import DatasetError, builtin_of, suggest_options
    from training.engine import prepare
    from training.tasks import FitError

    config = script_config(graph, settings, dataset, **overrides)
    result = result or validate(graph)
    kind = data_kind(config.dataset)
    options = dict(config.dataset_options)
    if kind == "zip":  # images resized to the model's input, grey for one channel (as the app loads them)
        shape = next((tuple(n.params.get("shape") or ()) for n in graph.inputs()), ())
        if len(shape) != 3:
            raise CodegenError([f"training script: images need a model whose Input is (channels, height, "
                                f"width), not {shape}"])
        options = {"size": shape[1], "grayscale": shape[0] == 1}
    elif not options and kind == "builtin":  # shaped for the model's inputs where it can be (digits at 28×28)
        options = suggest_options(config.dataset, [tuple(n.params.get("shape") or ()) for n in graph.inputs()])
    try:
        data = data if data is not None else load_data(config, options, kind, graph, result)
        builtin = builtin_of(config.dataset) if kind == "builtin" else None
        source, plan, macs = prepare(graph, data, config, result)
    except DatasetError as err:
        raise CodegenError([err.message]) from None
    except FitError as err:  # the Train tab's own messages: the script trains the same way
        raise CodegenError([p.message for p in err.problems]) from None
    if builtin is not None:
        prepare_fn, data_args = builtin.prepare, {**dict(builtin.fixed), **builtin.resolve(options)}
    elif kind == "csv":
        prepare_fn, data_args = own_data("csv"), {"task": options.get("task", "auto"),
                                                   "missing": options.get("missing", "impute")}
    else:
        prepare_fn, data_args = own_data("zip"), options
    own = Path(config.dataset).name if kind != "builtin" and config.dataset.lower().endswith(f".{kind}") else ""
    return ScriptPlan(source, config, plan, builtin.name if builtin else kind, prepare_fn, data_args,
                      own or f"data.{kind}", data.description, to_identifier(graph.name, "model"),
                      comment_text(graph.description, 1000), macs)


# -- the text ---------------------------------------------------------------------------------------------------
def _carried(plan: ScriptPlan, glue: str) -> tuple[Carried, Carried]:
    """(data code, learning code): LayerLab's own definitions that the script's ``glue`` (its load_data, loop
    and main) calls, with everything they use (``carry``); what no line of this run calls stays behind."""
    from data.base import make_splits
    from data.images import ZipLimits, read_source
    from data.userdata import CsvLimits
    from training.batches import Batches, batch_tensors
    from training.device import amp_dtype, cpu_threads
    from training.loop import EarlyStopping, evaluate, in_units, keep_frozen_norms, snapshot, train_step
    from training.metrics import make_accumulator
    from training.optim import make_optimizer, make_schedule
    from training.tasks import TaskPlan, with_class_weights

    called = _names_read(glue)
    limits = {"csv": CsvLimits, "zip": ZipLimits}.get(plan.dataset)
    data = carry(*(o for o in (plan.prepare, read_source, limits, make_splits)
                   if o is not None and o.__name__ in called))
    # The run's task and loss are fixed (PLAN): only their accumulator and loss travel, not every task's.
    learning = (TaskPlan, with_class_weights, make_accumulator, make_optimizer, make_schedule, Batches, batch_tensors,
                amp_dtype, cpu_threads, train_step, evaluate, keep_frozen_norms, in_units, snapshot, EarlyStopping)
    return data, carry(*(o for o in learning if o.__name__ in called),
                       select={"ACCUMULATORS": {plan.plan.task}, "_CRITERIA": {plan.plan.loss},
                               "_TASK_LOSSES": {plan.plan.task}})


def _names_read(code: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}


def _offered(plan: ScriptPlan) -> tuple[Setting, ...]:
    """The script's flags: the settings that change anything for this run's task and design."""
    return script_settings(plan.plan.task, freezes=_freezes(plan))


def _freezes(plan: ScriptPlan) -> bool:
    return "requires_grad_(False)" in plan.source.code  # how a frozen part's parameters are written


def _reached(plan: ScriptPlan) -> dict[str, str]:
    """The lines of the training loop that only some runs reach, as this run needs them ("" or the plain value
    where it doesn't): keeping a frozen part's batch norms in eval mode is a no-op for a design that freezes
    nothing, errors change units only for regression, and label smoothing and class weights exist only for
    the tasks whose loss reads them (the settings say which: ``training.settings``)."""
    units = plan.plan.task == "regression"  # the one task whose metrics (MAE, RMSE) have units
    offered = {s.name for s in _offered(plan)}
    smoothing = ", label_smoothing=args.label_smoothing" if "label_smoothing" in offered else ""
    task_plan = f"plan = TaskPlan(**PLAN{smoothing})"
    if "class_weights" in offered:
        task_plan += "\n    plan = with_class_weights(plan, args.class_weights, data.train)"
    return {"keep_frozen_norms": parts.KEEP_FROZEN_NORMS if _freezes(plan) else "", "task_plan": task_plan,
            **{key: line if units else "metrics" for key, line in parts.IN_UNITS.items()}}


def _load_section(plan: ScriptPlan, raises: bool) -> str:
    """``load_data``: the dataset's preparation with the run's arguments; a DatasetError it may raise (a
    missing file, a bad column) ends the script with its message."""
    glue = {"csv": parts.LOAD_CSV, "zip": parts.LOAD_ZIP}.get(plan.dataset, parts.LOAD_BUILTIN)
    call = Template(parts.PREPARE[plan.dataset if plan.dataset in ("csv", "zip") else "builtin"]).substitute(
        prepare=plan.prepare.__name__).strip("\n")
    if raises:
        call = "\n".join(("try:", textwrap.indent(call, "    "), "except DatasetError as err:",
                          "    raise SystemExit(str(err)) from None"))
    return Template(glue).substitute(prepared=textwrap.indent(call, "    ")).strip("\n") + "\n"


def _settings_section(plan: ScriptPlan) -> str:
    from training.engine import EVAL_BATCH

    config, task = plan.config, plan.plan
    fixed = {"task": task.task, "loss": task.loss, "output_kind": task.output_kind, "num_classes": task.num_classes,
             "pad_id": task.pad_id, "input_order": tuple(task.input_order)}
    constants = [
        f"DATASET = {value_literal(plan.dataset)}  # {comment_text(plan.description, 90)}",
        f"DATA_ARGS = {dict_literal(plan.data_args)}  # the dataset's options",
        "# What the model learns and how its output is read, as LayerLab decided it from the data and the design.",
        f"PLAN = {dict_literal(fixed)}",
        f"EVAL_BATCH = {literal(EVAL_BATCH)}  # evaluation batches: bigger is faster and needs no gradients",
        f"MACS = {literal(plan.macs)}  # multiply-adds per sample: picks the CPU threads (threads 0) as LayerLab does",
    ]
    if plan.dataset == "csv":
        constants += [f"CSV_FILE = {value_literal(plan.file)}", f"TARGET = {value_literal(config.target)}"]
    elif plan.dataset == "zip":
        constants += [f"ZIP_FILE = {value_literal(plan.file)}"]
    offered = _offered(plan)
    return settings_section(offered, {s.name: getattr(config, s.name) for s in offered}, constants)


def _argparse_section(plan: ScriptPlan) -> str:
    own = {"csv": ("--csv", "CSV_FILE", "the CSV file to train on"),
           "zip": ("--zip", "ZIP_FILE", "the zip of image folders (one per class)")}.get(plan.dataset)
    description = (f"Train {plan.source.class_name} on {plan.dataset} as LayerLab did. Under torchrun --batch-size "
                   "is the global batch: each process takes an equal share of every batch (it must divide evenly).")
    return argparse_section(description, plan.stem + ".pt", own)


def script_sections(plan: ScriptPlan) -> list[Section]:
    """The script in order: imports, settings, model, data, learning code, processes, training loop, main."""
    reached = _reached(plan)
    training = Template(parts.TRAINING).substitute(reached).strip("\n") + "\n"
    main = Template(parts.MAIN).substitute(reached, model_class=plan.source.class_name).strip("\n") + "\n"
    settings = _settings_section(plan) + "\n\n" + _argparse_section(plan)
    glue = "\n".join((_load_section(plan, raises=True), parts.PROCESSES, training, main))
    data, learning = _carried(plan, glue)
    load = _load_section(plan, raises="DatasetError" in _names_read(data.code))
    model = model_body(plan.source)
    _check_names(model, data.code + learning.code)
    code = "\n".join((settings, model, load, data.code, learning.code, parts.PROCESSES, training, main))
    read = _names_read(code)  # an import line stays if the code reads a name it binds
    imports = sorted_imports({line for line in {*parts.IMPORTS, *data.imports, *learning.imports,
                                                *_model_imports(plan.source.code)} if _bound(line) & read})
    return [
        Section("imports", "from __future__ import annotations\n\n" + _grouped(imports)),
        Section("settings", settings),
        Section("model", model),
        Section("data", load, data.code),
        Section("learning", "", learning.code),
        Section("processes", parts.PROCESSES.strip("\n") + "\n"),
        Section("training", training),
        Section("main", main),
    ]


def _bound(import_line: str) -> set[str]:
    """The names an import line binds (``import torch.distributed as dist``: dist; ``import os.path``: os)."""
    node = ast.parse(import_line).body[0]
    return {(a.asname or a.name).split(".")[0] for a in node.names}  # type: ignore[attr-defined]


def _grouped(imports: list[str]) -> str:
    """Standard-library imports, a blank line, then the others."""
    import sys

    std = [line for line in imports if line.split()[1].split(".")[0] in sys.stdlib_module_names]
    return "\n".join([*std, "", *[line for line in imports if line not in std]]) + "\n"


def _check_names(model: str, carried: str) -> None:
    """The model's classes must not shadow a carried definition (a design named 'Batches', say)."""
    def names(code: str) -> set[str]:
        return {n.name for n in ast.parse(code).body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}

    clash = sorted(names(model) & names(carried))
    if clash:
        raise CodegenError([f"training script: the model defines {', '.join(clash)}, a name the script's "
                            "training code uses: rename the design"])


def _model_imports(code: str) -> list[str]:
    """The model's own imports (e.g. ``import math``), to merge with the script's."""
    tree = ast.parse(code)
    lines = code.splitlines()
    return [lines[n.lineno - 1] for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
            and not (isinstance(n, ast.ImportFrom) and n.module == "__future__")]


def model_body(source: ModelSource) -> str:
    """The model's classes and what they use from their module (helpers, constants): not its docstring,
    imports, ``__main__`` block or ``example_inputs``, which the training never calls."""
    tree = ast.parse(source.code)
    lines = source.code.splitlines()
    body = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom, ast.If, ast.Expr))]
    bound = {name: n for n in body for name in _names_bound(n)}
    wanted, todo = set(), [source.class_name]
    while todo:  # the main class, then every module-level name it (and what it uses) reads
        name = todo.pop()
        if name in bound and name not in wanted:
            wanted.add(name)
            todo += [u.id for u in ast.walk(bound[name]) if isinstance(u, ast.Name)]
    chunks = ["\n".join(lines[_first_line(n) - 1:n.end_lineno]) for n in body if wanted & set(_names_bound(n))]
    return "\n\n\n".join(chunks) + "\n"


def _names_bound(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return [n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)]


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", None) or []
    return min([node.lineno, *(d.lineno for d in decorators)])


def _header(plan: ScriptPlan) -> str:
    config = plan.config
    csv = f" --{plan.dataset} {plan.file}" if plan.dataset in ("csv", "zip") else ""
    lines = [f'"""Train {plan.source.class_name} on {plan.dataset}: a training script generated by LayerLab.',
             "",
             f"Data: {comment_text(plan.description, 200)} Task: {plan.plan.task}.",
             "",
             f"    python {plan.stem}_train.py{csv}          # the run as set in LayerLab (seed {config.seed})",
             f"    python {plan.stem}_train.py{csv} --help   # the flags: every setting this run can change",
             f"    torchrun --standalone --nproc_per_node=2 {plan.stem}_train.py{csv}",
             "",
             "With the same seed on the same device this trains as LayerLab did: the same data and split, initial",
             "weights, batches, loss, optimizer and schedule (LayerLab's own code, copied below). Under torchrun",
             f"--batch-size ({config.batch_size}) stays the global batch: each process takes an equal share of every",
             "batch (DistributedDataParallel: gloo on CPU, NCCL on GPUs); only rank 0 prints and saves. BatchNorm",
             "and dropout then see each process's share, so such models follow a close but not identical curve.",
             '"""', ""]
    if plan.design:
        lines += [f"# {line}" for line in textwrap.wrap(plan.design, 100)] + [""]
    return "\n".join(lines) + "\n"


def check_script(sections: list[Section]) -> None:
    """The safety gate for what was generated here (settings, flags, model, glue); the carried code is
    LayerLab's own source, parsed, and restricted by ``carry`` to data/ and training/ code whose imports are
    the standard library, torch, numpy, pandas and scikit-learn."""
    carried = "\n\n".join(s.carried for s in sections if s.carried)
    tree = ast.parse(carried)
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    names |= {t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
              for t in ast.walk(n.targets[0] if isinstance(n, ast.Assign) else n.target) if isinstance(t, ast.Name)}
    imports = ast.parse(sections[0].code)
    names |= {(a.asname or a.name).split(".")[0] for n in imports.body if isinstance(n, (ast.Import, ast.ImportFrom))
              for a in n.names}
    check_source("\n\n".join(s.code for s in sections[1:]), frozenset(names))


def generate_script(graph: Graph, dataset: str | None = None, result: ValidationResult | None = None, *,
                    settings: Mapping[str, Any] | TrainConfig | None = None, data: Any = None,
                    **overrides: Any) -> str:
    """The training script for ``graph`` and these settings."""
    plan = plan_script(graph, settings, dataset, data, result, **overrides)
    sections = script_sections(plan)
    check_script(sections)
    body = "\n\n\n".join(s.text.strip("\n") for s in sections[1:])
    code = _header(plan) + sections[0].text.strip("\n") + "\n\n" + body + "\n" + parts.SCRIPT_FOOTER
    ast.parse(code)
    return code


def generate_notebook(graph: Graph, dataset: str | None = None, result: ValidationResult | None = None, *,
                      settings: Mapping[str, Any] | TrainConfig | None = None, data: Any = None,
                      **overrides: Any) -> str:
    """The same content as a Jupyter notebook (nbformat 4 JSON): a markdown cell before each part."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    plan = plan_script(graph, settings, dataset, data, result, **overrides)
    sections = script_sections(plan)
    run = {"csv": parts.NOTEBOOK_RUN_CSV, "zip": parts.NOTEBOOK_RUN_ZIP}.get(plan.dataset, parts.NOTEBOOK_RUN)
    check_script([*sections, Section("run", run)])
    intro = (f"# Train {plan.source.class_name} on {plan.dataset}\n"
             f"Generated by LayerLab. Data: {plan.description} Task: {plan.plan.task}.\n\n"
             f"{plan.design}\n\n{parts.EXPLAIN['imports']}")
    cells = [new_markdown_cell(intro.strip())]
    for section in sections:
        if section.key != "imports":
            cells.append(new_markdown_cell(parts.EXPLAIN[section.key]))
        cells.append(new_code_cell(section.text.strip("\n")))
    cells += [new_markdown_cell(parts.EXPLAIN["run"]), new_code_cell(run.strip("\n"))]
    notebook = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                  "language": "python"}})
    nbformat.validate(notebook)
    return nbformat.writes(notebook)
