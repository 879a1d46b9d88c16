"""The fixed parts of a generated training script, each with the notebook's explanation.

Plain text written here, not templates of user text: the only substitutions (``$name``) are values that
``export.script`` has validated and rendered with ``literal()``, identifiers from ``codegen.naming``, or
names of LayerLab's own functions. Everything else the script runs (data preparation, loss, metrics,
optimizer, schedule, step, evaluation) is LayerLab's own code, carried by ``export.script_data.carry``.
"""

from __future__ import annotations

IMPORTS = (
    "import argparse",
    "import json",
    "import math",
    "import os",
    "import time",
    "from collections.abc import Callable",
    "from types import SimpleNamespace",
    "import torch",
    "import torch.distributed as dist",
    "from torch.nn.parallel import DistributedDataParallel",
)

LOAD_BUILTIN = '''
def load_data(args: argparse.Namespace) -> SimpleNamespace:
    """The train / validation / test splits as tensors, prepared exactly as LayerLab prepares them."""
    fractions = (args.val_fraction, args.test_fraction)
$prepared
    train, val, test = make_splits(inputs, target, indices)
    return SimpleNamespace(train=train, val=val, test=test, extras=info)
'''

LOAD_CSV = '''
def load_data(args: argparse.Namespace) -> SimpleNamespace:
    """Your CSV file's splits as tensors: the same cleaning, encoding, scaling and split as in LayerLab."""
    fractions = (args.val_fraction, args.test_fraction)
$prepared
    for note in info["notes"]:
        print(f"{label}: {note}", flush=True)
    train, val, test = make_splits(inputs, target, indices)
    return SimpleNamespace(train=train, val=val, test=test, extras=info)
'''

LOAD_ZIP = LOAD_CSV.replace("Your CSV file's splits as tensors: the same cleaning, encoding, scaling and split",
                            "Your zip of image folders as tensors: the same decoding, resizing, class order and split")

# The preparation each kind of data set calls ($prepared above): export.script puts it in a try block that
# ends the script with the message of a DatasetError where the carried preparation can raise one.
PREPARE = {
    "builtin": '''
inputs, target, indices, info = $prepare(seed=args.seed, fractions=fractions, **DATA_ARGS)
''',
    "csv": '''
raw, label = read_source(args.csv, CsvLimits().max_bytes, "CSV file")
inputs, target, indices, info = prepare_csv(raw, label, args.target, seed=args.seed, fractions=fractions,
                                            **DATA_ARGS)
''',
    "zip": '''
raw, label = read_source(args.zip, ZipLimits().max_bytes, "zip file")
inputs, target, indices, info = prepare_image_zip(raw, label, seed=args.seed, fractions=fractions, **DATA_ARGS)
''',
}

PROCESSES = '''
def setup(device_name: str) -> tuple[int, int, torch.device]:
    """Rank, number of processes and device. Under torchrun (WORLD_SIZE > 1) this joins the process group:
    NCCL between GPUs, gloo on CPU. A plain `python` run is one process of rank 0."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if device_name == "auto":
        mps = torch.backends.mps.is_available() and world == 1  # gloo can't reduce MPS tensors
        device_name = "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    if device_name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda: PyTorch sees no CUDA GPU here; use --device cpu")
    device = torch.device(device_name)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def local_share(inputs: tuple[torch.Tensor, ...], target: torch.Tensor, rank: int,
                world: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor, float]:
    """This process's share of a global batch and the weight of its gradient (its share of the samples,
    times the number of processes that DistributedDataParallel averages over)."""
    share = target.tensor_split(world)[rank]
    if len(share) == 0:  # a last batch smaller than the number of processes: take part, weigh nothing
        return tuple(t[:1] for t in inputs), target[:1], 0.0
    return tuple(t.tensor_split(world)[rank] for t in inputs), share, len(share) * world / len(target)
'''

TRAINING = '''
class Halt(Exception):
    """Ends the epochs early; ``status`` says how the run ends (as in LayerLab: finished, stopped, failed)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def train_epoch(run: SimpleNamespace, epoch: int) -> float:
    """One pass over the training data in LayerLab's order; returns the mean loss over every sample.

    Under torchrun each global batch of --batch-size samples is cut into one share per process."""
    args = run.args
    run.model.train()$keep_frozen_norms
    total, count = 0.0, 0
    for inputs, target in run.train_data.epoch(run.generator):
        weight = 1.0
        if run.world > 1:
            inputs, target, weight = local_share(inputs, target, run.rank, run.world)
        loss = train_step(run.net, run.criterion, inputs, target, run.optimizer, run.schedule, run.scaler,
                          args.grad_clip, run.amp, run.device, weight)
        if not math.isfinite(loss):
            if not all(torch.isfinite(p).all() for p in run.model.parameters()):
                run.model.load_state_dict(run.good)  # the last epoch's weights when these broke
            raise Halt("failed", f"the training loss became {loss} at epoch {epoch}: the last good weights were "
                                 f"kept. Try a lower learning rate (now {args.lr:g}), gradient clipping or "
                                 "normalised inputs")
        n = len(target) if weight else 0
        total, count = total + loss * n, count + n
        if run.world == 1 and args.max_seconds and time.perf_counter() - run.started >= args.max_seconds:
            raise Halt("stopped", f"time limit of {args.max_seconds:g} s reached at epoch {epoch}")
    if run.world > 1:
        sums = torch.tensor([total, count], dtype=torch.float64, device=run.device)
        dist.all_reduce(sums)
        total, count = sums.tolist()
    return total / max(1, count)


def end_epoch(run: SimpleNamespace, epoch: int, train_loss: float) -> dict:
    """Validation loss and metrics (every process evaluates the same weights, so all decide alike)."""
    accumulator = make_accumulator(run.plan.task, run.plan.num_classes, run.plan.pad_id, run.device)
    val_loss, metrics = evaluate(run.model, run.criterion, run.plan, run.val_data, accumulator, run.device, run.amp)
    row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
           "lr": float(run.optimizer.param_groups[0]["lr"]), **$val_metrics}
    run.good = snapshot(run.model)
    report(run, row)
    if run.stopper.should_stop(epoch, val_loss, run.good):
        run.model.load_state_dict(run.stopper.best_state)
        raise Halt("finished", f"early stopping at epoch {epoch}: no better validation loss for "
                               f"{run.args.patience} epochs; restored epoch {run.stopper.best_epoch}")
    if run.world > 1 and run.args.max_seconds:  # rank 0's clock decides for everyone
        over = torch.tensor([float(time.perf_counter() - run.started >= run.args.max_seconds)], device=run.device)
        dist.broadcast(over, 0)
        if over.item():
            raise Halt("stopped", f"time limit of {run.args.max_seconds:g} s reached at epoch {epoch}")
    return row


def report(run: SimpleNamespace, row: dict) -> None:
    if run.rank != 0:
        return
    if run.args.log_json:
        print(json.dumps(row), flush=True)
        return
    parts = [f"epoch {row['epoch']}/{run.args.epochs}", f"train_loss {row['train_loss']:.4f}"]
    parts += [f"{'' if k == 'val_loss' else 'val_'}{k} {v:.4f}" for k, v in row.items()
              if k not in ("epoch", "train_loss", "lr") and isinstance(v, float)]
    print("  ".join(parts), flush=True)
'''

# What TRAINING and MAIN say where the run reaches code that not every run does (export.script._reached):
# batch norms of frozen parts kept in eval mode (a design that freezes something), errors rescaled to the
# target's units (regression, whose targets are standardized); and how MAIN builds the task plan ($task_plan).
KEEP_FROZEN_NORMS = "\n    keep_frozen_norms(run.model, args.frozen_norm)"
IN_UNITS = {"val_metrics": "in_units(metrics, run.data.extras)", "test_metrics": "in_units(metrics, data.extras)"}

MAIN = '''
def main(argv: list[str] | None = None) -> dict:
    """Train as LayerLab did: same data, same initial weights, same batches, same steps."""
    args = parse_args(argv)
    rank, world, device = setup(args.device)
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} is the global batch, shared by the {world} processes: "
                         f"use a multiple of {world}")
    if device.type == "cpu":  # float sums depend on the thread count: choose it as LayerLab does
        torch.set_num_threads(cpu_threads(args.threads, MACS * args.batch_size * 3))
    data = load_data(args)
    $task_plan
    amp = amp_dtype(device, args.amp)
    torch.manual_seed(args.seed)  # the initial weights, then dropout: one stream, as in LayerLab
    model = $model_class().to(device)
    net = model if world == 1 else DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                           else None)
    train_data = Batches(*batch_tensors(data.train, plan), device, args.batch_size)
    val_data, test_data = (Batches(*batch_tensors(split, plan), device, max(EVAL_BATCH, args.batch_size))
                           for split in (data.val, data.test))
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr, args.weight_decay, args.momentum,
                               (args.beta1, args.beta2), args.eps)
    schedule = make_schedule(args.schedule, optimizer, len(train_data) * args.epochs, args.gamma, args.warmup)
    run = SimpleNamespace(
        args=args, rank=rank, world=world, device=device, data=data, plan=plan, amp=amp, model=model, net=net,
        train_data=train_data, val_data=val_data, optimizer=optimizer, schedule=schedule,
        scaler=torch.amp.GradScaler("cuda", enabled=amp == torch.float16), criterion=plan.criterion(),
        generator=torch.Generator().manual_seed(args.seed), stopper=EarlyStopping(args.patience),
        good=snapshot(model), started=time.perf_counter())
    if rank == 0 and not args.log_json:
        print(f"$model_class on {DATASET} ({plan.task}): {len(data.train)} training samples, "
              f"{world} process(es) on {device}", flush=True)
    history, status, message = [], "finished", f"trained {args.epochs} epochs"
    try:
        for epoch in range(1, args.epochs + 1):
            history.append(end_epoch(run, epoch, train_epoch(run, epoch)))
        if run.stopper.best_state is not None:  # early stopping on: keep the best epoch's weights
            model.load_state_dict(run.stopper.best_state)
    except Halt as halt:
        status, message = halt.status, halt.message
    accumulator = make_accumulator(plan.task, plan.num_classes, plan.pad_id, device)
    loss, metrics = evaluate(model, run.criterion, plan, test_data, accumulator, device, amp)
    test = {"loss": loss, **$test_metrics} if loss is not None else {}
    finish(run, status, message, test)
    return {"status": status, "message": message, "history": history, "test": test, "model": model}


def finish(run: SimpleNamespace, status: str, message: str, test: dict) -> None:
    """Rank 0 reports the test metrics and saves the weights; every process leaves the group together."""
    if run.rank == 0:
        if run.args.log_json:
            print(json.dumps({"status": status, "message": message, "test": test}), flush=True)
        else:
            scores = ", ".join(f"{k} {v:.4f}" for k, v in test.items() if isinstance(v, float))
            print(f"{status}: {message}; test {scores}", flush=True)
        if run.args.out:
            torch.save(run.model.state_dict(), run.args.out)  # load with torch.load(path, weights_only=True)
            if not run.args.log_json:
                print(f"saved the weights to {run.args.out}", flush=True)
    if run.world > 1:
        dist.barrier()  # leave together: a rank tearing gloo down while rank 0 still saves can abort
        dist.destroy_process_group()
'''

SCRIPT_FOOTER = '''

if __name__ == "__main__":
    main()
'''

NOTEBOOK_RUN = """\
# The same flags as on the command line, e.g. main(["--epochs", "5", "--lr", "0.01"]).
result = main([])
"""

NOTEBOOK_RUN_CSV = """\
# Your table; the other flags as on the command line.
result = main(["--csv", CSV_FILE])
"""

NOTEBOOK_RUN_ZIP = """\
# Your zip of image folders (one folder per class); the other flags as on the command line.
result = main(["--zip", ZIP_FILE])
"""

EXPLAIN = {
    "imports": "Only PyTorch and the Python standard library, plus NumPy, pandas or scikit-learn where the "
               "data needs them.",
    "settings": "## The settings\nThe run's training settings as they were in LayerLab. Every one is also a "
                "command-line flag (`python train.py --help`); in this notebook, pass flags to `main([...])`.",
    "model": "## The model\nExactly the design drawn in LayerLab: the layers are declared in `__init__` and "
             "`forward` runs them in order, with the shape of the tensor after each line as a comment "
             "(`N` is the batch size).",
    "data": "## The data\nLayerLab's own preparation code for this data set, copied as it is: the same samples, "
            "the same cleaning and scaling, and the same seeded split into training, validation and test data.",
    "learning": "## Loss, metrics, optimizer and schedule\nLayerLab's own code: the loss follows the task and the "
                "model's last layer, the metrics are accumulated batch by batch, and the learning-rate schedule "
                "is stepped after every optimizer step.",
    "processes": "## One process or many\nRun as `python train.py` this is a single process. Under "
                 "`torchrun --nproc_per_node=N train.py` every process draws the same shuffled order, takes its "
                 "share of each global batch of `--batch-size` samples, and `DistributedDataParallel` averages "
                 "the gradients: the same steps as one process, up to float rounding.",
    "training": "## The training loop\nForward, loss, backward, clipping, optimizer and schedule step; after each "
                "epoch the validation loss and metrics, and early stopping when its patience is set.",
    "main": "## Putting it together\n`main` reads the flags, seeds the run, builds the model, trains it, reports "
            "each epoch and the test metrics, and saves the weights (rank 0 only).",
    "run": "## Run it\nIn a notebook this runs as a single process.",
}
