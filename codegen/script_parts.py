"""The fixed parts of a generated training script, one per section, each with the notebook's explanation.

These are plain text written here, not templates of user text: the only substitutions (``$name``) are
values that ``codegen.script`` has validated and rendered with ``literal()`` or identifiers from
``codegen.naming``.
"""

from __future__ import annotations

IMPORTS = """\
import argparse
import math
import os
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler
"""

SETTINGS = """\
DATASET = $dataset
TASK = $task  # classification | binary | regression | reconstruction | sequence | auto (from the CSV)
STANDARDIZE = $standardize  # scale each input feature with the training split's mean and std
PAD_ID = 0  # token id ignored by the sequence loss and metric
OUTPUT_SHAPE = $output_shape  # one sample's output, without the batch dimension
# Defaults from the design's training settings; the command-line flags override them.
DEFAULTS = $defaults
METRICS = {"classification": "accuracy", "binary": "accuracy", "sequence": "token accuracy",
           "regression": "RMSE", "reconstruction": "MSE"}
"""

CSV_LOADER = '''
def load_csv(path: str, target: str) -> tuple[tuple[torch.Tensor, ...], torch.Tensor, str]:
    """A CSV file: numeric columns as they are, text columns one-hot encoded; ``target`` is the column to predict.

    The task follows the model: several outputs -> classes; one output -> two classes or a number.
    """
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except Exception as err:  # a missing file, no permission, not CSV, empty: pandas has many error types
        raise SystemExit(f"cannot read {path}: {err}") from None
    if target not in frame.columns:
        raise SystemExit(f"{path} has no column {target!r}; its columns are: {', '.join(map(str, frame.columns))}")
    frame = frame.dropna()
    if frame.empty:
        raise SystemExit(f"{path}: no complete rows (every row has an empty cell)")
    labels = frame.pop(target)
    features = pd.get_dummies(frame, dtype="float32")
    if features.shape[1] == 0:
        raise SystemExit(f"{path}: no feature columns besides {target!r}")
    x = torch.tensor(features.to_numpy(dtype="float32"))
    codes, classes = pd.factorize(labels, sort=True)
    if OUTPUT_SHAPE[-1] > 1:
        if len(classes) > OUTPUT_SHAPE[-1]:
            raise SystemExit(f"{target!r} has {len(classes)} classes but the model gives {OUTPUT_SHAPE[-1]} outputs")
        return (x,), torch.tensor(codes, dtype=torch.long), "classification"
    if len(classes) == 2:
        return (x,), torch.tensor(codes, dtype=torch.long), "binary"
    try:
        values = torch.tensor(labels.to_numpy(dtype="float32")).reshape(-1, 1)
    except ValueError:
        raise SystemExit(f"{target!r} is not numeric: one output can predict a number or one of two classes") from None
    return (x,), values, "regression"
'''

DATA_COMMON = '''
def fit_input(x: torch.Tensor, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """Reshape (N, ...) data to the model's input shape (N, *shape)."""
    if x[0].numel() != math.prod(shape):
        raise SystemExit(f"the data has {x[0].numel()} values per sample but the model's input {name!r} "
                         f"expects {math.prod(shape)} (shape {shape})")
    return x.reshape(len(x), *shape)


def split_data(tensors: list[torch.Tensor], seed: int) -> list[tuple[torch.Tensor, ...]]:
    """Shuffle once with a fixed seed, then 70 % train, 15 % validation, 15 % test."""
    order = torch.randperm(len(tensors[0]), generator=torch.Generator().manual_seed(seed))
    a, b = int(len(order) * 0.7), int(len(order) * 0.85)
    return [tuple(t[part] for t in tensors) for part in (order[:a], order[a:b], order[b:])]


def standardize(splits: list[tuple[torch.Tensor, ...]]) -> list[tuple[torch.Tensor, ...]]:
    """Scale float inputs with the training split's statistics, so validation and test stay unseen."""
    train = splits[0]
    scaled = []
    for part in splits:
        inputs = []
        for t, t_train in zip(part[:-1], train[:-1]):
            if t.is_floating_point():
                t = (t - t_train.mean(0)) / t_train.std(0).clamp_min(1e-6)
            inputs.append(t)
        scaled.append((*inputs, part[-1]))
    return scaled


def load_data(args: argparse.Namespace) -> tuple[str, list[tuple[torch.Tensor, ...]]]:
    """The task and the (train, validation, test) splits, each a tuple (model inputs..., target)."""
    $load_inputs
    inputs = tuple(fit_input(x, name, shape) for x, (name, shape) in zip(inputs, INPUT_SHAPES.items()))
    if task == "binary":
        target = target.float().reshape(-1, 1)  # BCEWithLogitsLoss wants float targets shaped like the output
    elif task == "reconstruction":
        target = inputs[0]
    splits = split_data([*inputs, target], args.seed)
    return task, standardize(splits) if scale else splits
'''

LOAD_WITH_CSV = """if args.csv:
        inputs, target, task = load_csv(args.csv, args.target)
        scale = True
    else:
        inputs, target = load_builtin(args.seed)
        task, scale = TASK, STANDARDIZE"""

LOAD_BUILTIN = """inputs, target = load_builtin(args.seed)
    task, scale = TASK, STANDARDIZE"""

TASKS = '''
def make_loss(task: str) -> nn.Module:
    """Cross-entropy for classes (the model outputs raw scores), BCE-with-logits for yes/no, MSE for numbers."""
    if task == "classification":
        return nn.CrossEntropyLoss()
    if task == "binary":
        return nn.BCEWithLogitsLoss()
    if task == "sequence":
        return nn.CrossEntropyLoss(ignore_index=PAD_ID)
    return nn.MSELoss()


def compute_loss(criterion: nn.Module, task: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if task == "sequence":  # one prediction per position: (N, T, vocab) scores against (N, T) token ids
        return criterion(out.flatten(0, 1), target.flatten())
    return criterion(out, target)


@torch.no_grad()
def evaluate(model: nn.Module, part: tuple[torch.Tensor, ...], task: str, device: torch.device) -> float:
    """Accuracy for classes, root mean squared error for numbers, mean squared error for reconstruction."""
    model.eval()
    score, count = 0.0, 0
    for start in range(0, len(part[-1]), 512):
        batch = [t[start:start + 512].to(device) for t in part]
        out, y = model(*batch[:-1]), batch[-1]
        if task == "classification":
            score, count = score + (out.argmax(-1) == y).sum().item(), count + y.numel()
        elif task == "binary":
            score, count = score + ((out > 0).float() == y).sum().item(), count + y.numel()
        elif task == "sequence":
            mask = y != PAD_ID
            score, count = score + ((out.argmax(-1) == y) & mask).sum().item(), count + mask.sum().item()
        else:
            score, count = score + ((out - y) ** 2).sum().item(), count + y.numel()
    model.train()
    value = score / max(count, 1)
    return math.sqrt(value) if task == "regression" else value
'''

PROCESSES = '''
def setup(device_name: str) -> tuple[int, int, torch.device]:
    """Rank, number of processes and device. Under torchrun (WORLD_SIZE > 1) this joins the process group:
    NCCL between GPUs, gloo on CPU. A plain `python` run is one process of rank 0."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if device_name == "auto":
        mps = torch.backends.mps.is_available() and world == 1  # gloo can't reduce MPS tensors
        device_name = "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    if device_name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: PyTorch sees no CUDA GPU here; use --device cpu")
    device = torch.device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device
'''

TRAINING = '''
def make_optimizer(name: str, params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=name == "nesterov")
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr)
    if name == "radam":
        return torch.optim.RAdam(params, lr=lr)
    return torch.optim.Adam(params, lr=lr)


def train_epoch(net: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, criterion: nn.Module,
                task: str, device: torch.device) -> float:
    """One pass over this process's share of the training data; returns the mean loss over all processes."""
    net.train()
    totals = torch.zeros(2, device=device)  # (sum of losses, number of samples)
    for batch in loader:
        batch = [t.to(device, non_blocking=True) for t in batch]
        optimizer.zero_grad(set_to_none=True)
        loss = compute_loss(criterion, task, net(*batch[:-1]), batch[-1])
        loss.backward()  # under DDP this also averages the gradients across processes
        optimizer.step()
        totals[0] += loss.detach() * len(batch[-1])
        totals[1] += len(batch[-1])
    if dist.is_initialized():
        dist.all_reduce(totals)
    return (totals[0] / totals[1]).item()
'''

MAIN = '''
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=$description)
    parser.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="learning rate")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"], help="per process")
    parser.add_argument("--optimizer", default=DEFAULTS["optimizer"],
                        choices=["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "radam"])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--out", default=$out, help="where to save the trained weights ('' to skip)")
    parser.add_argument("--seed", type=int, default=0)$csv_flags
    if args.epochs < 1 or args.batch_size < 1 or args.lr <= 0:
        parser.error("--epochs and --batch-size must be at least 1 and --lr above 0")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rank, world, device = setup(args.device)
    torch.manual_seed(args.seed)  # the same initial weights in every process
    task, (train, val, test) = load_data(args)
    model = $model_class().to(device)
    net = model
    if world > 1:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    data = TensorDataset(*train)
    sampler = DistributedSampler(data, shuffle=True, seed=args.seed) if world > 1 else None
    loader = DataLoader(data, batch_size=args.batch_size, shuffle=sampler is None, sampler=sampler)
    optimizer = make_optimizer(args.optimizer, list(model.parameters()), args.lr)
    criterion = make_loss(task)
    metric = METRICS[task]
    if rank == 0:
        print(f"$model_class on {$data_name} ({task}): {len(train[-1])} training samples, "
              f"{world} process(es) on {device}", flush=True)
    for epoch in range(1, args.epochs + 1):
        if sampler is not None:
            sampler.set_epoch(epoch)  # a new shuffle each epoch, the same one in every process
        start = time.perf_counter()
        loss = train_epoch(net, loader, optimizer, criterion, task, device)
        if rank == 0:  # only rank 0 prints and evaluates; the others go on to the next epoch
            score = evaluate(model, val, task, device)
            print(f"epoch {epoch}/{args.epochs}  loss {loss:.4f}  val {metric} {score:.4f}  "
                  f"{time.perf_counter() - start:.1f}s", flush=True)
    if rank == 0:
        print(f"test {metric}: {evaluate(model, test, task, device):.4f}", flush=True)
        if args.out:
            torch.save(model.state_dict(), args.out)  # load with torch.load(path, weights_only=True)
            print(f"saved the weights to {args.out}")
    if world > 1:
        dist.barrier()  # leave together: a rank tearing gloo down while rank 0 still saves can abort
        dist.destroy_process_group()
'''

CSV_FLAGS = """
    parser.add_argument("--csv", help="train on this CSV file instead of the built-in data set")
    parser.add_argument("--target", help="the CSV column to predict")
    args = parser.parse_args(argv)
    if args.csv and not args.target:
        parser.error("--csv needs --target COLUMN")
    if DATASET == "csv" and not args.csv:
        parser.error("this script trains on your data: pass --csv FILE --target COLUMN")"""

PLAIN_FLAGS = """
    args = parser.parse_args(argv)"""

SCRIPT_FOOTER = '''

if __name__ == "__main__":
    main()
'''

NOTEBOOK_RUN = """\
# The same flags as on the command line, e.g. main(["--epochs", "5", "--lr", "0.01"]).
main([])
"""

NOTEBOOK_RUN_CSV = """\
# Your table and the column to predict; the other flags as on the command line.
main(["--csv", "data.csv", "--target", "label"])
"""

EXPLAIN = {
    "imports": "Only PyTorch and the Python standard library (scikit-learn or pandas are imported where the "
               "data is loaded).",
    "model": "## The model\nExactly the design drawn in LayerLab: the layers are declared in `__init__` and "
             "`forward` runs them in order, with the shape of the tensor after each line as a comment "
             "(`N` is the batch size).",
    "data": "## The data\n`load_builtin` makes or loads the data set; `load_data` shapes it for the model's "
            "inputs and splits it once, with a fixed seed, into 70 % training, 15 % validation and 15 % test "
            "data.",
    "data_csv": " Pass `--csv FILE --target COLUMN` to train on your own table instead.",
    "tasks": "## Loss and metric\nThe loss follows the task: cross-entropy when the model picks one of several "
             "classes, binary cross-entropy on a single logit for yes/no, mean squared error for numbers.",
    "processes": "## One process or many\nRun as `python train.py` this is a single process. Under "
                 "`torchrun --nproc_per_node=N train.py` each process trains on its share of every epoch "
                 "(`DistributedSampler`) and `DistributedDataParallel` averages the gradients.",
    "training": "## The training loop\nThe optimizer, then one pass over the training data per epoch: "
                "forward, loss, backward, step.",
    "main": "## Putting it together\n`main` reads the flags, builds the model, trains it, prints one line per "
            "epoch and the test metric at the end, and saves the weights (rank 0 only).",
    "run": "## Run it\nIn a notebook this runs as a single process.",
}
