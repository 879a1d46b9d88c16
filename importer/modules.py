"""torch.nn layers → catalog blocks: the parameters a block needs, read from the live module.

Most layers are one block with the same torch class, so the module's weights copy over by name. A reader returns
the block's params, or a string saying which setting has no block equivalent (the call becomes Unsupported).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

Reader = Callable[[nn.Module], "dict[str, Any] | str"]


def size(value: Any) -> Any:
    """3 for (3, 3), [3, 5] for (3, 5): the form the catalog's IntOrTuple params take."""
    if isinstance(value, (tuple, list)):
        return value[0] if len(set(value)) == 1 else list(value)
    return value


def _conv(m: nn.Module) -> dict[str, Any] | str:
    params = {"out_channels": m.out_channels, "kernel_size": size(m.kernel_size), "stride": size(m.stride),
              "dilation": size(m.dilation), "groups": m.groups, "bias": m.bias is not None}
    params["padding"] = m.padding if isinstance(m.padding, str) else size(m.padding)  # "same", "valid" as torch
    if m.padding_mode != "zeros":
        params["padding_mode"] = m.padding_mode
    return params


def _conv_transpose(m: nn.Module) -> dict[str, Any] | str:
    if m.padding_mode != "zeros":
        return f"padding_mode={m.padding_mode!r}"
    return {"out_channels": m.out_channels, "kernel_size": size(m.kernel_size), "stride": size(m.stride),
            "padding": size(m.padding), "output_padding": size(m.output_padding), "dilation": size(m.dilation),
            "groups": m.groups, "bias": m.bias is not None}


def _max_pool(m: nn.Module) -> dict[str, Any] | str:
    if size(m.dilation) != 1 or m.return_indices:
        return "dilation or return_indices"
    return {"kernel_size": size(m.kernel_size), "stride": size(m.stride), "padding": size(m.padding),
            "ceil_mode": m.ceil_mode}


def _avg_pool(m: nn.Module) -> dict[str, Any] | str:
    if not m.count_include_pad or m.divisor_override is not None:
        return "count_include_pad=False or divisor_override"
    return {"kernel_size": size(m.kernel_size), "stride": size(m.stride), "padding": size(m.padding),
            "ceil_mode": m.ceil_mode}


def _adaptive(m: nn.Module) -> dict[str, Any] | str:
    out = m.output_size
    if out is None or (isinstance(out, (tuple, list)) and None in out):
        return "an output_size with None (keep that dimension)"
    return {"output_size": size(out)}


def _batchnorm(m: nn.Module) -> dict[str, Any] | str:
    if not m.track_running_stats or m.momentum is None:
        return "track_running_stats=False or momentum=None"
    return {"eps": m.eps, "momentum": m.momentum, "affine": m.affine}


def _instancenorm(m: nn.Module) -> dict[str, Any] | str:
    if m.track_running_stats:
        return "track_running_stats=True"
    if isinstance(m, nn.InstanceNorm2d):
        return "eps" if m.eps != 1e-5 else {"affine": m.affine}
    return {"affine": m.affine, "eps": m.eps}


def _layernorm(m: nn.Module) -> dict[str, Any] | str:
    if m.elementwise_affine and m.bias is None:
        return "bias=False"
    return {"normalized_shape": list(m.normalized_shape), "eps": m.eps, "elementwise_affine": m.elementwise_affine}


def _upsample(m: nn.Module) -> dict[str, Any] | str:
    factor = m.scale_factor
    if isinstance(factor, (tuple, list)):
        factor = factor[0] if len(set(factor)) == 1 else None
    if factor is None or m.mode not in ("nearest", "bilinear"):
        return "a target size, uneven factors or a mode other than nearest/bilinear"
    return {"scale_factor": float(factor), "mode": m.mode, "align_corners": bool(m.align_corners) or None}


def _padding(m: nn.Module) -> dict[str, Any] | str:
    pads = list(m.padding)
    params: dict[str, Any] = {"padding": pads[0] if len(set(pads)) == 1 else pads}
    if hasattr(m, "value"):
        params["value"] = float(m.value)
    if any(p < 0 for p in pads):
        return "negative padding (cropping)"
    return params


def _attrs(*names: str, **renames: str) -> Reader:
    """A reader copying module attributes of the same name (or renamed: block_param='module_attr')."""
    def read(m: nn.Module) -> dict[str, Any]:
        out = {n: getattr(m, n) for n in names}
        out.update({param: getattr(m, attr) for param, attr in renames.items()})
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}
    return read


def _flatten(m: nn.Module) -> dict[str, Any] | str:
    return {} if (m.start_dim, m.end_dim) == (1, -1) else "reshape"  # other dims: a Reshape from the recorded shape


def _embedding(m: nn.Module) -> dict[str, Any] | str:
    if m.max_norm is not None or m.sparse or m.scale_grad_by_freq:
        return "max_norm, sparse or scale_grad_by_freq"
    return {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim, "padding_idx": m.padding_idx}


def _embedding_bag(m: nn.Module) -> dict[str, Any] | str:
    if m.max_norm is not None or m.include_last_offset or m.sparse:
        return "max_norm, include_last_offset or sparse"
    return {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim, "mode": m.mode,
            "padding_idx": m.padding_idx}


def _softplus(m: nn.Module) -> dict[str, Any] | str:
    return {"beta": float(m.beta)} if m.threshold == 20 else "threshold"


def _unflatten(m: nn.Module) -> dict[str, Any] | str:
    return {"dim": m.dim, "sizes": list(m.unflattened_size)}


def _dim(m: nn.Module) -> dict[str, Any] | str:
    return {"dim": -1 if m.dim is None else m.dim}


_NONE: Reader = _attrs()
_P = _attrs("p")

# class name -> (block type, reader). Keyed by name so that this table imports no torch class it doesn't need.
SIMPLE: dict[str, tuple[str, Reader]] = {
    "Linear": ("Linear", lambda m: {"out_features": m.out_features, "bias": m.bias is not None}),
    "Bilinear": ("Bilinear", lambda m: {"out_features": m.out_features, "bias": m.bias is not None}),
    **{f"Conv{d}d": (f"Conv{d}d", _conv) for d in (1, 2)},
    **{f"ConvTranspose{d}d": (f"ConvTranspose{d}d", _conv_transpose) for d in (1, 2)},
    **{f"MaxPool{d}d": (f"MaxPool{d}d", _max_pool) for d in (1, 2)},
    **{f"AvgPool{d}d": (f"AvgPool{d}d", _avg_pool) for d in (1, 2)},
    **{f"Adaptive{k}Pool{d}d": (f"Adaptive{k}Pool{d}d", _adaptive) for k in ("Avg", "Max") for d in (1, 2)},
    **{f"BatchNorm{d}d": (f"BatchNorm{d}d", _batchnorm) for d in (1, 2)},
    **{f"InstanceNorm{d}d": (f"InstanceNorm{d}d", _instancenorm) for d in (1, 2)},
    "LayerNorm": ("LayerNorm", _layernorm),
    "GroupNorm": ("GroupNorm", _attrs("num_groups", "eps", "affine")),
    "LocalResponseNorm": ("LocalResponseNorm", _attrs("size", "alpha", "beta", "k")),
    "RMSNorm": ("RMSNorm", lambda m: {"normalized_shape": list(m.normalized_shape), "eps": m.eps,
                                      "elementwise_affine": m.elementwise_affine}),
    **{name: (name, _NONE) for name in ("ReLU", "ReLU6", "SELU", "SiLU", "Mish", "Sigmoid", "Tanh", "Hardswish",
                                        "Hardsigmoid", "LogSigmoid", "Softsign", "Tanhshrink", "Identity")},
    "LeakyReLU": ("LeakyReLU", _attrs("negative_slope")),
    "PReLU": ("PReLU", lambda m: {"num_parameters": m.num_parameters}),
    "ELU": ("ELU", _attrs("alpha")),
    "CELU": ("CELU", _attrs("alpha")),
    "GELU": ("GELU", _attrs("approximate")),
    "Softplus": ("Softplus", _softplus),
    "Hardtanh": ("Hardtanh", _attrs("min_val", "max_val")),
    "Hardshrink": ("Hardshrink", _attrs("lambd")),
    "Softshrink": ("Softshrink", _attrs("lambd")),
    "Threshold": ("Threshold", _attrs("threshold", "value")),
    "RReLU": ("RReLU", _attrs("lower", "upper")),
    "GLU": ("GLU", _attrs("dim")),
    "Softmax": ("Softmax", _dim),
    "LogSoftmax": ("LogSoftmax", _dim),
    "Softmin": ("Softmin", _dim),
    **{name: (name, _P) for name in ("Dropout", "Dropout1d", "Dropout2d", "AlphaDropout")},
    "Flatten": ("Flatten", _flatten),
    "Unflatten": ("Unflatten", _unflatten),
    "Embedding": ("Embedding", _embedding),
    "EmbeddingBag": ("EmbeddingBag", _embedding_bag),
    "Upsample": ("Upsample", _upsample),
    "UpsamplingNearest2d": ("Upsample", _upsample),
    "PixelShuffle": ("PixelShuffle", _attrs("upscale_factor")),
    "PixelUnshuffle": ("PixelUnshuffle", _attrs("downscale_factor")),
    "ChannelShuffle": ("ChannelShuffle", _attrs("groups")),
    "Unfold": ("Unfold", lambda m: {k: size(getattr(m, k)) for k in ("kernel_size", "dilation", "padding", "stride")}),
    "Fold": ("Fold", lambda m: {k: size(getattr(m, k))
                                for k in ("output_size", "kernel_size", "dilation", "padding", "stride")}),
    **{f"{kind}Pad{d}d": (f"{kind}Pad{d}d", _padding)
       for kind in ("Zero", "Constant", "Reflection", "Replication", "Circular") for d in (1, 2)},
}

# Layers with their own handler in importer.calls (several outputs, masks, sub-layers).
SPECIAL = ("RNN", "LSTM", "GRU", "MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer",
           "TransformerEncoder", "TransformerDecoder")


def covered_classes() -> set[str]:
    """torch.nn class names an import turns into blocks (for the coverage figure)."""
    return set(SIMPLE) | set(SPECIAL)
