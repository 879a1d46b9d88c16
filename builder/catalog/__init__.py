"""The layer catalog. Importing this package registers every block."""

from builder.catalog import (  # noqa: F401  (registration)
    activation,
    attention,
    conv,
    dense,
    functional,
    merge,
    norms,
    padding,
    resample,
    sequence,
    structure,
    unsupported,
)
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
