"""Where `layerlab train` starts from: --resume RUN (a run's last checkpoint, with its own design and
settings), --from-run RUN or --from-weights FILE (a new run from those weights). Checked by
training.continuation, the same as the app's history."""

from __future__ import annotations

import argparse
from typing import Any

from cli.main import EXIT_INVALID, EXIT_UNREADABLE, CliError, read_design
from training.settings import cli_settings


def open_store(path: str | None) -> Any:
    from cli.train_cmd import _open_store

    return _open_store(path)


def resumed(args: argparse.Namespace, store: Any) -> tuple[Any, Any, str, None, str]:
    """(graph, config, run id, None, name) of the run --resume continues; it keeps its own settings."""
    from training.continuation import resume_inputs
    from training.runstore import RunStoreError

    given = [s.flag for s in cli_settings() if getattr(args, s.name) not in (None, [])]
    if args.design or given:
        extra = ", ".join(([args.design] if args.design else []) + given)
        raise CliError([f"--resume continues run {args.resume} with its own design and settings: leave out {extra}"],
                       EXIT_UNREADABLE)
    try:
        record, graph, config = resume_inputs(store, args.resume)
    except RunStoreError as err:
        raise CliError([str(err)], EXIT_UNREADABLE) from None
    return graph, config, record.id, None, f"run {record.number}"


def design_and_weights(args: argparse.Namespace) -> tuple[Any, Any, str]:
    """(graph, StartFrom or None, name): the design, and the weights file --from-weights starts it from.
    Without a design, --from-run trains the run's own design."""
    from builder.project import ProjectError, load_project
    from training.continuation import from_file
    from training.runstore import RunStoreError

    if args.from_run and not args.design:
        record = _find_run(open_store(args.db), args.from_run)
        try:
            return load_project(record.graph), None, f"run {record.number}'s design"
        except ProjectError as err:
            raise CliError([f"run {record.number}: its design can't be read: {'; '.join(err.problems)}"],
                           EXIT_INVALID) from None
    if not args.design:
        raise CliError(["name a design (a project file or a template), or --resume RUN to continue a run"],
                       EXIT_UNREADABLE)
    graph = read_design(args.design)
    try:
        return graph, from_file(args.from_weights) if args.from_weights else None, args.design
    except RunStoreError as err:
        raise CliError([str(err)], EXIT_UNREADABLE) from None


def weights_of_run(args: argparse.Namespace, store: Any) -> Any:
    """--from-run's weights (None without it)."""
    from training.continuation import from_run
    from training.runstore import RunStoreError

    if not args.from_run:
        return None
    try:
        return from_run(store, args.from_run)[1]
    except RunStoreError as err:
        raise CliError([str(err)], EXIT_UNREADABLE) from None


def _find_run(store: Any, ref: str) -> Any:
    from training.runstore import RunStoreError

    try:
        return store.find_run(ref)
    except RunStoreError as err:
        raise CliError([str(err)], EXIT_UNREADABLE) from None
