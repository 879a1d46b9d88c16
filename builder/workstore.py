"""Work that survives a reload, a closed tab and a server restart: one row per browser in an SQLite file.

A browser is known by a random token (``new_token``: 256 bits, so no student can guess another's); the database
keeps only its SHA-256, so a copy of the file doesn't let anyone open someone's work. A row holds JSON, never
pickles: the undo history as project files (read back with ``builder.project.load_project``, which checks every
field), plus plain values the app chooses (``extra``: the Train tab's settings, the open block, ...).

Pure Python (sqlite3, json): no Streamlit, no torch. ``ui.project.saved_work`` is the app's side. docs/saving.md says why
it is built this way.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.graph import Graph
from builder.project import ProjectError, load_project
from builder.project_write import dump_project

WORK_VERSION = 1
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
_SCHEMA = "CREATE TABLE IF NOT EXISTS work (key TEXT PRIMARY KEY, updated REAL NOT NULL, body TEXT NOT NULL)"


class WorkStoreError(Exception):
    """Saved work that can't be read or written; the message is for the user."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def valid_token(text: Any) -> bool:
    return isinstance(text, str) and _TOKEN.fullmatch(text) is not None


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class SavedWork:
    """A browser's work: the undo history (``states``, oldest first; ``index`` the one on screen) and the rest."""

    states: list[Graph]
    index: int
    extra: dict[str, Any] = field(default_factory=dict)
    dropped: int = 0  # undo steps left out to stay under the size limit (oldest first)


# ---- the row's text -------------------------------------------------------------------------------------------
DumpCache = dict[int, tuple[Graph, dict[str, Any]]]  # id(graph) -> (the graph, its project dict)


def encode_work(work: SavedWork, max_bytes: int, dumped: DumpCache | None = None) -> str:
    """The row's JSON. Undo steps are dropped oldest first (and redo steps last first) until it fits in
    ``max_bytes``; ``work.dropped`` says how many. ``dumped``: project dicts of graphs written before (graphs
    are immutable, so a save after one edit dumps one graph). WorkStoreError when the current design alone is too
    big."""
    dumped = {} if dumped is None else dumped
    projects = [_dumped(g, dumped) for g in work.states]
    first, last = 0, len(projects)
    while True:
        text = json.dumps({"version": WORK_VERSION, "states": projects[first:last], "index": work.index - first,
                           "extra": work.extra}, separators=(",", ":"), default=_refuse)
        if len(text.encode()) <= max_bytes:
            work.dropped = first + len(projects) - last
            return text
        if first < work.index:
            first += 1
        elif last > work.index + 1:
            last -= 1
        else:
            raise WorkStoreError(f"this design is too big to keep between visits ({len(text.encode()):,} bytes; "
                                 f"the limit is {max_bytes:,}, setting max_file_bytes): save it as a project file")


def _dumped(graph: Graph, cache: DumpCache) -> dict[str, Any]:
    held = cache.get(id(graph))
    if held is None or held[0] is not graph:  # the graph holds its id while cached: never another's dict
        held = cache[id(graph)] = (graph, dump_project(graph))
    return held[1]


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} can't be kept between visits")


def decode_work(text: str) -> SavedWork:
    """The work in a row; WorkStoreError with one sentence when it is damaged or from an unknown version."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise WorkStoreError(f"the saved work is damaged ({err})") from None
    if not isinstance(data, dict) or data.get("version") != WORK_VERSION:
        raise WorkStoreError("the saved work is damaged or from another version of LayerLab")
    states, index, extra = data.get("states"), data.get("index"), data.get("extra", {})
    if not isinstance(states, list) or not states or not isinstance(index, int) or not 0 <= index < len(states) \
            or not isinstance(extra, dict):
        raise WorkStoreError("the saved work is damaged (its undo history is incomplete)")
    try:
        graphs = [load_project(p) for p in states]
    except ProjectError as err:
        raise WorkStoreError(f"the saved design can't be read: {'; '.join(err.problems[:3])}") from None
    return SavedWork(graphs, index, extra)


# ---- the database ---------------------------------------------------------------------------------------------
class WorkStore:
    """``work.sqlite`` beside the run history. One connection per thread; WAL, like ``training.runstore``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn().execute("PRAGMA journal_mode=WAL")
            with self._conn() as conn:
                conn.execute(_SCHEMA)
        except (OSError, sqlite3.DatabaseError) as err:
            raise WorkStoreError(f"work can't be kept between visits: {self.path} can't be used ({err})") from None

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10.0)
            self._local.conn = conn
        return conn

    def save_text(self, token: str, body: str) -> None:
        self._run("INSERT INTO work (key, updated, body) VALUES (?,?,?) ON CONFLICT(key) DO UPDATE SET "
                  "updated=excluded.updated, body=excluded.body", (_key(token), time.time(), body))

    def load_text(self, token: str) -> str | None:
        rows = self._run("SELECT body FROM work WHERE key=?", (_key(token),))
        return rows[0][0] if rows else None

    def save(self, token: str, work: SavedWork, max_bytes: int, dumped: DumpCache | None = None) -> None:
        self.save_text(token, encode_work(work, max_bytes, dumped))

    def load(self, token: str) -> SavedWork | None:
        """The token's work, None when it has none; WorkStoreError when its row is damaged."""
        text = self.load_text(token)
        return None if text is None else decode_work(text)

    def forget(self, token: str) -> None:
        self._run("DELETE FROM work WHERE key=?", (_key(token),))

    def _run(self, sql: str, params: tuple) -> list[tuple]:
        try:
            with self._conn() as conn:
                return conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as err:
            raise WorkStoreError(f"work can't be kept between visits: {self.path} can't be used ({err})") from None
