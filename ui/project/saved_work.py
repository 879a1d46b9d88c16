"""The app's side of work kept between visits (``builder.workstore``; docs/saving.md says why it works so).

A browser is known by a random token in the cookie ``layerlab_work``: Streamlit hands the page's cookies to the
session (``st.context.cookies``), and a tiny script sets the cookie when the browser has none yet. The session
restores that token's work on its first run (``restore``; a share link opened for the first time comes on top) and writes it back whenever it changed (``save``,
twice per workspace run: after the edit that started the run, and after the Train tab recorded its widgets).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import streamlit as st

from builder.history import History
from builder.settings import data_dir, settings
from builder.workstore import SavedWork, WorkStore, WorkStoreError, new_token, valid_token
from ui.common import state
from ui.common.block_view import Step
from ui.gallery.gallery import VIEW_KEY
from ui.train.train_state import FORM, LOST, kept_values, restore_kept, upload_names

COOKIE = "layerlab_work"
COOKIE_DAYS = 365
SAVED_STEPS = 50  # undo steps kept between visits (the session itself keeps builder.history's 200)
_TOKEN = "ll_work_token"
_MARK = "ll_work_mark"  # what the last save wrote (identities and plain values): skip saves that change nothing
_DUMPED = "ll_work_dumped"  # builder.workstore.DumpCache of this session's graphs
_PROBLEM = "ll_work_problem"  # the last save problem shown, so it is said once, not on every run


@cache
def _store(path: Path) -> WorkStore:
    """One handle per database file (it holds only connections; every user's work is in the file)."""
    return WorkStore(path)


def store() -> WorkStore:
    return _store(data_dir() / "work.sqlite")


def _cookie() -> str | None:
    try:
        return st.context.cookies.get(COOKIE)
    except Exception:  # no browser behind this session (AppTest, a bare script run): no cookie
        return None


def token() -> str:
    """This browser's token: the cookie's, or a new one (set in the browser by ``remember_browser``)."""
    held = st.session_state.get(_TOKEN)
    if held is None:
        cookie = _cookie()
        held = st.session_state[_TOKEN] = cookie if valid_token(cookie) else new_token()
    return held


def remember_browser() -> None:
    """On a full run: give the browser its cookie when it came without one (a first visit, a cleared cookie)."""
    if _cookie() == token():
        return
    secure = ' + (location.protocol === "https:" ? "; Secure" : "")'
    st.html(f'<script>document.cookie = "{COOKIE}={token()}; path=/; max-age={COOKIE_DAYS * 86400}; '
            f'SameSite=Strict"{secure};</script>', unsafe_allow_javascript=True, width="content")


# ---- coming back ----------------------------------------------------------------------------------------------
def restore() -> tuple[History | None, str | None]:
    """On a session's first run: (the undo history, the tab) this browser left, and its Train settings and open
    block put back; (None, None) on a first visit. Damaged work is named in a message, never a traceback."""
    try:
        work = store().load(token())
    except WorkStoreError as err:
        state.flash("error", f"Your earlier work could not be brought back: {err}. This is a blank design; "
                             "your next change replaces what was saved.")
        return None, None
    if work is None:
        return None, None
    _put_back(work.extra)
    history, view = History.restored(work.states, work.index), work.extra.get("view")
    if _link() and work.extra.get("link") != _link():  # a share link opened here for the first time: it wins,
        history.push(state.initial_graph())  # and undo goes back to this browser's own design
        st.session_state[state.SELECTED], view = None, None
    return history, view if isinstance(view, str) else None


def _link() -> str | None:
    """A digest of the share link in the address: a reload of the same link keeps the edits made since."""
    text = st.query_params.get(state.SHARE_PARAM)
    return hashlib.sha256(text.encode()).hexdigest()[:16] if text else None


def _put_back(extra: dict[str, Any]) -> None:
    """The open block, the selection and the Train tab's values, each only when it has the expected shape."""
    steps = extra.get("open")
    if isinstance(steps, list) and all(_is_step(s) for s in steps):
        st.session_state[state.OPEN] = tuple(Step(*s) for s in steps)
    if isinstance(extra.get("selected"), str):
        st.session_state[state.SELECTED] = extra["selected"]
    if isinstance(extra.get("train"), dict):
        restore_kept(extra["train"])
    form = extra.get("form")
    if isinstance(form, list) and len(form) == 3 and isinstance(form[1], dict) and isinstance(form[2], list):
        st.session_state[FORM] = (form[0], form[1], form[2])  # the design it belongs to, so it isn't reset
    uploads = extra.get("uploads")
    if isinstance(uploads, dict):
        st.session_state[LOST] = {k: v for k, v in uploads.items() if isinstance(v, str)}


def _is_step(item: Any) -> bool:
    return (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str) and isinstance(item[1], str)
            and isinstance(item[2], int))


# ---- saving ---------------------------------------------------------------------------------------------------
def save() -> None:
    """Write this browser's work when it changed since the last save; a problem is said once."""
    states, index = state.history().snapshot()
    first = max(0, index - SAVED_STEPS)
    states, index = states[first:index + SAVED_STEPS + 1], index - first
    cache_: dict = st.session_state.setdefault(_DUMPED, {})
    try:
        extra = _extra()
        mark = (tuple(map(id, states)), index, json.dumps(extra, sort_keys=True))
        if st.session_state.get(_MARK) == mark:
            return
        store().save(token(), SavedWork(states, index, extra), settings().max_file_bytes, cache_)
    except (WorkStoreError, TypeError, ValueError) as err:  # a value JSON can't hold: a bug, said, not raised
        if st.session_state.get(_PROBLEM) != str(err):
            st.session_state[_PROBLEM] = str(err)
            state.flash("warning", f"Your work is not kept for your next visit: {err}.")
        return
    st.session_state[_DUMPED] = {id(g): cache_[id(g)] for g in states}  # only graphs still in the history
    st.session_state[_MARK] = mark
    st.session_state.pop(_PROBLEM, None)


def _extra() -> dict[str, Any]:
    form = st.session_state.get(FORM)
    return {
        "open": [[s.instance, s.definition, s.copy] for s in state.open_steps()],
        "selected": state.selected(),
        "view": st.session_state.get(VIEW_KEY),
        "train": _plain(kept_values()),
        "form": [form[0], _plain(form[1]), list(form[2])] if form else None,
        "uploads": upload_names(),
        "link": _link(),
    }


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """The entries JSON gives back unchanged (numbers, text, lists): a tuple or an object is left out."""
    out = {}
    for key, value in values.items():
        try:
            back = json.loads(json.dumps(value))
        except (TypeError, ValueError):
            continue
        if back == value and type(back) is type(value):
            out[str(key)] = value
    return out
