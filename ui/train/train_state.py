"""What the Train tab remembers between reruns and tab switches.

Streamlit forgets a widget's value on the first rerun in which the widget is not drawn, and the app draws only
the open tab: going to the Code tab and back used to reset every setting and the uploaded CSV. So each Train
tab widget is drawn through ``kept(key, default)``, which puts the last value back into ``st.session_state``
before the widget is created (or, while the widget holds it, gives the widget that value as its default), and
``keep(key, value)`` records what it shows afterwards. Uploaded files can't be
put back into a file uploader: their bytes are kept here and offered as "the file uploaded earlier".

The values live in plain session-state entries (never in widget keys), one per browser session: nothing here is
shared between users. ``link_training`` decides which of these settings a share link carries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

_KEPT = "ll_train_kept"  # widget key -> the value it last showed
UPLOADS = "ll_train_uploads"  # kind ("csv", "zip") -> (file name, bytes)
LOST = "ll_train_lost_uploads"  # kind -> file name: uploaded before a reload, whose bytes were not kept
FORM = "ll_train_form"  # (design identity, the settings shown, problems with the design's saved values)


def _kept() -> dict[str, Any]:
    return st.session_state.setdefault(_KEPT, {})


def kept(key: str, default: Any, options: Sequence[Any] | None = None, allow_none: bool = False,
         arg: str = "value") -> dict[str, Any]:
    """Before drawing widget ``key``: give it its last value (or ``default`` the first time). With ``options``
    (a selectbox), a remembered value that is no longer among them falls back to ``default``; ``allow_none``:
    None (nothing chosen yet) is a value too.

    Returns the keyword arguments to draw the widget with: ``{arg: value}`` (``arg="index"`` for a selectbox)
    when the widget still holds its value, so that a browser which lost the widget's state falls back to that
    value rather than the widget's own default (under load, after a Stop, the browser sent 0 for every number
    and the first data set: Start stayed disabled); ``{}`` when the value was put into session state here."""
    held = key in st.session_state
    value = st.session_state[key] if held else _kept().get(key, default)
    if options is not None and value not in options and not (allow_none and value is None):
        value = default if default in options or (allow_none and default is None) else options[0]
    elif held:
        # The widget still holds its value: writing it back would make Streamlit push it to the browser, and
        # inside a fragment a run that began before the user's last edit would undo that edit.
        return _fallback(value, default, options, arg)
    st.session_state[key] = value
    return {}


def _fallback(value: Any, default: Any, options: Sequence[Any] | None, arg: str) -> dict[str, Any]:
    """The widget's default argument: the index of a choice, else the value in the default's type (a number
    field refuses a float where it counts ints); nothing when the value doesn't convert."""
    if arg == "index":
        return {"index": None if value is None else list(options or []).index(value)}
    if value is None or not isinstance(default, (bool, int, float)):
        return {arg: value} if value is not None else {}
    try:
        return {arg: type(default)(value)}
    except (TypeError, ValueError):
        return {}


def keep(key: str, value: Any) -> Any:
    """After drawing widget ``key``: remember what it shows; returns ``value``."""
    _kept()[key] = value
    return value


def forget(prefix: str) -> None:
    """Drop the remembered values of widgets whose key starts with ``prefix`` (a new design's defaults)."""
    for store in (_kept(), st.session_state):
        for key in [k for k in list(store.keys()) if str(k).startswith(prefix)]:
            del store[key]


def kept_values() -> dict[str, Any]:
    """Every remembered widget value, newest first: a widget drawn this run holds a value its ``keep`` may not
    have recorded yet (the user changed it and the run stopped before the widget was drawn)."""
    return {key: st.session_state.get(key, value) for key, value in _kept().items()}


def restore_kept(values: dict[str, Any]) -> None:
    """Values remembered in an earlier visit (``ui.project.saved_work``): the widgets start from them."""
    _kept().update(values)


def store_upload(kind: str, name: str, data: bytes) -> None:
    st.session_state.setdefault(UPLOADS, {})[kind] = (name, data)
    st.session_state.get(LOST, {}).pop(kind, None)


def upload_names() -> dict[str, str]:
    """kind -> file name of every upload this browser is using, including those to upload again."""
    held = {kind: name for kind, (name, _data) in st.session_state.get(UPLOADS, {}).items()}
    return {**st.session_state.get(LOST, {}), **held}


def lost_upload(kind: str) -> str | None:
    """The name of a file of ``kind`` used before a reload: its bytes are never written to disk, so the user is
    asked to upload it again."""
    return st.session_state.get(LOST, {}).get(kind)


def stored_upload(kind: str) -> tuple[str, bytes] | None:
    """(file name, bytes) of the last file of ``kind`` this session uploaded, if it wasn't removed."""
    return st.session_state.get(UPLOADS, {}).get(kind)


def drop_upload(kind: str) -> None:
    st.session_state.get(UPLOADS, {}).pop(kind, None)
    st.session_state.get(LOST, {}).pop(kind, None)


def on_upload_change(kind: str, key: str) -> None:
    """The file uploader's on_change: a new file replaces the kept one; clearing the uploader drops it.
    (A remounted, empty uploader sends no change, so a tab switch keeps the file.)"""
    upload = st.session_state.get(key)
    if upload is None:
        drop_upload(kind)
    else:
        store_upload(kind, upload.name, upload.getvalue())


# ---- share links ---------------------------------------------------------------------------------------------
_OWN_FILE = (".csv", ".zip")  # an uploaded file's name: a link can't carry the file, so it keeps the design's data


def link_training(design: Mapping[str, Any] | None, shown: Mapping[str, Any], defaults: Mapping[str, Any]
                  ) -> dict[str, Any]:
    """The ``meta.training`` a share link carries: the design's own, then every Train tab setting in ``shown``
    that differs from ``defaults`` or from the design, and always the seed (Playground keeps its seed in the URL
    so a link reproduces the run). The data only when it is built in (drawn points included)."""
    out = dict(design or {})
    own_file = str(shown.get("dataset", "")).lower().endswith(_OWN_FILE)
    for name, value in shown.items():
        if name not in defaults or (own_file and name in ("dataset", "dataset_options", "target")):
            continue
        if name == "seed" or value != defaults[name] or name in out:
            out[name] = value
    return out
