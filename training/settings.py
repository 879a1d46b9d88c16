"""Every training setting, described once: name, kind, range or choices, default, help, group and the tasks
it applies to, the way ``builder.params`` describes block parameters.

The Train tab's widgets (``widget_specs``), the ``layerlab train`` flags, the exported script's argparse and
its settings cell, ``TrainConfig`` and the project file's ``meta.training`` are all derived from ``SETTINGS``;
``check_settings`` is the one validation, with one message per bad value. No torch here: the CLI's
``--help`` must start instantly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from training.choices import (
    AMP_MODES,
    CLASS_WEIGHTS,
    DEVICES,
    FROZEN_NORM_MODES,
    LOSSES,
    OPTIMIZERS,
    SCHEDULES,
    TASKS,
)


class Kind(str, Enum):
    INT = "int"
    FLOAT = "float"
    CHOICE = "choice"
    TEXT = "text"
    OPTIONS = "options"  # a mapping of dataset options, checked by the dataset's own Option specs


class Group(str, Enum):
    OPTIMIZER = "optimizer"
    SCHEDULE = "schedule"
    LOSS = "loss"
    REGULARIZATION = "regularization"
    RUN = "run"
    DATA = "data"


class SettingError(ValueError):
    """One bad setting value; the message names the setting, the value and what it accepts."""


@dataclass(frozen=True)
class Setting:
    name: str
    kind: Kind
    default: Any
    help: str
    group: Group
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    tasks: tuple[str, ...] = TASKS  # the tasks it changes anything for
    only_when: tuple[str, tuple[str, ...]] | None = None  # (other setting, its values) that make this one count
    optional: bool = False  # None is allowed and means "decided elsewhere" (task: from the dataset)
    cli: bool = True  # a `layerlab train` flag
    script: bool = True  # a flag of the exported training script
    flag_name: str = ""  # the flag when it isn't --<name with dashes>
    step: float = 0.01  # a number widget's step

    @property
    def flag(self) -> str:
        return self.flag_name or "--" + self.name.replace("_", "-")

    def applies_to(self, task: str | None) -> bool:
        """Whether the setting changes anything for ``task`` (None: unknown yet, so it may)."""
        return task is None or task in self.tasks

    def relevant(self, values: Mapping[str, Any]) -> bool:
        """Whether the setting counts given the others (momentum only for SGD with momentum, ...)."""
        if self.only_when is None:
            return True
        other, allowed = self.only_when
        return values.get(other, setting(other).default) in allowed

    def describe(self) -> str:
        """What the setting accepts, for messages and --help."""
        if self.kind is Kind.CHOICE:
            return "one of " + ", ".join(self.choices)
        if self.kind in (Kind.TEXT, Kind.OPTIONS):
            return "text" if self.kind is Kind.TEXT else "dataset options"
        if self.kind is Kind.INT:
            return f"a whole number from {int(self.minimum)} to {int(self.maximum)}"
        return f"a number from {self.minimum:g} to {self.maximum:g}"

    def check(self, value: Any) -> Any:
        """``value`` normalised to the setting's type (text from a flag or a file is converted), or SettingError."""
        if value is None and self.optional:
            return None
        if self.kind is Kind.OPTIONS:
            if not isinstance(value, Mapping):
                raise SettingError(f"training setting {self.name}: expected an object of dataset options, "
                                   f"got {value!r}")
            return dict(value)
        if self.kind is Kind.TEXT:
            if not isinstance(value, str):
                raise SettingError(f"training setting {self.name}: expected text, got {value!r}")
            return value.strip()
        if self.kind is Kind.CHOICE:
            return self._check_choice(value)
        return self._check_number(value)

    def _check_choice(self, value: Any) -> str:
        text = str(getattr(value, "value", value)).strip().lower() if isinstance(value, (str, Enum)) else None
        # A CUDA device may be numbered (cuda:1): the choice is the part before the colon.
        head = text.split(":")[0] if text and self.name == "device" and text.startswith("cuda:") else text
        if head not in self.choices or (head != text and not text.split(":")[1].isdigit()):
            raise SettingError(f"training setting {self.name}: expected {self.describe()}, got {value!r}")
        return text

    def _check_number(self, value: Any) -> int | float:
        number = _number(value)
        if number is None or (self.kind is Kind.INT and not float(number).is_integer()):
            raise SettingError(f"training setting {self.name}: expected {self.describe()}, got {value!r}")
        if not self.minimum <= number <= self.maximum:
            raise SettingError(f"training setting {self.name}: {value!r} is out of range; expected {self.describe()}")
        return int(number) if self.kind is Kind.INT else float(number)


def _number(value: Any) -> float | None:
    """A finite number from a number or its text; None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


_ADAPTIVE = ("rmsprop", "adam", "adamw", "radam")
_CLASSES = ("classification", "binary")

SETTINGS: tuple[Setting, ...] = (
    # -- optimizer --------------------------------------------------------------------------------------------
    Setting("optimizer", Kind.CHOICE, "adam", "how the weights follow the gradient: sgd, sgd with momentum or "
            "nesterov momentum, rmsprop, adam, adamw (decoupled weight decay) or radam", Group.OPTIMIZER,
            choices=OPTIMIZERS),
    Setting("lr", Kind.FLOAT, 1e-3, "learning rate: the size of each step (the peak, with a schedule)",
            Group.OPTIMIZER, 1e-7, 10.0, step=1e-4),
    Setting("momentum", Kind.FLOAT, 0.9, "share of the previous step kept in the next one (SGD with momentum)",
            Group.OPTIMIZER, 0.0, 0.999, only_when=("optimizer", ("momentum", "nesterov")), step=0.01),
    Setting("beta1", Kind.FLOAT, 0.9, "Adam's decay rate of the gradient's running mean", Group.OPTIMIZER,
            0.0, 0.9999, only_when=("optimizer", ("adam", "adamw", "radam"))),
    Setting("beta2", Kind.FLOAT, 0.999, "Adam's decay rate of the squared gradient's running mean",
            Group.OPTIMIZER, 0.0, 0.99999, only_when=("optimizer", ("adam", "adamw", "radam")), step=0.001),
    Setting("eps", Kind.FLOAT, 1e-8, "added to the denominator of adaptive optimizers, against division by ~0",
            Group.OPTIMIZER, 1e-12, 1e-2, only_when=("optimizer", _ADAPTIVE), step=1e-9),
    # -- schedule ---------------------------------------------------------------------------------------------
    Setting("schedule", Kind.CHOICE, "constant", "how the learning rate changes over the run, step by step: "
            "constant, step (×gamma every third), exponential (to gamma² at the end), cosine (to 0) or onecycle",
            Group.SCHEDULE, choices=SCHEDULES),
    Setting("gamma", Kind.FLOAT, 0.5, "the factor of the step and exponential schedules", Group.SCHEDULE,
            0.01, 1.0, only_when=("schedule", ("step", "exponential")), step=0.05),
    Setting("warmup", Kind.FLOAT, 0.0, "share of the steps over which the learning rate first rises linearly "
            "from near 0 (0 = no warm-up); the schedule runs over the rest", Group.SCHEDULE, 0.0, 0.9,
            only_when=("schedule", ("constant", "step", "exponential", "cosine")), step=0.05),
    # -- loss -------------------------------------------------------------------------------------------------
    Setting("loss", Kind.CHOICE, "auto", "auto picks from the task: cross-entropy for classes, binary "
            "cross-entropy for yes/no, mean squared error for numbers", Group.LOSS, choices=LOSSES, script=False),
    Setting("label_smoothing", Kind.FLOAT, 0.0, "share of each target spread over the other classes "
            "(cross-entropy only)", Group.LOSS, 0.0, 0.9, tasks=("classification", "sequence"), step=0.05),
    Setting("class_weights", Kind.CHOICE, "none", "balanced: weigh each class by n / (classes × its count) in "
            "the training split, so rare classes count as much as common ones", Group.LOSS,
            choices=CLASS_WEIGHTS, tasks=_CLASSES),
    # -- regularization ---------------------------------------------------------------------------------------
    Setting("weight_decay", Kind.FLOAT, 0.0, "pulls every weight towards 0 at each step (L2; decoupled for adamw)",
            Group.REGULARIZATION, 0.0, 1.0, step=1e-4),
    Setting("grad_clip", Kind.FLOAT, 0.0, "largest gradient norm; longer gradients are scaled down (0 = off)",
            Group.REGULARIZATION, 0.0, 1e6, step=0.1),
    Setting("patience", Kind.INT, 0, "early stopping: epochs without a better validation loss before the run "
            "stops and the best epoch's weights come back (0 = off)", Group.REGULARIZATION, 0, 10_000),
    # -- run --------------------------------------------------------------------------------------------------
    Setting("epochs", Kind.INT, 10, "passes over the training data", Group.RUN, 1, 100_000),
    Setting("batch_size", Kind.INT, 64, "samples per step; under torchrun the global batch, shared by the "
            "processes", Group.RUN, 1, 65_536),
    Setting("seed", Kind.INT, 0, "the run's random seed: data, split, initial weights, shuffling and dropout",
            Group.RUN, 0, 2**31 - 1),
    Setting("device", Kind.CHOICE, "auto", "where to train: auto picks CUDA, then Apple MPS, then the CPU",
            Group.RUN, choices=DEVICES),
    Setting("amp", Kind.CHOICE, "auto", "mixed precision on CUDA: auto (bf16 where supported), bf16, fp16 or off",
            Group.RUN, choices=AMP_MODES),
    Setting("frozen_norm", Kind.CHOICE, "eval", "batch norm layers in frozen parts of the design: eval keeps "
            "their running statistics as loaded, like their weights; train updates the statistics from each batch",
            Group.RUN, choices=FROZEN_NORM_MODES),
    Setting("max_seconds", Kind.FLOAT, 0.0, "stop training after this many seconds; the test still runs "
            "(0 = no limit)", Group.RUN, 0.0, 1e7, step=10.0),
    Setting("threads", Kind.INT, 0, "CPU threads (0 = picked from the model's size and the machine's load)",
            Group.RUN, 0, 1024),
    # -- data -------------------------------------------------------------------------------------------------
    Setting("dataset", Kind.TEXT, "", "a built-in dataset's name, or a .csv file or a .zip of image folders",
            Group.DATA, script=False),
    Setting("dataset_options", Kind.OPTIONS, {}, "a dataset option as KEY=VALUE, e.g. gate=xor (repeatable)",
            Group.DATA, script=False, flag_name="--option"),
    Setting("target", Kind.TEXT, "", "the column a CSV file's model predicts", Group.DATA, script=False),
    Setting("task", Kind.CHOICE, None, "what to learn; empty: the dataset's own task (reconstruction trains an "
            "autoencoder on any inputs; vae a variational one, whose model returns reconstruction, mu, logvar)", Group.DATA, choices=TASKS, optional=True, script=False),
    Setting("val_fraction", Kind.FLOAT, 0.15, "share of the data held out to watch for overfitting each epoch",
            Group.DATA, 0.05, 0.4, step=0.05),
    Setting("test_fraction", Kind.FLOAT, 0.15, "share of the data held out for the final test", Group.DATA,
            0.05, 0.4, step=0.05),
)

_BY_NAME = {s.name: s for s in SETTINGS}
LEGACY_SCHEDULES = {"warmup": ("cosine", 0.1)}  # old name -> (schedule, warm-up share)


def setting(name: str) -> Setting:
    if name not in _BY_NAME:
        raise KeyError(f"no training setting named {name!r}; known: {', '.join(_BY_NAME)}")
    return _BY_NAME[name]


def defaults() -> dict[str, Any]:
    """Every setting's default (a fresh dict each call)."""
    return {s.name: (dict(s.default) if s.kind is Kind.OPTIONS else s.default) for s in SETTINGS}


def upgrade(values: Mapping[str, Any]) -> dict[str, Any]:
    """Older spellings read by today's names: schedule 'warmup' is cosine with warm-up, None means 'off'."""
    out = dict(values)
    legacy = LEGACY_SCHEDULES.get(out.get("schedule"))  # type: ignore[arg-type]
    if legacy:
        out["schedule"] = legacy[0]
        out.setdefault("warmup", legacy[1])
    for name in ("grad_clip", "patience", "max_seconds"):  # None used to mean off; now 0 does
        if name in out and out[name] is None:
            out[name] = 0
    return out


def check_settings(values: Mapping[str, Any], known_only: bool = True) -> list[str]:
    """One message per bad value (unknown names too, unless ``known_only`` is False); [] when all are good."""
    messages = []
    for name, value in upgrade(values).items():
        if name not in _BY_NAME:
            if known_only:
                messages.append(f"unknown training setting {name!r}")
            continue
        try:
            _BY_NAME[name].check(value)
        except SettingError as err:
            messages.append(str(err))
    return messages + _cross_checks(values)


def _cross_checks(values: Mapping[str, Any]) -> list[str]:
    val, test = (_number(values.get(k, setting(k).default)) for k in ("val_fraction", "test_fraction"))
    if val is not None and test is not None and val + test > 0.6:
        return [f"training settings val_fraction + test_fraction: {val:g} + {test:g} leaves less than 40 % of "
                "the data to train on; keep their sum at most 0.6"]
    return []


def normalise(values: Mapping[str, Any], known_only: bool = False) -> dict[str, Any]:
    """Defaults updated with ``values``, each checked and converted; SettingsError lists every problem."""
    values = upgrade(values)
    problems = check_settings(values, known_only)
    if problems:
        raise SettingsError(problems)
    out = defaults()
    out.update({k: _BY_NAME[k].check(v) for k, v in values.items() if k in _BY_NAME})
    return out


class SettingsError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# -- widgets ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WidgetSpec:
    """What the Train tab draws for one setting (pure data: ui/ turns it into a Streamlit widget)."""

    name: str
    label: str
    widget: str  # number | select | text
    group: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    integer: bool = False
    options: tuple[str, ...] = ()
    only_when: tuple[str, tuple[str, ...]] | None = None


_LABELS = {"lr": "Learning rate", "beta1": "Adam β1", "beta2": "Adam β2", "eps": "Epsilon (ε)",
           "gamma": "Schedule factor (γ)", "warmup": "Warm-up (share of steps)", "grad_clip": "Gradient clipping",
           "patience": "Early-stopping patience", "amp": "Mixed precision (CUDA)", "max_seconds": "Time limit (s)",
           "threads": "CPU threads", "val_fraction": "Validation share", "test_fraction": "Test share",
           "schedule": "LR schedule", "class_weights": "Class weights"}


def setting_label(name: str) -> str:
    """The setting's label: the Train tab's widget and the run history's column both read it."""
    return _LABELS.get(name, name.replace("_", " ").capitalize())


def widget_specs(task: str | None = None, names: Iterable[str] | None = None) -> tuple[WidgetSpec, ...]:
    """One widget per setting that applies to ``task`` (all when None), in SETTINGS order; text and dataset
    settings are left to the data picker."""
    wanted = set(names) if names is not None else None
    specs = []
    for s in SETTINGS:
        if s.kind in (Kind.TEXT, Kind.OPTIONS) or s.optional or not s.applies_to(task):
            continue
        if wanted is not None and s.name not in wanted:
            continue
        label = setting_label(s.name)
        if s.kind is Kind.CHOICE:
            specs.append(WidgetSpec(s.name, label, "select", s.group.value, s.default, s.help, options=s.choices,
                                    only_when=s.only_when))
            continue
        step = 1 if s.kind is Kind.INT else s.step
        specs.append(WidgetSpec(s.name, label, "number", s.group.value, s.default, s.help, s.minimum, s.maximum,
                                step, s.kind is Kind.INT, only_when=s.only_when))
    return tuple(specs)


def cli_settings() -> tuple[Setting, ...]:
    return tuple(s for s in SETTINGS if s.cli)


def script_settings(task: str | None = None, freezes: bool = True) -> tuple[Setting, ...]:
    """The exported script's flags: those that change anything for ``task`` (None: for any), and frozen_norm
    only for a design that freezes a part (the script carries no frozen-part code otherwise)."""
    return tuple(s for s in SETTINGS if s.script and s.applies_to(task) and (freezes or s.name != "frozen_norm"))


def markdown_table() -> str:
    """The settings as the Markdown table docs/training.md holds (a test keeps the two equal)."""
    rows = ["| Setting | Flag | Default | Accepts | Applies to | What it does |", "|---|---|---|---|---|---|"]
    for s in SETTINGS:
        default = "(the dataset's)" if s.default is None else f"`{s.default!r}`" if s.default != {} else "—"
        tasks = "all tasks" if set(s.tasks) == set(TASKS) else ", ".join(s.tasks)
        when = f" (with {s.only_when[0]} {' / '.join(s.only_when[1])})" if s.only_when else ""
        rows.append(f"| {s.name} | `{s.flag}` | {default} | {s.describe()} | {tasks}{when} | {s.help} |")
    return "\n".join(rows) + "\n"
