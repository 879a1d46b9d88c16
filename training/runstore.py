"""Run history in an embedded SQLite database (WAL), with the weights of each run in a safetensors file.

The database lives in the user's data directory (``LAYERLAB_DATA_DIR``, else the platform data dir), or at a
path given by the caller. One connection per thread (SQLite connections must not be shared across threads
without care); WAL lets the app read while a worker writes. Runs left "running" by a process that died are
marked "interrupted" when the store is opened.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from builder.settings import default_data_dir
from training.metrics import headline
from training.run_table import format_value

STATUSES = ("running", "finished", "stopped", "failed", "interrupted")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, created REAL NOT NULL, name TEXT NOT NULL, graph TEXT NOT NULL, config TEXT NOT NULL,
    dataset TEXT NOT NULL, device TEXT NOT NULL, status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '',
    metrics TEXT NOT NULL DEFAULT '{}', weights TEXT, pid INTEGER, finished REAL, origin TEXT);
CREATE TABLE IF NOT EXISTS epochs (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, epoch INTEGER NOT NULL, metrics TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch));
"""


class RunStoreError(Exception):
    """The run database can't be used (corrupt, unreadable, or a run that doesn't exist)."""


@dataclass(frozen=True)
class RunRecord:
    id: str
    created: float
    name: str
    graph: dict[str, Any]
    config: dict[str, Any]
    dataset: str
    device: str
    status: str
    message: str
    metrics: dict[str, Any]
    weights: str | None
    finished: float | None = None
    epochs: list[dict[str, Any]] = field(default_factory=list)
    number: int = 0  # SQLite's rowid: 1, 2, 3... in the order runs were started; short enough to type
    origin: dict[str, Any] = field(default_factory=dict)  # how it began: {} fresh, or {"from_run": id, ...}

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "number": self.number, "created": self.created, "name": self.name,
                "dataset": self.dataset, "device": self.device, "status": self.status, "message": self.message,
                "metrics": self.metrics}

    def headline(self) -> tuple[str, float] | None:
        """(metric name, value) of the run's test headline, e.g. ('accuracy', 0.981); None when not recorded."""
        test = self.metrics.get("test") if isinstance(self.metrics.get("test"), dict) else {}
        name, value = headline(str(self.metrics.get("task") or ""), test)
        return (name, float(value)) if isinstance(value, (int, float)) else None

    @property
    def weights_label(self) -> str:
        """What a download of this run's weights is: 'trained: run 12, test accuracy 0.981'."""
        return trained_label(f"run {self.number}", self.status, self.headline())


def trained_label(run: str, status: str, score: tuple[str, float] | None) -> str:
    """'trained: run 12, test accuracy 0.981' (``run`` is 'run 12'); a run that did not finish says how it ended."""
    text = f"trained: {run}"
    if status != "finished":
        text += f" ({status})"
    if score is not None:
        name, value = score
        # a fraction: 0.981, not 0.9814; an error in a target's units: 23,456, not 2.346e+04
        shown = f"{value:.3f}" if name.endswith("accuracy") else format_value(float(value))
        text += f", test {name.replace('_', ' ')} {shown}"
    return text


def _alive(pid: int | None) -> bool:
    """Whether the process that started a run still exists (on this machine)."""
    if not pid:
        return False
    if pid == os.getpid() or sys.platform.startswith("win"):
        return True  # on Windows os.kill(pid, 0) would terminate the process: don't probe there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class RunStore:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_data_dir() / "runs.sqlite"
        self.weights_dir = self.path.parent / "weights"
        self.checkpoints_dir = self.path.parent / "checkpoints"  # one folder per run (training.checkpoint)
        self._local = threading.local()
        self._lock = threading.Lock()  # serialises writers from threads of this process
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RunStoreError(f"cannot create the run directory {self.path.parent}: {err.strerror or err}") from None
        self._guard(self._init)

    # -- connections ---------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    def _guard(self, action, *args):
        try:
            return action(*args)
        except sqlite3.DatabaseError as err:
            raise RunStoreError(f"the run history {self.path} can't be used ({err}): move the file away "
                                "(a new one is created) or choose another path") from None

    def _init(self) -> None:
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL stays consistent; only skips an fsync per commit
        with self._lock, conn:
            conn.executescript(_SCHEMA)
            columns = {r["name"] for r in conn.execute("PRAGMA table_info(runs)").fetchall()}
            if "origin" not in columns:  # a history written before runs could start from another's weights
                conn.execute("ALTER TABLE runs ADD COLUMN origin TEXT")
            rows = conn.execute("SELECT id, pid FROM runs WHERE status='running'").fetchall()
            stale = [(r["id"],) for r in rows if not _alive(r["pid"])]
            conn.executemany("UPDATE runs SET status='interrupted', message='the process ended during the run', "
                             "finished=? WHERE id=?", [(time.time(), s) for (s,) in stale])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- writing -------------------------------------------------------------------------------
    def start_run(self, name: str, graph: dict[str, Any], config: dict[str, Any], dataset: str, device: str,
                  origin: dict[str, Any] | None = None) -> str:
        """A new run, "running"; ``origin`` says where its first weights came from (fine-tuning)."""
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        row = (run_id, time.time(), name, json.dumps(graph), json.dumps(config), dataset, device, "running",
               os.getpid(), json.dumps(origin) if origin else None)
        self._write("INSERT INTO runs (id, created, name, graph, config, dataset, device, status, pid, origin) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?)", row)
        return run_id

    def reopen_run(self, run_id: str, history: list[dict[str, Any]]) -> None:
        """A run being resumed: "running" again in this process, its epochs those of the checkpoint it resumes
        from (an epoch recorded after that checkpoint was written is dropped: it will be trained again)."""
        def action() -> None:
            conn = self._conn()
            with self._lock, conn:
                conn.execute("UPDATE runs SET status='running', message='', pid=?, finished=NULL WHERE id=?",
                             (os.getpid(), run_id))
                conn.execute("DELETE FROM epochs WHERE run_id=?", (run_id,))
                conn.executemany("INSERT INTO epochs (run_id, epoch, metrics) VALUES (?,?,?)",
                                 [(run_id, int(row["epoch"]), json.dumps(row)) for row in history])
        self._guard(action)

    def checkpoint_folder(self, run_id: str) -> Path:
        from training.checkpoint import checkpoint_dir

        return checkpoint_dir(self.path.parent, run_id)

    def add_epoch(self, run_id: str, epoch: int, metrics: dict[str, Any]) -> None:
        self._write("INSERT OR REPLACE INTO epochs (run_id, epoch, metrics) VALUES (?,?,?)",
                    (run_id, epoch, json.dumps(metrics)))

    def finish_run(self, run_id: str, status: str, message: str = "", metrics: dict[str, Any] | None = None,
                   state_dict: dict[str, torch.Tensor] | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        weights = self.save_weights(run_id, state_dict) if state_dict is not None else None
        self._write("UPDATE runs SET status=?, message=?, metrics=?, weights=?, finished=? WHERE id=?",
                    (status, message, json.dumps(metrics or {}), weights, time.time(), run_id))

    def save_weights(self, run_id: str, state_dict: dict[str, torch.Tensor]) -> str:
        self.weights_dir.mkdir(parents=True, exist_ok=True)
        path = self.weights_dir / f"{run_id}.safetensors"
        # safetensors refuses shared or non-contiguous storage: give it independent contiguous copies.
        save_file({k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}, str(path))
        return str(path)

    def delete_run(self, run_id: str) -> None:
        record = self.get_run(run_id)
        self._write("DELETE FROM runs WHERE id=?", (run_id,))
        if record.weights:
            Path(record.weights).unlink(missing_ok=True)
        shutil.rmtree(self.checkpoint_folder(run_id), ignore_errors=True)

    def _write(self, sql: str, params: tuple) -> None:
        def action() -> None:
            conn = self._conn()
            with self._lock, conn:
                conn.execute(sql, params)
        self._guard(action)

    # -- reading -------------------------------------------------------------------------------
    def list_runs(self, limit: int | None = None) -> list[RunRecord]:
        sql = "SELECT rowid AS number, * FROM runs ORDER BY created DESC" + (" LIMIT ?" if limit else "")
        rows = self._guard(lambda: self._conn().execute(sql, (limit,) if limit else ()).fetchall())
        return [self._record(row) for row in rows]

    def get_run(self, run_id: str) -> RunRecord:
        row = self._guard(lambda: self._conn().execute("SELECT rowid AS number, * FROM runs WHERE id=?",
                                                       (run_id,)).fetchone())
        if row is None:
            raise RunStoreError(f"no run {run_id!r} in {self.path}")
        epochs = self._guard(lambda: self._conn().execute(
            "SELECT metrics FROM epochs WHERE run_id=? ORDER BY epoch", (run_id,)).fetchall())
        return self._record(row, [json.loads(e["metrics"]) for e in epochs])

    def find_run(self, ref: str | int) -> RunRecord:
        """A run by its number ('12', '#12', 'run 12') or its id; RunStoreError names both ways when neither fits."""
        text = str(ref).strip()
        digits = text.removeprefix("run").strip().removeprefix("#").strip()
        if digits.isdigit():
            row = self._guard(lambda: self._conn().execute("SELECT id FROM runs WHERE rowid=?",
                                                           (int(digits),)).fetchone())
            if row is None:
                raise RunStoreError(f"no run number {int(digits)} in {self.path} (`layerlab runs` lists them)")
            return self.get_run(row["id"])
        try:
            return self.get_run(text)
        except RunStoreError:
            raise RunStoreError(f"no run {text!r} in {self.path}: give a run's number or id "
                                "(`layerlab runs` lists them)") from None

    def load_weights(self, run_id: str, model: torch.nn.Module) -> torch.nn.Module:
        """Load a run's weights into ``model`` (an instance of the run's generated class), strictly."""
        state = self.weights_state(run_id)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise RunStoreError(f"the weights of run {run_id!r} don't fit this model: {err}") from None
        return model

    def weights_state(self, run_id: str) -> dict[str, torch.Tensor]:
        """The run's saved tensors; RunStoreError when there are none, the file is gone or it is damaged."""
        record = self.get_run(run_id)
        if not record.weights:
            raise RunStoreError(f"run {run_id!r} has no saved weights (status: {record.status})")
        path = Path(record.weights)
        if not path.is_file():
            raise RunStoreError(f"the weights file of run {run_id!r} is missing: {path} was deleted or moved")
        try:
            return load_file(str(path))  # safetensors: plain tensors, never a pickle
        except Exception as err:  # noqa: BLE001 - SafetensorError, OSError, ...: all mean "can't be read"
            raise RunStoreError(f"the weights file of run {run_id!r} ({path}) is damaged and can't be read: "
                                f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None

    def trained_weights(self, ref: str | int, graph: Any) -> tuple[RunRecord, dict[str, torch.Tensor]]:
        """Run ``ref``'s record and weights, for exporting ``graph`` (a Graph) with them: RunStoreError when
        the run is unknown, has no readable weights, or trained another model than ``graph`` generates."""
        from builder.project import ProjectError, load_project
        from codegen.fingerprint import design_mismatch

        record = self.find_run(ref)
        state = self.weights_state(record.id)
        try:
            trained = load_project(record.graph)
        except ProjectError as err:
            raise RunStoreError(f"run {record.number}: its design can't be read: {'; '.join(err.problems)}") from None
        problem = design_mismatch(graph, trained, f"run {record.number} ({record.name})")
        if problem:
            raise RunStoreError(problem)
        return record, state

    def compare(self, run_ids: list[str], metric: str = "val_loss") -> dict[str, list[float | None]]:
        """Per-epoch curves of ``metric`` for each run, for a side-by-side chart."""
        return {run_id: [e.get(metric) for e in self.get_run(run_id).epochs] for run_id in run_ids}

    @staticmethod
    def _record(row: sqlite3.Row, epochs: list[dict[str, Any]] | None = None) -> RunRecord:
        return RunRecord(id=row["id"], created=row["created"], name=row["name"], graph=json.loads(row["graph"]),
                         config=json.loads(row["config"]), dataset=row["dataset"], device=row["device"],
                         status=row["status"], message=row["message"],
                         metrics=_final_in_units(json.loads(row["metrics"])), weights=row["weights"],
                         finished=row["finished"], epochs=[_in_units(e) for e in epochs or []],
                         number=int(row["number"]), origin=json.loads(row["origin"] or "{}"))


def _in_units(values: dict[str, Any]) -> dict[str, Any]:
    """Older runs stored standardized mae/rmse beside mae_units/rmse_units; runs now store errors in the
    target's units under mae/rmse (training.loop.in_units). Old rows are read the new way: no arithmetic,
    the figures in units they already hold take the plain names."""
    if "rmse_units" not in values:
        return values
    out = {k: v for k, v in values.items() if k not in ("mae_units", "rmse_units")}
    out.update(rmse=values["rmse_units"], mae=values.get("mae_units", values.get("mae")))
    return out


def _final_in_units(metrics: dict[str, Any]) -> dict[str, Any]:
    """A run's final metrics with ``_in_units`` applied to its test metrics and headline."""
    test = metrics.get("test")
    if not isinstance(test, dict) or "rmse_units" not in test:
        return metrics
    out = {**metrics, "test": _in_units(test)}
    if "test_rmse" in out:
        out["test_rmse"] = out["test"]["rmse"]
    return out
