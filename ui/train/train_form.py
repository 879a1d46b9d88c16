"""The Train tab's settings form, drawn from ``training.settings`` (names, labels, help, ranges, defaults and
choices all come from there; nothing about a setting is written here).

The four settings everybody touches (epochs, batch size, learning rate, optimizer) are always shown; every
other one is in "More settings", by group, and shown only while it counts (momentum only for SGD with
momentum...). Number fields take any number: ``check_settings`` is the one validation, with one message per bad
value, and Start stays off until there are none. While a run is live the form shows that run's settings,
read-only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from training import settings as ts
from ui.train.train_state import keep, kept

MAIN = ("epochs", "batch_size", "lr", "optimizer")
KEY = "ll_set_"  # widget keys: ll_set_<setting>; the read-only copy of a live run: ll_set_live_<setting>
_GROUP_TITLES = {"optimizer": "Optimizer", "schedule": "Learning-rate schedule", "loss": "Loss",
                 "regularization": "Regularization and early stopping", "run": "Run", "data": "Data split"}


def design_settings(meta_training: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """Every setting's value for a design: its ``meta.training`` over the defaults. A value the form can't show
    (wrong type, unknown choice) is replaced by the default, and a message says so."""
    given = ts.upgrade(dict(meta_training or {}))
    values = ts.defaults()
    problems = []
    for name, value in given.items():
        try:
            spec = ts.setting(name)
        except KeyError:
            continue  # a project may carry more (e.g. notes for a lesson); not settings
        try:
            values[name] = spec.check(value)
        except ts.SettingError as err:
            problems.append(f"{err} (the design's saved value; the default {spec.default!r} is used)")
    return values, problems


PATIENCE_KEY = f"{KEY}patience"


def set_setting(name: str, value: Any) -> None:
    """A button's callback that changes one setting in the form (e.g. "Turn on early stopping")."""
    st.session_state[f"{KEY}{name}"] = keep(f"{KEY}{name}", value)


def pending(values: Mapping[str, Any], name: str) -> Any:
    """A setting's value as this rerun will show it: the widget's new value when the user just changed it
    (the data, drawn before the form, needs this rerun's seed), else the kept one."""
    return st.session_state.get(f"{KEY}{name}", values.get(name, ts.setting(name).default))


def relevant(spec: ts.WidgetSpec, values: Mapping[str, Any]) -> bool:
    """Whether a setting counts, given the others (only_when)."""
    if spec.only_when is None:
        return True
    other, allowed = spec.only_when
    return values.get(other) in allowed


def form_problems(values: Mapping[str, Any], max_epochs: int) -> list[str]:
    """check_settings over the form's values, plus the server's own epoch limit."""
    problems = ts.check_settings({k: v for k, v in values.items() if _is_setting(k)})
    epochs = values.get("epochs")
    if isinstance(epochs, (int, float)) and epochs > max_epochs:
        problems.append(f"epochs: {epochs:g} is more than this server allows ({max_epochs}, LAYERLAB_MAX_EPOCHS)")
    return problems


def _is_setting(name: str) -> bool:
    try:
        ts.setting(name)
    except KeyError:
        return False
    return True


def render_form(values: dict[str, Any], task: str | None, live: Mapping[str, Any] | None = None,
                under: Mapping[str, Callable[[], None]] | None = None) -> dict[str, Any]:
    """Draw the settings and return them (``values`` updated). ``live``: a running run's settings, shown
    read-only instead of the user's (which are kept for when it ends). ``under``: something drawn under a main
    field, by setting name (the learning-rate finder's button under the learning rate)."""
    shown = dict(live) if live is not None else values
    specs = {spec.name: spec for spec in ts.widget_specs(task)}
    st.markdown("**Training**" + (" · the live run's settings (read-only)" if live is not None else ""))
    columns = st.columns(2)
    for i, name in enumerate(MAIN):
        with columns[i % 2]:
            shown[name] = _widget(specs[name], shown, live is not None)
            if under and name in under and live is None:
                under[name]()
    with st.expander("More settings"):
        for group, members in _groups(specs).items():
            members = [s for s in members if relevant(s, shown)]
            if not members:
                continue
            st.caption(_GROUP_TITLES.get(group, group.capitalize()))
            columns = st.columns(2)
            for i, spec in enumerate(members):
                with columns[i % 2]:
                    shown[spec.name] = _widget(spec, shown, live is not None)
    return values if live is not None else shown


def _groups(specs: Mapping[str, ts.WidgetSpec]) -> dict[str, list[ts.WidgetSpec]]:
    groups: dict[str, list[ts.WidgetSpec]] = {}
    for spec in specs.values():
        if spec.name not in MAIN:
            groups.setdefault(spec.group, []).append(spec)
    return groups


def _widget(spec: ts.WidgetSpec, values: Mapping[str, Any], read_only: bool) -> Any:
    key = f"{KEY}live_{spec.name}" if read_only else f"{KEY}{spec.name}"
    value = values.get(spec.name, spec.default)
    help_text = spec.help + (f" ({spec.minimum:g} to {spec.maximum:g})" if spec.minimum is not None else "")
    if spec.widget == "select":
        options = list(spec.options)
        given: dict[str, Any] = {}
        if read_only:
            st.session_state[key] = value if value in options else options[0]
        else:
            given = kept(key, value, options, arg="index")
        chosen = st.selectbox(spec.label, options, key=key, help=help_text, disabled=read_only, **given)
        return chosen if read_only else keep(key, chosen)
    shown = _as_number(value, spec)
    given = {}
    if read_only:
        st.session_state[key] = shown
    else:
        given = kept(key, shown)
        if not isinstance(st.session_state[key], type(shown)):  # a remembered value of another type
            st.session_state[key], given = shown, {}
    number = st.number_input(spec.label, step=int(spec.step) if spec.integer else spec.step, key=key,
                             help=help_text, disabled=read_only, format=None if spec.integer else "%g", **given)
    return number if read_only else keep(key, number)


def _as_number(value: Any, spec: ts.WidgetSpec) -> int | float:
    """The value in the widget's type (an int field can't show 2.5, a float field wants a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        value = spec.default
    return int(value) if spec.integer else float(value)
