"""Every training setting has exactly one definition (training.settings.SETTINGS): the CLI flags, the Train
tab's widgets, the exported script's argparse, TrainConfig and the checks are derived from it and agree."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from builder.templates import load_template
from cli.main import build_parser
from codegen.loader import import_source
from data.base import FRACTIONS
from export.script import generate_script
from training.config import SettingsError, TrainConfig
from training.settings import (
    SETTINGS,
    Kind,
    check_settings,
    cli_settings,
    defaults,
    normalise,
    script_settings,
    setting,
    widget_specs,
)


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: action for action in parser._actions for flag in action.option_strings}


def _train_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def test_names_are_unique_and_every_setting_is_complete():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    for s in SETTINGS:
        assert s.help and s.group and s.tasks, s.name
        if s.kind in (Kind.INT, Kind.FLOAT):
            assert s.minimum <= s.default <= s.maximum, s.name
        if s.kind is Kind.CHOICE and not s.optional:
            assert s.default in s.choices, s.name
        if s.only_when:
            other, values = s.only_when
            assert set(values) <= set(setting(other).choices), s.name


def test_train_config_fields_are_the_settings():
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    engine_only = {"event_interval", "max_device_bytes"}
    assert set(fields) - engine_only == {s.name for s in SETTINGS}
    assert TrainConfig().settings() == defaults()
    assert (setting("val_fraction").default, setting("test_fraction").default) == FRACTIONS


def test_cli_flags_are_derived_from_the_settings():
    flags = _options(_train_parser())
    for spec in cli_settings():
        assert spec.flag in flags, spec.flag
        assert flags[spec.flag].dest == spec.name
    assert {s.name for s in cli_settings()} == {s.name for s in SETTINGS}  # every setting is a flag
    args = _train_parser().parse_args(["digits_mlp", "--lr", "0.5", "--schedule", "cosine", "--warmup", "0.1",
                                       "--class-weights", "balanced", "-o", "flat=true"])
    assert (args.lr, args.schedule, args.warmup, args.class_weights) == (0.5, "cosine", 0.1, "balanced")
    assert args.dataset_options == ["flat=true"] and args.momentum is None  # unset: the design decides


def test_a_bad_flag_gets_the_settings_message(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        _train_parser().parse_args(["digits_mlp", "--lr", "20"])
    assert "training setting lr: '20' is out of range; expected a number from 1e-07 to 10" in capsys.readouterr().err


def test_widgets_are_derived_from_the_settings():
    specs = {w.name: w for w in widget_specs()}
    drawn = {s.name for s in SETTINGS if s.kind not in (Kind.TEXT, Kind.OPTIONS) and not s.optional}
    assert set(specs) == drawn
    for name, widget in specs.items():
        spec = setting(name)
        assert (widget.default, widget.help, widget.group) == (spec.default, spec.help, spec.group.value)
        if widget.widget == "select":
            assert widget.options == spec.choices
        else:
            assert (widget.minimum, widget.maximum, widget.integer) == (spec.minimum, spec.maximum,
                                                                        spec.kind is Kind.INT)
    regression = {w.name for w in widget_specs("regression")}
    assert "label_smoothing" not in regression and "class_weights" not in regression and "lr" in regression


def test_script_flags_are_derived_from_the_settings():
    module = import_source(generate_script(load_template("digits_mlp")), "script")
    parser_flags = set()
    original = argparse.ArgumentParser.parse_args

    def capture(self, argv=None, namespace=None):  # the script's own parser, as built by parse_args()
        parser_flags.update(_options(self))
        return original(self, argv, namespace)

    argparse.ArgumentParser.parse_args = capture
    try:
        args = module.parse_args([])
    finally:
        argparse.ArgumentParser.parse_args = original
    own = {"-h", "--help", "--out", "--log-json"}
    # The flags of the settings that change anything for the run's task; digits_mlp freezes nothing, so no
    # --frozen-norm (a freezing design's script has it: test_freeze).
    offered = script_settings(module.PLAN["task"], freezes=False)
    assert parser_flags - own == {s.flag for s in offered}
    assert "--frozen-norm" not in parser_flags and "--label-smoothing" in parser_flags
    for spec in offered:  # defaults: the run's settings (here the template's, else the setting's)
        meta = load_template("digits_mlp").meta["training"]
        assert getattr(args, spec.name) == meta.get(spec.name, spec.default), spec.name
    with pytest.raises(SystemExit):
        module.parse_args(["--lr", "20"])  # the same range as everywhere else


def test_one_message_per_bad_value():
    messages = check_settings({"lr": -1, "optimizer": "adagrad", "epochs": 2.5, "seed": True, "device": "cuda:x",
                               "warmup": "lots", "nonsense": 1, "momentum": 0.5})
    assert messages == [
        "training setting lr: -1 is out of range; expected a number from 1e-07 to 10",
        "training setting optimizer: expected one of sgd, momentum, nesterov, rmsprop, adam, adamw, radam, "
        "got 'adagrad'",
        "training setting epochs: expected a whole number from 1 to 100000, got 2.5",
        "training setting seed: expected a whole number from 0 to 2147483647, got True",
        "training setting device: expected one of auto, cpu, cuda, mps, got 'cuda:x'",
        "training setting warmup: expected a number from 0 to 0.9, got 'lots'",
        "unknown training setting 'nonsense'",
    ]
    assert check_settings({"val_fraction": 0.4, "test_fraction": 0.3}) == [
        "training settings val_fraction + test_fraction: 0.4 + 0.3 leaves less than 40 % of the data to train on; "
        "keep their sum at most 0.6"]
    with pytest.raises(SettingsError) as err:
        TrainConfig.from_settings({"lr": 0, "batch_size": 0})
    assert len(err.value.problems) == 2


def test_values_from_files_and_flags_are_normalised():
    values = normalise({"lr": "0.01", "epochs": 3.0, "device": "CUDA:1", "schedule": "warmup", "grad_clip": None})
    assert (values["lr"], values["epochs"], values["device"]) == (0.01, 3, "cuda:1")
    assert (values["schedule"], values["warmup"], values["grad_clip"]) == ("cosine", 0.1, 0)  # older spellings
    assert TrainConfig.from_dict({"schedule": "warmup", "unknown": 1}).schedule == "cosine"  # old run records


def test_applies_to_and_relevance():
    assert setting("label_smoothing").applies_to("classification")
    assert not setting("label_smoothing").applies_to("regression")
    assert setting("momentum").relevant({"optimizer": "nesterov"})
    assert not setting("momentum").relevant({"optimizer": "adam"})
    assert not setting("gamma").relevant({})  # the default schedule (constant) has no factor


def test_the_docs_hold_the_settings_table():
    from pathlib import Path

    from training.settings import markdown_table

    text = (Path(__file__).resolve().parent.parent / "docs" / "training.md").read_text(encoding="utf-8")
    start = text.index("-->\n", text.index("<!-- settings table")) + 4
    assert text[start:text.index("<!-- end of settings table -->")] == markdown_table(), \
        "docs/training.md: paste training.settings.markdown_table() between the markers"
