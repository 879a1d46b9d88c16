"""The layer catalog. Importing this package registers every block."""

from builder.catalog import activation, attention, conv, merge, sequence, structure  # noqa: F401  (registration)
from builder.catalog.registry import (
    BlockError,
    BlockSpec,
    Call,
    Category,
    Emission,
    Example,
    Fix,
    Port,
    TensorSpec,
    all_blocks,
    get_block,
    has_block,
)

__all__ = [
    "BlockError",
    "BlockSpec",
    "Call",
    "Category",
    "Emission",
    "Example",
    "Fix",
    "Port",
    "TensorSpec",
    "all_blocks",
    "get_block",
    "has_block",
]
