"""The `layerlab` command: templates, validate, summary, export, train, runs, lr-find, app.

Every user mistake ends in one clear line per problem and an exit code, never a traceback:
0 success, 1 the design (or run) has problems, 2 a file could not be read or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

import codegen  # noqa: F401  (validation's shape oracle for tensor ops; torch itself loads on first use)
from builder.graph import Graph
from builder.project import ProjectError
from builder.settings import SettingsError
from builder.templates import list_templates, load_design

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


class CliError(Exception):
    def __init__(self, lines: list[str], code: int) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.code = code


def read_design(ref: str) -> Graph:
    """Load a template or file, turning every failure into a CliError."""
    try:
        return load_design(ref)
    except ProjectError as err:
        raise CliError([f"{ref}: {p}" for p in err.problems], EXIT_INVALID) from None
    except FileNotFoundError:
        raise CliError([f"{ref}: no such file or template"], EXIT_UNREADABLE) from None
    except (IsADirectoryError, PermissionError, OSError) as err:
        raise CliError([f"{ref}: cannot read the file ({err.strerror or err})"], EXIT_UNREADABLE) from None


def cmd_templates(args: argparse.Namespace) -> int:
    infos = list_templates()
    if args.json:
        print(json.dumps([{"name": t.name, "description": t.description} for t in infos], indent=2))
        return EXIT_OK
    width = max(len(t.name) for t in infos)
    for t in infos:
        first_sentence = t.description.split(". ")[0].rstrip(".")
        print(f"{t.name:<{width}}  {first_sentence}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from builder.validate import validate

    try:
        graph = read_design(args.design)
    except CliError as err:
        if args.json and err.code == EXIT_INVALID:
            print(json.dumps({"valid": False, "issues": [{"node": None, "message": m, "code": "format"}
                                                         for m in err.lines]}, indent=2))
            return EXIT_INVALID
        raise
    result = validate(graph)
    if args.json:
        print(json.dumps({"valid": result.valid, "name": graph.name, "total_params": result.total_params,
                          "issues": [i.to_dict() for i in result.issues]}, indent=2, ensure_ascii=False))
    else:
        for issue in result.issues:
            where = f"‘{issue.node}’" if issue.node else "graph"
            fix = f"  [fix: {issue.fix.label}]" if issue.fix else ""
            print(f"{issue.severity.value}: {where}: {issue.message}{fix}")
        if result.valid:
            print(f"{graph.name}: valid, {len(graph.nodes)} blocks, {result.total_params:,} parameters")
    return EXIT_OK if result.valid else EXIT_INVALID


def cmd_summary(args: argparse.Namespace) -> int:
    from builder.summary import format_summary, summarize
    from builder.validate import validate

    graph = read_design(args.design)
    result = validate(graph)
    depth = None if args.depth is not None and args.depth < 0 else args.depth or 0
    summary = summarize(graph, batch_size=args.batch_size, result=result, depth=depth)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        print(format_summary(summary))
    for issue in result.errors:  # the numbers above are partial: say why
        where = f"‘{issue.node}’" if issue.node else "graph"
        print(f"error: {where}: {issue.message}", file=sys.stderr)
    return EXIT_OK if summary.valid else EXIT_INVALID


def cmd_app(args: argparse.Namespace) -> int:
    """Start Streamlit on app.py. The safety-relevant settings go on the command line, because Streamlit reads
    .streamlit/config.toml only from the folder it starts in. --classroom listens on every interface."""
    import os
    import subprocess
    from pathlib import Path

    from builder.settings import settings
    from cli.sweep_cmd import use_executor_flags

    use_executor_flags(args)  # --executor / --ray-address: the server (execv'd below) inherits the settings
    address = "0.0.0.0" if args.classroom else args.address
    app = Path(__file__).resolve().parent.parent / "app.py"
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", address,
               "--server.port", str(args.port), "--browser.gatherUsageStats", "false",
               "--server.maxUploadSize", str(settings().max_upload_mb), "--server.runOnSave", "false",
               "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal",
               "--runner.postScriptGC", "false"]  # see .streamlit/config.toml: a full GC per rerun blocked the room
    if args.classroom:
        lan = "THIS-MACHINE'S-ADDRESS"  # `hostname -I` shows it; we send nothing on the network to find out
        print(f"Classroom mode: listening on all interfaces, port {args.port}.\n"
              f"Students open  http://{lan}:{args.port}/   (a lesson: http://{lan}:{args.port}/?lesson=cifar_cnn)\n"
              "Anyone who can reach this port can use the app and train on this machine: allow it in the "
              "firewall for the room's network only. See docs/classroom.md.", flush=True)
    if args.print_command:
        print(" ".join(command))
        return EXIT_OK
    sys.stdout.flush()
    # Become the server (same PID): stopping `layerlab app` by its PID stops Streamlit too, no orphan left.
    if hasattr(os, "execv"):
        os.execv(command[0], command)
    return subprocess.call(command)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="layerlab", description="Design, check, export and train neural networks.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("templates", help="list the ready-made designs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_templates)
    p = sub.add_parser("validate", help="check a design: exit 0 when valid, 1 with the issues when not")
    p.add_argument("design", help="a project file or a template name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("summary", help="per-layer shapes, parameters, MACs and memory")
    p.add_argument("design")
    p.add_argument("--batch-size", type=_positive, default=1)
    p.add_argument("--depth", type=int, default=0,
                   help="levels shown inside blocks made of blocks (0: the blocks only; -1: every layer)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("app", help="start the LayerLab app in the browser")
    p.add_argument("--address", default="127.0.0.1", help="listen address (default: this machine only)")
    p.add_argument("--port", type=_positive, default=8501)
    p.add_argument("--classroom", action="store_true",
                   help="serve a room: listen on every interface (0.0.0.0) and print the address students open")
    p.add_argument("--print-command", action="store_true", help="print the streamlit command instead of running it")
    from cli.sweep_cmd import add_executor_flags

    add_executor_flags(p)
    p.set_defaults(func=cmd_app)
    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Commands that live in their own modules (export, train, runs); absent ones are skipped."""
    found = []
    for module_name in ("cli.export_cmd", "cli.train_cmd", "cli.import_cmd", "cli.lr_find_cmd"):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue
        found.append(module.register)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CliError as err:
        for line in err.lines:
            print(line, file=sys.stderr)
        return err.code
    except SettingsError as err:  # LAYERLAB_* variables or layerlab.toml: one line, no traceback
        print(f"layerlab: {err}", file=sys.stderr)
        return EXIT_UNREADABLE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `layerlab summary x --json | head`: the reader left; not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
