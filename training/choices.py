"""Names the CLI and UI offer as choices, kept free of torch so `layerlab --help` starts instantly."""

DEVICES = ("auto", "cpu", "cuda", "mps")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "radam")
# "warmup" was a schedule before warm-up became its own setting: training.config reads it as cosine + warm-up.
SCHEDULES = ("constant", "step", "exponential", "cosine", "onecycle")
LOSSES = ("auto", "mse", "mae", "huber", "bce", "cross_entropy", "token")
AMP_MODES = ("off", "auto", "bf16", "fp16")
TASKS = ("classification", "binary", "regression", "sequence", "reconstruction", "vae")
CLASS_WEIGHTS = ("none", "balanced")
FROZEN_NORM_MODES = ("eval", "train")  # batch norm in frozen parts of a design
