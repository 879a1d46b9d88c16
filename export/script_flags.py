"""The settings part of a training script: the run's values as one table, and ``parse_args`` built from it.

One row per flag the run can use (``training.settings.script_settings``: the settings that change anything
for the run's task), so the script's flags, their ranges and their help come from the one definition of each
setting; ``parse_args`` loops over the table instead of spelling out every flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from codegen.source import CodegenError, literal
from training.settings import Kind, Setting

_TYPES = {Kind.INT: "int", Kind.FLOAT: "float", Kind.CHOICE: "str"}


def settings_section(offered: tuple[Setting, ...], values: Mapping[str, Any], constants: list[str]) -> str:
    """``SETTINGS`` (the run's value of each flag, its type, range or choices, and help), then the lines of
    ``constants`` (the data set, the plan, ...)."""
    lines = ["# The run's training settings as set in LayerLab; each is a flag that overrides it (--help).",
             "# name: (type, the run's value, its range or choices, what it does)",
             "SETTINGS = {"]
    for spec in offered:
        if spec.kind not in _TYPES or spec.flag != "--" + spec.name.replace("_", "-"):
            raise CodegenError([f"training script: setting {spec.name} can't be a script flag"])
        value = values[spec.name]
        if spec.kind is Kind.CHOICE:  # a device may be numbered (cuda:1): any text, checked where it is used
            accepted = None if spec.name == "device" else tuple(spec.choices)
        else:
            value = int(value) if spec.kind is Kind.INT else float(value)
            accepted = (spec.minimum, spec.maximum) if spec.kind is Kind.FLOAT else (int(spec.minimum),
                                                                                   int(spec.maximum))
        lines.append(f"    {value_literal(spec.name)}: ({_TYPES[spec.kind]}, {value_literal(value)}, "
                     f"{value_literal(accepted)}, {value_literal(spec.help)}),")
    lines.append("}")
    lines += constants
    return "\n".join(lines) + "\n"


def argparse_section(description: str, weights_file: str, own_file: tuple[str, str, str] | None) -> str:
    """``parse_args`` (one flag per row of SETTINGS, numbers checked against their range) and ``within``.

    ``own_file``: (flag, constant, help) of the user's data file (--csv, --zip), else None."""
    own = []
    if own_file is not None:
        flag, constant, help_text = own_file
        own = [f'    parser.add_argument("{flag}", default={constant}, help="{help_text}")']  # our fixed text
    if own_file is not None and own_file[0] == "--csv":
        own.append("    parser.add_argument(\"--target\", default=TARGET, help=\"the column to predict\")")
    lines = [
        "def parse_args(argv: list[str] | None = None) -> argparse.Namespace:",
        f"    parser = argparse.ArgumentParser(description={value_literal(description)})",
        "    for name, (kind, value, accepted, text) in SETTINGS.items():",
        "        flag = \"--\" + name.replace(\"_\", \"-\")",
        "        if kind is str:",
        "            parser.add_argument(flag, default=value, choices=accepted, help=text)",
        "        else:",
        "            parser.add_argument(flag, type=within(kind, *accepted), default=value, help=text)",
        *own,
        f"    parser.add_argument(\"--out\", default={weights_file!r}, "
        "help=\"where to save the trained weights ('' to skip)\")",
        '    parser.add_argument("--log-json", action="store_true", help="one JSON line per epoch, then the test")',
        "    args = parser.parse_args(argv)",
        "    if args.val_fraction + args.test_fraction > 0.6:",
        '        parser.error("--val-fraction + --test-fraction must leave at least 40 % of the data to train on")',
        "    return args",
        "",
        "",
        "def within(kind: Callable[[str], float], low: float, high: float) -> Callable[[str], float]:",
        '    """A flag\'s type: a number of ``kind`` from ``low`` to ``high``, the range LayerLab allows."""',
        "    def read(text: str) -> float:",
        "        try:",
        "            value = kind(text)",
        "        except ValueError:",
        "            raise argparse.ArgumentTypeError(f\"expected a number, got {text!r}\") from None",
        "        if not low <= value <= high:",
        "            raise argparse.ArgumentTypeError(f\"must be from {low:g} to {high:g}, got {value}\")",
        "        return value",
        "    return read",
    ]
    return "\n".join(lines) + "\n"


def dict_literal(values: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{value_literal(k)}: {value_literal(v)}" for k, v in values.items()) + "}"


def value_literal(value: Any) -> str:
    """A literal through ``repr()``: text of any length (help texts, a CSV file's name), else ``literal()``."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (tuple, list)):
        items = [value_literal(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, Mapping):
        return dict_literal(value)
    return literal(value)
