"""`layerlab lr-find`: the learning-rate range test (training.lr_find) for a design and its data, from the
terminal. Nothing is recorded: the run history and the design are left as they were."""

from __future__ import annotations

import argparse
import json
import sys

from cli.main import EXIT_INVALID, EXIT_OK, CliError, read_design
from cli.train_cmd import _config, _load_data, _refuse_oversized, add_setting_flags


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lr-find", help="suggest a learning rate: the range test (one pass with an exponentially "
                                       "growing learning rate; the steepest descent of the smoothed loss)")
    p.add_argument("design", help="a project file or a template name")
    add_setting_flags(p)
    p.add_argument("--json", action="store_true", help="print one JSON object: the suggestion and the curve")
    p.set_defaults(func=cmd_lr_find)


def cmd_lr_find(args: argparse.Namespace) -> int:
    from training.lr_find import find_lr
    from training.tasks import FitError

    graph = read_design(args.design)
    _refuse_oversized(args.design, graph)
    config = _config(args, graph, args.design)
    dataset = _load_data(args.design, graph, config)
    try:
        finding = find_lr(graph, dataset, config)
    except FitError as err:
        raise CliError([f"{args.design}: {p.message}" for p in err.problems], EXIT_INVALID) from None
    for note in finding.notes:
        print(note, file=sys.stderr)
    if args.json:
        print(json.dumps({"design": graph.name, "dataset": dataset.name, "optimizer": config.optimizer,
                          "batch_size": config.batch_size, **finding.to_dict()}))
    else:
        print(f"{graph.name} on {dataset.name} with {config.optimizer}, batch size {config.batch_size}: "
              f"{len(finding.lrs)} steps, {finding.ended} ({finding.seconds:.1f} s)")
        for k in range(0, len(finding.lrs), max(1, len(finding.lrs) // 10)):
            print(f"  lr {finding.lrs[k]:<10.3g} smoothed loss {finding.smoothed[k]:.4f}")
        if finding.suggestion is None:
            print("no suggestion: the loss never fell; check the data and the design, or try another optimizer")
        else:
            print(f"suggested learning rate: {finding.suggestion:.3g} (where the smoothed loss falls fastest); "
                  f"train with --lr {finding.suggestion:.3g}")
    return EXIT_OK if finding.suggestion is not None else EXIT_INVALID
