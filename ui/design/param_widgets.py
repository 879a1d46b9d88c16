"""One typed widget per catalog parameter, built from the Param spec (kind, range, choices, doc).

Inside an open block a layer's parameter may follow the block's parameters (``$planes``, ``$planes * 4``): it is
then a text field that takes a reference or a fixed value, with the value of the copy shown beside it.

Widget values are set from the graph before each widget is drawn, so undo, redo and a refused value all show
the graph's real value. A change calls ``builder.edits.set_param`` through ``state.edit`` (one undo step per
field: consecutive changes of one field coalesce).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from builder.edits import set_param
from builder.params import Kind, Param
from builder.refs import is_ref
from ui.common import state
from ui.common.block_view import set_param_ref


def widget_key(node_id: str, name: str) -> str:
    return f"param_{node_id}_{name}"


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def parse_ints(text: str, spec: Param) -> Any:
    """ "1, 28, 28" → [1, 28, 28]; "3" → 3 for kernel-size style params; "" → None (default / inferred); a word
    the parameter takes as torch does ("same" for a conv's padding) → that word."""
    if text.strip().lower() in spec.words:
        return text.strip().lower()
    parts = [p for p in text.replace("×", ",").replace("x", ",").replace(" ", ",").split(",") if p]
    if not parts:
        return None
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        words = f", or {' or '.join(spec.words)}" if spec.words else ""
        raise ValueError(f"{spec.name}: ‘{text}’ is not a list of whole numbers, e.g. 1, 28, 28{words}") from None
    if spec.kind is Kind.INT_OR_TUPLE and len(numbers) == 1:
        return numbers[0]
    return numbers


def _widget_value(spec: Param, value: Any) -> Any:
    if spec.kind in (Kind.INTS, Kind.INT_OR_TUPLE):
        return to_text(value)
    if spec.kind is Kind.FLOAT and value is not None:
        return float(value)
    return value


def _on_change(node_id: str, spec: Param) -> None:
    raw = st.session_state[widget_key(node_id, spec.name)]
    if spec.kind in (Kind.INTS, Kind.INT_OR_TUPLE):
        try:
            raw = parse_ints(raw, spec)
        except ValueError as err:
            state.flash("error", str(err))
            return
    state.edit(set_param, node_id, spec.name, raw, key=f"param:{node_id}.{spec.name}")


def _bounds(spec: Param) -> dict[str, Any]:
    cast = int if spec.kind is Kind.INT else float
    out: dict[str, Any] = {}
    if spec.minimum is not None:
        out["min_value"] = cast(spec.minimum)
    if spec.maximum is not None:
        out["max_value"] = cast(spec.maximum)
    return out


def parse_fixed(text: str, spec: Param) -> Any:
    """A typed value from a text field: "64" → 64 for an int, "true" → True for a switch, "3, 5" → [3, 5]."""
    text = text.strip()
    try:
        if spec.kind is Kind.INT:
            return int(text)
        if spec.kind is Kind.FLOAT:
            return float(text)
    except ValueError:
        raise ValueError(f"{spec.name}: ‘{text}’ is not a number; write one, or $name for a block parameter") from None
    if spec.kind is Kind.BOOL:
        if text.lower() not in ("true", "false"):
            raise ValueError(f"{spec.name}: write true or false, or $name for a block parameter")
        return text.lower() == "true"
    if spec.kind in (Kind.INTS, Kind.INT_OR_TUPLE):
        return parse_ints(text, spec)
    return text


def _on_ref_change(node_id: str, spec: Param) -> None:
    text = str(st.session_state[widget_key(node_id, spec.name)]).strip()
    if is_ref(text):
        state.edit(set_param_ref, node_id, spec.name, text, state.open_definition(),
                   key=f"param:{node_id}.{spec.name}")
        return
    try:
        value = parse_fixed(text, spec) if text else None
    except ValueError as err:
        state.flash("error", str(err))
        return
    state.edit(set_param, node_id, spec.name, value, key=f"param:{node_id}.{spec.name}")


def ref_widget(node_id: str, spec: Param, value: str, resolved: Any) -> None:
    """A parameter that follows the block's parameters: its formula, and what it is in the copy shown."""
    key = widget_key(node_id, spec.name)
    st.session_state[key] = value
    shown = to_text(resolved) if resolved is not None else "?"
    st.text_input(f"{spec.name} = {shown} here", key=key, on_change=_on_ref_change, args=(node_id, spec),
                  help="follows the block's parameter: $name, or a formula such as $planes * 4; "
                       "type a number to fix it")


def param_widget(node_id: str, spec: Param, value: Any, resolved: Any = None) -> None:
    """Draw the widget for ``spec`` showing ``value`` (the node's own value or the default); ``resolved`` is the
    value a reference (``$planes``) has in the block's copy shown."""
    if is_ref(value):
        ref_widget(node_id, spec, value, resolved)
        return
    if spec.kind is Kind.FLOATS:  # thousands of numbers an import carried: shown as a count, kept as they are
        count = len(value or ())
        st.caption(f"{spec.name}: {count:,} number{'s' if count != 1 else ''}"
                   + (f" ({to_text(value[:4])}{', …' if count > 4 else ''})" if count else ""), help=spec.doc or None)
        return
    key = widget_key(node_id, spec.name)
    st.session_state[key] = _widget_value(spec, value)
    common: dict[str, Any] = {"key": key, "help": spec.doc or None, "on_change": _on_change, "args": (node_id, spec)}
    label = spec.name
    if spec.kind is Kind.BOOL:
        st.checkbox(label, **common)
    elif spec.kind is Kind.CHOICE:
        st.selectbox(label, options=list(spec.choices), **common)
    elif spec.kind is Kind.INT:
        st.number_input(label, step=1, format="%d", **_bounds(spec), **common)
    elif spec.kind is Kind.FLOAT:
        st.number_input(label, step=0.01, format="%.4g", **_bounds(spec), **common)
    else:
        hint = {Kind.INTS: "e.g. 1, 28, 28", Kind.INT_OR_TUPLE: "3, or 3, 5 for height, width"}.get(spec.kind, "")
        if spec.words:  # offered where it is typed: torch's padding="same" / "valid"
            hint = f"{hint}, or {' or '.join(spec.words)}"
        st.text_input(f"{label} ({spec.describe_range()})" if spec.minimum is not None else label,
                      placeholder=hint, **common)


def inferred_line(spec: Param, resolved: Any) -> str:
    shown = to_text(resolved) if resolved is not None else "?"
    return f"`{spec.name} = {shown}` · from the input"
