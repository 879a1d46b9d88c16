"""Coverage: how many of torch.nn's public layer classes are LayerLab blocks (or import as blocks), and which
are not. Losses, containers, wrappers, lazy variants and base classes are not layers and are left out.

Usage: python bench/bench_coverage.py [--quick]
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from torch import nn  # noqa: E402

from bench.quick_mode import parse_args  # noqa: E402  (the project root is on sys.path: tests load benches as modules too)
from builder.catalog import all_blocks  # noqa: E402
from importer.modules import covered_classes  # noqa: E402

NOT_LAYERS = {"Module", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "Container",
              "DataParallel", "SyncBatchNorm", "RNNBase", "RNNCellBase", "CrossMapLRN2d"}


def layer_classes() -> list[str]:
    names = []
    for name, obj in vars(nn).items():
        if name.startswith("_") or not inspect.isclass(obj) or not issubclass(obj, nn.Module):
            continue
        if name in NOT_LAYERS or name.startswith("Lazy") or issubclass(obj, nn.modules.loss._Loss):
            continue
        names.append(name)
    return sorted(set(names))


def main() -> None:
    # A count, not a timing: quick mode runs the same (it is already a fraction of a second).
    args = parse_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]), {})
    blocks = {b.torch_class.rsplit(".", 1)[-1] for b in all_blocks() if b.torch_class}
    covered = blocks | covered_classes()
    layers = layer_classes()
    missing = [n for n in layers if n not in covered]
    print(json.dumps({"quick": args.quick, "torch_nn_layer_classes": len(layers), "blocks": len(layers) - len(missing),
                      "coverage": round((len(layers) - len(missing)) / len(layers), 3),
                      "catalog_blocks": len(all_blocks()), "not_blocks": missing}, indent=2))


if __name__ == "__main__":
    main()
