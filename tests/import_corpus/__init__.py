"""Models written by hand for the import tests: each a plain nn.Module as people write them, with the example
input it takes. ``MODELS`` maps a name to (constructor, sample shapes, dtypes)."""
