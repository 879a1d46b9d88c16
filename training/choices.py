"""Names the CLI and UI offer as choices, kept free of torch so `layerlab --help` starts instantly."""

DEVICES = ("auto", "cpu", "cuda", "mps")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "radam")
SCHEDULES = ("constant", "step", "exponential", "cosine", "warmup", "onecycle")
