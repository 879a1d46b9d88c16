"""One entry point for every traced call: layers (call_module) and functions / Tensor methods."""

from __future__ import annotations

from typing import Any

from torch import fx

from importer.functions import call_function
from importer.layers import call_module
from importer.translate import Context


def dispatch(ctx: Context, node: fx.Node, args: tuple, kwargs: dict) -> Any:
    if node.op == "call_module":
        return call_module(ctx, node, args, kwargs)
    return call_function(ctx, node, args, kwargs)
