"""What a run learns, and whether the model fits the data: task, loss and the fit check with one-click fixes.

The task follows from the dataset (or the template's override, e.g. an autoencoder on digits learns to
reconstruct); the model's output layer decides how the loss reads it (logits, probabilities after Sigmoid or
Softmax, log-probabilities after LogSoftmax). A variational autoencoder (task "vae") returns its reconstruction,
mu and logvar, and learns the reconstruction loss plus the KL divergence of its latent code (``vae_loss``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F

from builder.catalog import Fix
from builder.graph import Graph
from builder.validate import ValidationResult
from codegen.source import ModelSource
from training.choices import LOSSES, TASKS  # noqa: F401  (re-exported)

_AUTO_LOSS = {"classification": "cross_entropy", "binary": "bce", "regression": "mse", "sequence": "token",
              "reconstruction": "mse", "vae": "mse"}
_ALLOWED = {"classification": {"cross_entropy", "bce"}, "binary": {"bce", "cross_entropy", "mse"},
            "regression": {"mse", "mae", "huber"}, "sequence": {"token", "cross_entropy"},
            "reconstruction": {"mse", "mae", "huber", "bce"}, "vae": {"mse", "mae", "huber", "bce"}}
VAE_OUTPUTS = ("reconstruction", "mu", "logvar")  # what a VAE's forward returns, in this order
_OUTPUT_KIND = {"Sigmoid": "probabilities", "Softmax": "probabilities", "LogSoftmax": "log_probabilities"}


@dataclass(frozen=True)
class FitProblem:
    """Why the model can't train on the dataset; ``fix`` (on ``node``) repairs it in one click when possible."""

    message: str
    node: str | None = None
    fix: Fix | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"node": self.node, "message": self.message}
        if self.fix:
            out["fix"] = {"label": self.fix.label, "action": self.fix.action, "args": dict(self.fix.args)}
        return out


class FitError(ValueError):
    def __init__(self, problems: list[FitProblem]) -> None:
        super().__init__("\n".join(p.message for p in problems))
        self.problems = problems

    def __reduce__(self) -> tuple[Any, ...]:  # rebuilt from its problems (a worker process sends it back)
        return type(self), (self.problems,)


@dataclass(frozen=True)
class TaskPlan:
    task: str
    loss: str
    output_kind: str  # logits | probabilities | log_probabilities | values
    num_classes: int | None = None
    pad_id: int | None = None
    label_smoothing: float = 0.0
    input_order: tuple[int, ...] = field(default=())  # dataset input index for each model input
    class_weights: tuple[float, ...] | None = None  # per class, for the classification losses

    def target_for(self, inputs: tuple[torch.Tensor, ...], target: torch.Tensor) -> torch.Tensor:
        """The tensor the loss compares with, prepared once (not per batch)."""
        if self.task in ("reconstruction", "vae"):
            return inputs[0].float()
        if self.loss == "bce" and self.task == "classification":
            return target.float().reshape(-1, 1)  # two classes read from one logit
        if self.loss == "cross_entropy" and self.task == "binary":
            return target.reshape(-1).long()
        return target

    def criterion(self) -> Callable[[Any, torch.Tensor], torch.Tensor]:
        return _TASK_LOSSES[self.task](_CRITERIA[self.loss](self))

    def predict(self, output: Any) -> torch.Tensor:
        """Predictions for the metrics: class ids, token ids, or values (a VAE's: its reconstruction)."""
        if self.task == "vae":
            return output[0]
        if self.task in ("classification", "binary"):
            if output.shape[-1] == 1:
                cut = 0.5 if self.output_kind == "probabilities" else 0.0
                return (output.reshape(-1) > cut).long()
            return output.argmax(-1)
        if self.task == "sequence":
            return output.argmax(-1)
        return output

    def metric_target(self, target: torch.Tensor) -> torch.Tensor:
        return target.reshape(-1).long() if self.task in ("classification", "binary") else target


def _ce(plan: TaskPlan) -> Callable:
    def loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if out.dim() == 3:  # (N, T, V) read as a sequence of classifications
            out, target = out.reshape(-1, out.shape[-1]), target.reshape(-1)
        ignore = plan.pad_id if plan.loss == "token" and plan.pad_id is not None else -100
        weight = torch.tensor(plan.class_weights, device=out.device) if plan.class_weights else None
        if plan.output_kind == "logits":
            return F.cross_entropy(out, target, weight=weight, ignore_index=ignore,
                                   label_smoothing=plan.label_smoothing)
        logp = out if plan.output_kind == "log_probabilities" else out.clamp_min(1e-12).log()
        return F.nll_loss(logp, target, weight=weight, ignore_index=ignore)
    return loss


def _bce(plan: TaskPlan) -> Callable:
    def loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.float()
        weight = None
        if plan.class_weights:  # each sample weighed by its class's weight
            low, high = plan.class_weights[0], plan.class_weights[-1]
            weight = torch.where(target > 0.5, high, low)
        if plan.output_kind == "probabilities":
            return F.binary_cross_entropy(out.clamp(1e-7, 1 - 1e-7), target, weight=weight)
        return F.binary_cross_entropy_with_logits(out, target, weight=weight)
    return loss


def with_class_weights(plan: TaskPlan, class_weights: str, train: Any) -> TaskPlan:
    """The plan weighing classes by the ``train`` split's counts when ``class_weights`` is 'balanced'."""
    if class_weights != "balanced" or plan.task not in ("classification", "binary"):
        return plan
    target = plan.target_for(tuple(train.inputs), train.target)
    return replace(plan, class_weights=balanced_weights(target, plan.num_classes or 2))


def balanced_weights(target: torch.Tensor, num_classes: int) -> tuple[float, ...]:
    """n / (classes × count) per class of the training targets (scikit-learn's "balanced"); 0 for a class
    with no training sample."""
    counts = torch.bincount(target.reshape(-1).long(), minlength=num_classes).double()
    weights = torch.where(counts > 0, len(target.reshape(-1)) / (num_classes * counts.clamp_min(1)), 0.0)
    return tuple(float(w) for w in weights)


_CRITERIA: dict[str, Callable[[TaskPlan], Callable]] = {
    "cross_entropy": _ce, "token": _ce, "bce": _bce,
    "mse": lambda plan: lambda out, t: F.mse_loss(out, t.float()),
    "mae": lambda plan: lambda out, t: F.l1_loss(out, t.float()),
    "huber": lambda plan: lambda out, t: F.huber_loss(out, t.float()),
}


def vae_loss(reconstruction: Callable) -> Callable:
    """A VAE's loss from its outputs (reconstruction, mu, logvar): the reconstruction loss plus the KL divergence
    of N(mu, exp(logvar)) from N(0, 1), summed over the latent code and averaged over the batch as in Kingma &
    Welling's appendix B, then divided by the values per sample, as the reconstruction loss is a mean over them:
    the whole is pytorch/examples' VAE loss (summed BCE + KLD) divided by the values in the batch."""
    def loss(out: Any, target: torch.Tensor) -> torch.Tensor:
        recon, mu, logvar = out
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(target)
        return reconstruction(recon, target) + kl / target[0].numel()
    return loss


# What each task makes of its loss: a VAE adds its KL term; an exported script carries only its run's entry.
_TASK_LOSSES: dict[str, Callable[[Callable], Callable]] = {
    "classification": lambda loss: loss, "binary": lambda loss: loss, "regression": lambda loss: loss,
    "sequence": lambda loss: loss, "reconstruction": lambda loss: loss, "vae": lambda loss: vae_loss(loss),
}


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


def _model_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(["N", *(str(d) for d in shape)]) + ")"


def dataset_inputs(dataset: Any) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, shape without batch, dtype) of each dataset input, read from the training tensors."""
    names = list(getattr(dataset, "input_names", None) or [])
    found = []
    for k, tensor in enumerate(dataset.train.inputs):
        dtype = "float" if tensor.is_floating_point() or tensor.dtype == torch.uint8 else "long"  # pixels: floats
        found.append((names[k] if k < len(names) else f"input{k}", tuple(tensor.shape[1:]), dtype))
    return found


def check_fit(graph: Graph, source: ModelSource, result: ValidationResult, dataset: Any,
              loss: str = "auto", task: str | None = None, label_smoothing: float = 0.0
              ) -> tuple[TaskPlan | None, list[FitProblem]]:
    """The plan for training ``graph`` on ``dataset``, or the problems that stop it (each with a fix if any)."""
    task = _task_value(task or dataset.task)
    order, problems = _match_inputs(graph, source, dataset)
    outputs_problem = _check_outputs(source, result, task)
    if outputs_problem:
        return None, [*problems, outputs_problem]
    out_id = source.outputs[0]
    out_shape = tuple(result.nodes[out_id].output.shape)
    kind = _OUTPUT_KIND.get(graph.node(out_id).type, "logits" if task in ("classification", "binary", "sequence")
                            else "values")
    output_problems = _check_output(graph, result, dataset, task, out_shape)
    if problems:  # the output's shape follows from the inputs: keep only the fixable last-layer advice
        output_problems = [p for p in output_problems if p.fix is not None]
    problems += output_problems
    loss = _resolve_loss(loss, task, out_shape, dataset, problems)
    if problems:
        return None, problems
    classes = _classes(task, dataset, out_shape)
    plan = TaskPlan(task, loss, kind, classes, getattr(dataset, "pad_id", None), label_smoothing, tuple(order))
    return plan, []


def _check_outputs(source: ModelSource, result: ValidationResult, task: str) -> FitProblem | None:
    """One output, or a VAE's three (reconstruction, mu, logvar; mu and logvar of one shape)."""
    names = ", ".join(f"‘{o}’" for o in source.outputs)
    if task == "vae":
        if len(source.outputs) != len(VAE_OUTPUTS):
            return FitProblem(f"a VAE returns three outputs, its reconstruction, mu and logvar (in that order: the "
                              f"blocks' order), but the model has {len(source.outputs)} ({names})")
        mu, logvar = (result.nodes[o].output for o in source.outputs[1:])
        if mu != logvar:
            return FitProblem(f"a VAE's mu and logvar have one shape, but ‘{source.outputs[1]}’ is {mu} and "
                              f"‘{source.outputs[2]}’ is {logvar}", source.outputs[2])
        return None
    if len(source.outputs) != 1:
        return FitProblem(f"the model has {len(source.outputs)} outputs ({names}); training needs exactly one: "
                          "remove or join the extra branches")
    return None


def _task_value(task: Any) -> str:
    value = getattr(task, "value", task)
    if value not in TASKS:
        raise ValueError(f"unknown task {value!r}: choose one of {', '.join(TASKS)}")
    return value


def _classes(task: str, dataset: Any, out_shape: tuple[int, ...]) -> int | None:
    if task == "binary":
        return 2
    if task == "classification":
        return dataset.num_classes or out_shape[-1]
    if task == "sequence":
        return out_shape[-1]
    return None


def _resolve_loss(loss: str, task: str, out_shape: tuple[int, ...], dataset: Any,
                  problems: list[FitProblem]) -> str:
    loss = (loss or "auto").lower()
    if loss not in LOSSES:
        problems.append(FitProblem(f"unknown loss {loss!r}: choose one of {', '.join(LOSSES)}"))
        return "mse"
    if loss == "auto":
        loss = _AUTO_LOSS[task]
        if task == "classification" and out_shape == (1,) and dataset.num_classes == 2:
            loss = "bce"  # one logit for two classes
        if task == "binary" and out_shape == (2,):
            loss = "cross_entropy"
        return loss
    if loss not in _ALLOWED[task]:
        choices = ", ".join(sorted(_ALLOWED[task]))
        problems.append(FitProblem(f"the loss {loss!r} doesn't fit a {task} task: use one of {choices}"))
    return loss


def _match_inputs(graph: Graph, source: ModelSource, dataset: Any) -> tuple[list[int], list[FitProblem]]:
    """Pair model inputs with dataset inputs (by name when the names agree, else in order) and compare them."""
    data = dataset_inputs(dataset)
    if len(data) != len(source.inputs):
        want = ", ".join(n for n, _, _ in data)
        return [], [FitProblem(f"{dataset.name} gives {len(data)} input(s) ({want}) but the model has "
                               f"{len(source.inputs)} Input block(s): the model needs one Input per dataset input")]
    names = [n for n, _, _ in data]
    by_name = all(i.node in names for i in source.inputs)
    order = [names.index(i.node) if by_name else k for k, i in enumerate(source.inputs)]
    problems = []
    for item, index in zip(source.inputs, order):
        problems += _compare_input(graph, item, data[index], dataset)
    return order, problems


def _compare_input(graph: Graph, item: Any, data: tuple[str, tuple[int, ...], str], dataset: Any) -> list[FitProblem]:
    _, shape, dtype = data
    problems = []
    if tuple(item.shape) != shape:
        fix = Fix(f"Set ‘{item.node}’ shape to {list(shape)}", "set_param", {"name": "shape", "value": list(shape)})
        problems.append(FitProblem(f"{dataset.name} is {_shape_text(shape)} but Input ‘{item.node}’ is "
                                   f"{tuple(item.shape)}: set its shape to {list(shape)}", item.node, fix))
    if item.dtype != dtype:
        what = "token ids (long)" if dtype == "long" else "numbers (float)"
        fix = Fix(f"Make ‘{item.node}’ {dtype}", "set_input_dtype", {"dtype": dtype})
        problems.append(FitProblem(f"{dataset.name} gives {what} but Input ‘{item.node}’ is {item.dtype}: set its "
                                   f"dtype to {dtype}", item.node, fix))
    vocab = getattr(dataset, "vocab_size", None)
    if dtype == "long" and vocab and item.dtype == "long":
        problems += _check_vocab(graph, item.node, vocab, dataset.name)
    return problems


def _check_vocab(graph: Graph, input_id: str, vocab: int, name: str) -> list[FitProblem]:
    problems = []
    for edge in graph.out_edges(input_id):
        node = graph.node(edge.target)
        size = node.params.get("num_embeddings")
        if size is not None and size < vocab:
            fix = Fix(f"Set ‘{node.id}’ num_embeddings to {vocab}", "set_param",
                      {"name": "num_embeddings", "value": vocab})
            problems.append(FitProblem(f"{name} uses {vocab} token ids but Embedding ‘{node.id}’ has num_embeddings "
                                       f"{size}: set it to {vocab}", node.id, fix))
    return problems


def _check_output(graph: Graph, result: ValidationResult, dataset: Any, task: str,
                  out_shape: tuple[int, ...]) -> list[FitProblem]:
    out_id = next(iter(n.id for n in graph.sinks()))
    want, what = _wanted_output(task, dataset, out_shape)
    if want is None or out_shape == want:
        return []
    if len(out_shape) == len(want) and out_shape[:-1] == want[:-1]:
        last = _last_linear(graph, result, out_id)
        message = (f"the model outputs {_model_shape(out_shape)} but {dataset.name} {what}: "
                   f"set the last Linear's out_features to {want[-1]}")
        if last is None:
            return [FitProblem(message.replace("set the last Linear's out_features to",
                                               "end the model with a Linear of size"), out_id)]
        fix = Fix(f"Set ‘{last}’ out_features to {want[-1]}", "set_param", {"name": "out_features", "value": want[-1]})
        return [FitProblem(message.replace("the last Linear's", f"the last Linear's (‘{last}’)"), last, fix)]
    return [FitProblem(f"the model outputs {_model_shape(out_shape)} but {dataset.name} needs "
                       f"{_model_shape(want)} ({what}): reshape the end of the model "
                       f"(e.g. Flatten, then a Linear with {want[-1]} outputs)", out_id)]


def _wanted_output(task: str, dataset: Any, out_shape: tuple[int, ...]) -> tuple[tuple[int, ...] | None, str]:
    target = dataset.train.target
    if task == "classification":
        k = dataset.num_classes
        if k == 2 and out_shape == (1,):
            return (1,), "has 2 classes"
        return (k,), f"has {k} classes"
    if task == "binary":
        return (out_shape if out_shape in ((1,), (2,)) else (1,)), "has 2 classes (one logit)"
    if task == "regression":
        cols = tuple(target.shape[1:]) or (1,)
        return cols, f"has {cols[-1]} target value(s)"
    if task == "sequence":
        vocab = dataset.vocab_size or out_shape[-1]
        return (target.shape[1], vocab), f"has sequences of {target.shape[1]} tokens over {vocab} ids"
    shape = tuple(dataset.train.inputs[0].shape[1:])
    return shape, f"reconstructs its input of shape {_shape_text(shape)}"


def _last_linear(graph: Graph, result: ValidationResult, node_id: str) -> str | None:
    """Walk back from the output through single-input blocks to the last layer with out_features."""
    seen = set()
    while node_id not in seen:
        seen.add(node_id)
        if "out_features" in result.nodes[node_id].params:
            return node_id
        edges = graph.in_edges(node_id)
        if len(edges) != 1:
            return None
        node_id = edges[0].source
    return None
