"""More ONNX operations → existing catalog blocks: padding, instance norm, pixel shuffle (DepthToSpace), upsampling
(Resize). Ops that only a tensor-operation block would fit (Exp, Pow, Split, a noise draw) are refused in words
naming the torch call, so the user knows what stops the import and where.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from importer.onnx_names import _PARAMETER
from importer.onnx_ops import Handler, _const
from importer.onnx_tensor_ops import narrow, split

if TYPE_CHECKING:
    from importer.onnx_import import Reader

_PAD_KINDS = {"constant": "Constant", "reflect": "Reflection", "edge": "Replication", "wrap": "Circular"}


def _pad(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    """ONNX pads are [begin of every axis..., end of every axis...]; torch's run from the last axis backwards,
    (left, right, top, bottom). The batch and channel axes must stay unpadded: a padding block pads space only."""
    x = args[0]
    if len(args) > 1 and getattr(args[1], "zeros", False):
        return x  # amounts the file computes as all zeros (UNet's F.pad by a size difference that is 0 here)
    pads = _const(args[1]) if len(args) > 1 and args[1] is not None else attrs.get("pads")
    mode = attrs.get("mode", "constant")
    rank = len(x.shape)
    if pads is None or rank not in (3, 4) or mode not in _PAD_KINDS:
        return f"a Pad ({mode}) needs constant amounts on a 3-D or 4-D input to be a padding block"
    if len(args) > 3 and args[3] is not None:
        return "a Pad with its own axes list has no block"
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    begin, end = pads[:rank], pads[rank:]
    if begin[:2] != [0, 0] or end[:2] != [0, 0] or min(pads) < 0:
        return f"a Pad of the batch or channel axes, or a negative one (a crop), pads={pads}, has no block"
    torch_order = [amount for axis in reversed(range(2, rank)) for amount in (begin[axis], end[axis])]
    value = _const(args[2]) if len(args) > 2 and args[2] is not None else np.zeros(1)
    value = float(np.asarray(value).reshape(-1)[0]) if value is not None and np.asarray(value).size else 0.0
    kind = _PAD_KINDS[mode]
    if kind == "Constant" and value == 0.0:
        kind = "Zero"
    padding = torch_order[0] if len(set(torch_order)) == 1 else torch_order
    params = {"padding": padding} | ({"value": value} if kind == "Constant" else {})
    return reader.add(f"{kind}Pad{rank - 2}d", params, [(x, None)])


def _instance_norm(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    """InstanceNorm with affine=False is exported with a constant scale of ones and shift of zeros; with
    affine=True they are the module's parameters (named ``norm.weight``), whatever their values."""
    x, scale, shift = args[0], _const(args[1]), _const(args[2])
    rank = len(x.shape)
    if scale is None or shift is None or rank not in (3, 4):
        return "an InstanceNormalization with computed scales, or on other than a 3-D or 4-D input, has no block"
    eps = float(attrs.get("epsilon", 1e-5))
    named = bool(_PARAMETER.match(reader.op.input[1])) and reader.op.input[1] in reader.initializers
    affine = named or not (np.all(scale == 1) and np.all(shift == 0))
    params: dict[str, Any] = {"affine": affine}
    if rank == 3:
        params["eps"] = eps
    elif abs(eps - 1e-5) > 1e-9:
        return f"InstanceNorm2d with eps={eps:g} has no block yet (the block uses torch's default 1e-5)"
    weights = {"weight": scale, "bias": shift} if affine else None
    return reader.add(f"InstanceNorm{rank - 2}d", params, [(x, None)], weights)


def _depth_to_space(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    if attrs.get("mode", "DCR") != "CRD":
        return "DepthToSpace in DCR order (TensorFlow's) has no block; PixelShuffle is the CRD order"
    return reader.add("PixelShuffle", {"upscale_factor": int(attrs["blocksize"])}, [(args[0], None)])


def _resize(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
    """nn.Upsample(scale_factor=s): nearest (asymmetric, floor) or bilinear (half-pixel: align_corners=False; the
    align_corners transform: align_corners=True, Pytorch-UNet's bilinear up-sampling)."""
    x = args[0]
    mode, where = attrs.get("mode", "nearest"), attrs.get("coordinate_transformation_mode", "half_pixel")
    scales = _const(args[2]) if len(args) > 2 and args[2] is not None else None
    if scales is None or np.asarray(scales).size == 0:
        sizes = _const(args[3]) if len(args) > 3 and args[3] is not None else None
        if sizes is None:
            return "a Resize to a size computed in the graph has no block"
        scales = np.asarray(sizes, dtype=np.float64) / np.asarray(x.shape, dtype=np.float64)
    scales = [float(s) for s in np.asarray(scales).reshape(-1)]
    if len(scales) != len(x.shape) or scales[:2] != [1.0, 1.0] or len(set(scales[2:])) != 1:
        return f"a Resize with scales {scales} (not one factor for every spatial axis) has no block"
    if mode == "nearest" and where == "asymmetric" and attrs.get("nearest_mode", "round_prefer_floor") == "floor":
        block_mode = "nearest"
    elif mode == "linear" and len(x.shape) == 4 and where in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        block_mode = "bilinear"
    else:
        return f"a Resize ({mode}, {where}) has no block: Upsample is nearest or bilinear (on 4-D input)"
    corners = {"align_corners": True} if where == "align_corners" else {}
    return reader.add("Upsample", {"scale_factor": scales[2], "mode": block_mode} | corners, [(x, None)])


def _or(handler: Handler, words: str) -> Handler:
    """``handler``, or ``words`` when it finds no block for these settings."""
    def handle(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
        return handler(reader, args, attrs) or words
    return handle


def _refuse(words: str) -> Handler:
    def handle(reader: Reader, args: list[Any], attrs: dict[str, Any]) -> Any:
        return words
    return handle


_LATER = ("has no block with these settings (the op block takes computed tensors and no settings); rewrite it as a "
          "layer, or import the PyTorch module (layerlab import model.py:Class)")
# The randn_like block exists, but the design is proved against onnxruntime, whose draw no seed of LayerLab's repeats.
_RANDOM = ("can't be checked against onnxruntime, whose random draw LayerLab can't repeat; import the PyTorch module "
           "(layerlab import model.py:Class), which is verified with one seed for both")
MORE_HANDLERS: dict[str, Handler] = {
    "Pad": _pad, "InstanceNormalization": _instance_norm, "DepthToSpace": _depth_to_space, "Resize": _resize,
    "Exp": _refuse(f"torch.exp {_LATER}"),
    "Pow": _refuse(f"a power (x ** p, torch.pow) {_LATER}"),
    "Sqrt": _refuse(f"torch.sqrt {_LATER}"),
    "Split": split,
    "Slice": _or(narrow, "taking part of a tensor (x[:, a:b]) with computed bounds, a step, or on several axes "
                         "has no block; x[:, a:b] on one axis with constant bounds is one"),
    "RandomNormalLike": _refuse(f"a random draw (torch.randn_like: a VAE's sampling) {_RANDOM}"),
    "RandomNormal": _refuse(f"a random draw (torch.randn) {_RANDOM}"),
    "Erf": _refuse("torch.erf outside the GELU pattern x * 0.5 * (1 + erf(x / sqrt(2))) " + _LATER),
}
