"""Write the built-in block library (assets/blocks/*.json) and the block-based templates.

The JSON files are the source of truth and are committed; this script is how they were first written, kept so a
change to many blocks at once is one edit here. Run: python scripts/make_library.py
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def node(id, type, when=None, repeat=None, **params):
    out = {"id": id, "type": type}
    if params:
        out["params"] = params
    if repeat and repeat != 1:
        out["repeat"] = repeat
    if when:
        out["when"] = when
    return out


def chain(*ids):
    return [{"source": a, "target": b} for a, b in zip(ids, ids[1:])]


def edge(a, b, port=None):
    return {"source": a, "target": b, **({"port": port} if port else {})}


def param(name, kind, default, doc="", first_only=False, **extra):
    out = {"name": name, "kind": kind, "default": default, **extra}
    if doc:
        out["doc"] = doc
    if first_only:
        out["first_only"] = True
    return out


DOWNSAMPLE = {
    "doc": "The shortcut of a residual block when the shape changes: a 1×1 convolution (with the block's stride) "
           "and BatchNorm, as torchvision's ResNet writes it.",
    "params": [param("out_channels", "int", 64, "channels out", minimum=1),
               param("stride", "int", 1, "stride of the 1×1 convolution", minimum=1)],
    "output": "bn", "container": "sequential",
    "nodes": [node("x", "Port"),
              node("conv", "Conv2d", out_channels="$out_channels", kernel_size=1, stride="$stride", bias=False),
              node("bn", "BatchNorm2d")],
    "edges": chain("x", "conv", "bn"),
}

BASIC_BLOCK = {
    "doc": "ResNet's basic block (ResNet-18/34): two 3×3 convolutions with BatchNorm, and the input added back. "
           "The first block of a stage may stride and then needs a downsample shortcut; repeated copies don't.",
    "params": [param("planes", "int", 64, "channels of both convolutions", minimum=1),
               param("stride", "int", 1, "stride of the first convolution", first_only=True, minimum=1),
               param("downsample", "bool", False, "add the 1×1 shortcut (needed when the shape changes)",
                     first_only=True)],
    "output": "relu2",
    "nodes": [node("x", "Port"),
              node("conv1", "Conv2d", out_channels="$planes", kernel_size=3, stride="$stride", padding=1, bias=False),
              node("bn1", "BatchNorm2d"), node("relu1", "ReLU"),
              node("conv2", "Conv2d", out_channels="$planes", kernel_size=3, padding=1, bias=False),
              node("bn2", "BatchNorm2d"),
              node("downsample", "Downsample", when="downsample", out_channels="$planes", stride="$stride"),
              node("add", "Add"), node("relu2", "ReLU")],
    "edges": [*chain("x", "conv1", "bn1", "relu1", "conv2", "bn2"), edge("bn2", "add", "1"),
              edge("x", "downsample"), edge("downsample", "add", "2"), edge("add", "relu2")],
}

BOTTLENECK = {
    "doc": "ResNet's bottleneck block (ResNet-50/101/152): 1×1 down to `planes`, 3×3, 1×1 up to 4×planes, and the "
           "input added back (through a 1×1 downsample when the shape changes).",
    "params": [param("planes", "int", 64, "channels of the 3×3 convolution (the block outputs 4×planes)", minimum=1),
               param("stride", "int", 1, "stride of the 3×3 convolution", first_only=True, minimum=1),
               param("downsample", "bool", False, "add the 1×1 shortcut (needed when the shape changes)",
                     first_only=True)],
    "output": "relu3",
    "nodes": [node("x", "Port"),
              node("conv1", "Conv2d", out_channels="$planes", kernel_size=1, bias=False),
              node("bn1", "BatchNorm2d"), node("relu1", "ReLU"),
              node("conv2", "Conv2d", out_channels="$planes", kernel_size=3, stride="$stride", padding=1, bias=False),
              node("bn2", "BatchNorm2d"), node("relu2", "ReLU"),
              node("conv3", "Conv2d", out_channels="$planes * 4", kernel_size=1, bias=False),
              node("bn3", "BatchNorm2d"),
              node("downsample", "Downsample", when="downsample", out_channels="$planes * 4", stride="$stride"),
              node("add", "Add"), node("relu3", "ReLU")],
    "edges": [*chain("x", "conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "conv3", "bn3"), edge("bn3", "add", "1"),
              edge("x", "downsample"), edge("downsample", "add", "2"), edge("add", "relu3")],
}


def encoder_block(pre_norm: bool):
    nodes = [node("x", "Port"),
             node("norm1", "LayerNorm", normalized_shape="$d_model", eps="$eps"),
             node("self_attn", "MultiheadAttention", embed_dim="$d_model", num_heads="$heads", dropout="$dropout", causal="$causal"),
             node("dropout1", "Dropout", p="$dropout"), node("add1", "Add"),
             node("norm2", "LayerNorm", normalized_shape="$d_model", eps="$eps"),
             node("linear1", "Linear", out_features="$dim_feedforward"), node("activation", "ReLU"),
             node("dropout", "Dropout", p="$dropout"), node("linear2", "Linear", out_features="$d_model"),
             node("dropout2", "Dropout", p="$dropout"), node("add2", "Add")]
    if pre_norm:  # x + sa(norm1(x)), then x + ff(norm2(x))
        edges = [*chain("x", "norm1", "self_attn", "dropout1"), edge("x", "add1", "1"), edge("dropout1", "add1", "2"),
                 *chain("add1", "norm2", "linear1", "activation", "dropout", "linear2", "dropout2"),
                 edge("add1", "add2", "1"), edge("dropout2", "add2", "2")]
        output = "add2"
    else:  # norm1(x + sa(x)), then norm2(x + ff(x)) — nn.TransformerEncoderLayer's default
        edges = [*chain("x", "self_attn", "dropout1"), edge("x", "add1", "1"), edge("dropout1", "add1", "2"),
                 *chain("add1", "norm1", "linear1", "activation", "dropout", "linear2", "dropout2"),
                 edge("norm1", "add2", "1"), edge("dropout2", "add2", "2"), edge("add2", "norm2")]
        output = "norm2"
    kind = "pre-norm (LayerNorm before each sub-layer, as GPT-2)" if pre_norm else \
        "post-norm (LayerNorm after each residual add, as nn.TransformerEncoderLayer)"
    return {
        "doc": f"A Transformer encoder layer written from its parts, {kind}: multi-head self-attention and a "
               "feed-forward network, each with dropout and a residual add.",
        "params": [param("d_model", "int", 64, "width of the tokens (must match the input)", minimum=1),
                   param("heads", "int", 4, "attention heads (must divide d_model)", minimum=1),
                   param("dim_feedforward", "int", 256, "hidden width of the feed-forward network", minimum=1),
                   param("dropout", "float", 0.1, "dropout after attention and in the feed-forward net",
                         minimum=0.0, maximum=1.0),
                   param("causal", "bool", False, "each position attends only to earlier ones (GPT)"),
                   param("eps", "float", 1e-5, "LayerNorm epsilon", minimum=0.0)],
        "output": output, "nodes": nodes, "edges": edges,
    }


def decoder_block(pre_norm: bool):
    nodes = [node("x", "Port"), node("memory", "Port"),
             node("norm1", "LayerNorm", normalized_shape="$d_model", eps="$eps"),
             node("self_attn", "MultiheadAttention", embed_dim="$d_model", num_heads="$heads", dropout="$dropout", causal=True),
             node("dropout1", "Dropout", p="$dropout"), node("add1", "Add"),
             node("norm2", "LayerNorm", normalized_shape="$d_model", eps="$eps"),
             node("cross_attn", "MultiheadAttention", embed_dim="$d_model", num_heads="$heads", dropout="$dropout"),
             node("dropout2", "Dropout", p="$dropout"), node("add2", "Add"),
             node("norm3", "LayerNorm", normalized_shape="$d_model", eps="$eps"),
             node("linear1", "Linear", out_features="$dim_feedforward"), node("activation", "ReLU"),
             node("dropout", "Dropout", p="$dropout"), node("linear2", "Linear", out_features="$d_model"),
             node("dropout3", "Dropout", p="$dropout"), node("add3", "Add")]
    if pre_norm:
        edges = [*chain("x", "norm1", "self_attn", "dropout1"), edge("x", "add1", "1"), edge("dropout1", "add1", "2"),
                 edge("add1", "norm2"), edge("norm2", "cross_attn", "x"), edge("memory", "cross_attn", "memory"),
                 edge("cross_attn", "dropout2"), edge("add1", "add2", "1"), edge("dropout2", "add2", "2"),
                 *chain("add2", "norm3", "linear1", "activation", "dropout", "linear2", "dropout3"),
                 edge("add2", "add3", "1"), edge("dropout3", "add3", "2")]
        output = "add3"
    else:
        edges = [*chain("x", "self_attn", "dropout1"), edge("x", "add1", "1"), edge("dropout1", "add1", "2"),
                 edge("add1", "norm1"), edge("norm1", "cross_attn", "x"), edge("memory", "cross_attn", "memory"),
                 edge("cross_attn", "dropout2"), edge("norm1", "add2", "1"), edge("dropout2", "add2", "2"),
                 edge("add2", "norm2"),
                 *chain("norm2", "linear1", "activation", "dropout", "linear2", "dropout3"),
                 edge("norm2", "add3", "1"), edge("dropout3", "add3", "2"), edge("add3", "norm3")]
        output = "norm3"
    kind = "pre-norm" if pre_norm else "post-norm, as nn.TransformerDecoderLayer"
    return {
        "doc": f"A Transformer decoder layer written from its parts ({kind}): causal self-attention, cross-attention "
               "to the encoder's output (memory) and a feed-forward network, each with a residual add.",
        "params": [param("d_model", "int", 64, "width of the tokens (must match the input)", minimum=1),
                   param("heads", "int", 4, "attention heads (must divide d_model)", minimum=1),
                   param("dim_feedforward", "int", 256, "hidden width of the feed-forward network", minimum=1),
                   param("dropout", "float", 0.1, "dropout rate", minimum=0.0, maximum=1.0),
                   param("eps", "float", 1e-5, "LayerNorm epsilon", minimum=0.0)],
        "output": output, "nodes": nodes, "edges": edges,
    }


def _a(cell: str) -> str:
    return f"an {cell}" if cell[0] in "AEILMNORSX" else f"a {cell}"


def rnn_encoder(cell: str):
    return {
        "doc": f"A sequence encoder: token embedding, then {_a(cell)} whose final state summarizes the sequence "
               "(feed it to a decoder's state input).",
        "params": [param("vocab", "int", 12, "number of distinct tokens", minimum=2),
                   param("embed_dim", "int", 32, "embedding width", minimum=1),
                   param("hidden", "int", 128, f"{cell} hidden size", minimum=1)],
        "output": "rnn",
        "nodes": [node("tokens", "Port"), node("embed", "Embedding", num_embeddings="$vocab", embedding_dim="$embed_dim"),
                  node("rnn", cell, hidden_size="$hidden", output="last")],
        "edges": chain("tokens", "embed", "rnn"),
    }


def rnn_decoder(cell: str):
    return {
        "doc": f"A sequence decoder: embeds the target tokens (shifted right), runs {_a(cell)} started from the "
               "encoder's state, and predicts the next token at every step.",
        "params": [param("vocab", "int", 12, "number of distinct tokens", minimum=2),
                   param("embed_dim", "int", 32, "embedding width", minimum=1),
                   param("hidden", "int", 128, f"{cell} hidden size (must match the encoder's)", minimum=1)],
        "output": "out",
        "nodes": [node("tokens", "Port"), node("state", "Port"),
                  node("embed", "Embedding", num_embeddings="$vocab", embedding_dim="$embed_dim"),
                  node("rnn", cell, hidden_size="$hidden", output="sequence"),
                  node("out", "Linear", out_features="$vocab")],
        "edges": [edge("tokens", "embed"), edge("embed", "rnn", "x"), edge("state", "rnn", "state"), edge("rnn", "out")],
    }


def transformer_encoder(layers: int = 1):
    return {
        "doc": "A Transformer encoder: token embedding, sinusoidal positions, and its encoder layer (open the block "
               "and raise its ×N for a deeper stack).",
        "params": [param("vocab", "int", 12, "number of distinct tokens", minimum=2),
                   param("d_model", "int", 64, "token width", minimum=1),
                   param("heads", "int", 4, "attention heads", minimum=1),
                   param("dim_feedforward", "int", 128, "feed-forward width", minimum=1),
                   param("dropout", "float", 0.0, "dropout rate", minimum=0.0, maximum=1.0)],
        "output": "layers",
        "nodes": [node("tokens", "Port"),
                  node("embed", "Embedding", num_embeddings="$vocab", embedding_dim="$d_model"),
                  node("pos", "PositionalEncoding"),
                  node("layers", "TransformerEncoderBlock", repeat=layers, d_model="$d_model", heads="$heads",
                       dim_feedforward="$dim_feedforward", dropout="$dropout")],
        "edges": chain("tokens", "embed", "pos", "layers"),
    }


def transformer_decoder(layers: int = 1):
    return {
        "doc": "A Transformer decoder: token embedding, sinusoidal positions, its decoder layer (attending to the "
               "encoder's output; open the block and raise its ×N for more), and a linear head over the vocabulary.",
        "params": [param("vocab", "int", 12, "number of distinct tokens", minimum=2),
                   param("d_model", "int", 64, "token width", minimum=1),
                   param("heads", "int", 4, "attention heads", minimum=1),
                   param("dim_feedforward", "int", 128, "feed-forward width", minimum=1),
                   param("dropout", "float", 0.0, "dropout rate", minimum=0.0, maximum=1.0)],
        "output": "head",
        "nodes": [node("tokens", "Port"), node("memory", "Port"),
                  node("embed", "Embedding", num_embeddings="$vocab", embedding_dim="$d_model"),
                  node("pos", "PositionalEncoding"),
                  node("layers", "TransformerDecoderBlock", repeat=layers, d_model="$d_model", heads="$heads",
                       dim_feedforward="$dim_feedforward", dropout="$dropout"),
                  node("head", "Linear", out_features="$vocab")],
        "edges": [*chain("tokens", "embed", "pos"), edge("pos", "layers", "x"), edge("memory", "layers", "memory"),
                  edge("layers", "head")],
    }


SQUEEZE_EXCITATION = {
    "doc": "Squeeze-and-Excitation: average each channel to one number, pass through a small bottleneck, and "
           "scale the channels by the result (a learned per-channel gate).",
    "params": [param("channels", "int", 64, "channels of the input", minimum=1),
               param("reduction", "int", 4, "how much the bottleneck narrows", minimum=1)],
    "output": "scale",
    "nodes": [node("x", "Port"), node("squeeze", "AdaptiveAvgPool2d", output_size=1),
              node("fc1", "Conv2d", out_channels="$channels // reduction", kernel_size=1, in_channels="$channels"),
              node("relu", "ReLU"), node("fc2", "Conv2d", out_channels="$channels", kernel_size=1),
              node("gate", "Sigmoid"), node("scale", "Multiply")],
    "edges": [*chain("x", "squeeze", "fc1", "relu", "fc2", "gate"), edge("x", "scale", "1"), edge("gate", "scale", "2")],
}

INCEPTION = {
    "doc": "GoogLeNet's Inception module: four branches side by side (1×1; 1×1→3×3; 1×1→5×5; 3×3 max-pool→1×1), "
           "their channels concatenated.",
    "params": [param("ch1x1", "int", 16, "1×1 branch", minimum=1), param("ch3x3red", "int", 16, "before the 3×3",
               minimum=1), param("ch3x3", "int", 32, "3×3 branch", minimum=1),
               param("ch5x5red", "int", 4, "before the 5×5", minimum=1), param("ch5x5", "int", 8, "5×5 branch",
               minimum=1), param("pool_proj", "int", 8, "after the pool", minimum=1)],
    "output": "concat",
    "nodes": [node("x", "Port"),
              node("branch1", "Conv2d", out_channels="$ch1x1", kernel_size=1),
              node("branch2_reduce", "Conv2d", out_channels="$ch3x3red", kernel_size=1),
              node("branch2", "Conv2d", out_channels="$ch3x3", kernel_size=3, padding=1),
              node("branch3_reduce", "Conv2d", out_channels="$ch5x5red", kernel_size=1),
              node("branch3", "Conv2d", out_channels="$ch5x5", kernel_size=5, padding=2),
              node("branch4_pool", "MaxPool2d", kernel_size=3, stride=1, padding=1),
              node("branch4", "Conv2d", out_channels="$pool_proj", kernel_size=1),
              node("concat", "Concat", dim=1)],
    "edges": [edge("x", "branch1"), *chain("x", "branch2_reduce", "branch2"), *chain("x", "branch3_reduce", "branch3"),
              *chain("x", "branch4_pool", "branch4"), edge("branch1", "concat", "1"), edge("branch2", "concat", "2"),
              edge("branch3", "concat", "3"), edge("branch4", "concat", "4")],
}

DOUBLE_CONV = {
    "doc": "Two 3×3 convolutions, each with BatchNorm and ReLU: U-Net's basic unit.",
    "params": [param("out_channels", "int", 32, "channels out", minimum=1)],
    "output": "relu2", "container": "sequential",
    "nodes": [node("x", "Port"),
              node("conv1", "Conv2d", out_channels="$out_channels", kernel_size=3, padding=1, bias=False),
              node("bn1", "BatchNorm2d"), node("relu1", "ReLU"),
              node("conv2", "Conv2d", out_channels="$out_channels", kernel_size=3, padding=1, bias=False),
              node("bn2", "BatchNorm2d"), node("relu2", "ReLU")],
    "edges": chain("x", "conv1", "bn1", "relu1", "conv2", "bn2", "relu2"),
}

UNET_DOWN = {
    "doc": "A U-Net encoder stage: halve the resolution with max-pooling, then a double convolution.",
    "params": [param("out_channels", "int", 64, "channels out", minimum=1)],
    "output": "conv",
    "nodes": [node("x", "Port"), node("pool", "MaxPool2d", kernel_size=2),
              node("conv", "DoubleConv", out_channels="$out_channels")],
    "edges": chain("x", "pool", "conv"),
}

UNET_UP = {
    "doc": "A U-Net decoder stage: double the resolution with a transposed convolution, concatenate the skip "
           "connection from the encoder stage of the same size, then a double convolution.",
    "params": [param("out_channels", "int", 32, "channels out", minimum=1)],
    "output": "conv",
    "nodes": [node("x", "Port"), node("skip", "Port"),
              node("up", "ConvTranspose2d", out_channels="$out_channels", kernel_size=2, stride=2),
              node("concat", "Concat", dim=1), node("conv", "DoubleConv", out_channels="$out_channels")],
    "edges": [edge("x", "up"), edge("up", "concat", "1"), edge("skip", "concat", "2"), edge("concat", "conv")],
}


def example(name, definitions, shape, dtype="float", ports=None):
    """A library file: the block's definitions and a tiny design that uses it, so the file opens as a design."""
    ports = ports or ["x"]
    nodes = [node(p, "Input", shape=shape, dtype=dtype) for p in ports]
    nodes.append(node("block", name))
    edges = [edge(p, "block", p if len(ports) > 1 else None) for p in ports]
    return {"layerlab": 2, "name": name, "description": definitions[name]["doc"],
            "definitions": definitions, "nodes": nodes, "edges": edges}


def library():
    enc, pre_enc = encoder_block(False), encoder_block(True)
    dec, pre_dec = decoder_block(False), decoder_block(True)
    files = {
        "BasicBlock": example("BasicBlock", {"Downsample": DOWNSAMPLE, "BasicBlock": BASIC_BLOCK}, [64, 16, 16]),
        "Bottleneck": example("Bottleneck", {"Downsample": DOWNSAMPLE, "Bottleneck": BOTTLENECK}, [256, 16, 16]),
        "TransformerEncoderBlock": example("TransformerEncoderBlock", {"TransformerEncoderBlock": enc}, [16, 64]),
        "PreNormEncoderBlock": example("PreNormEncoderBlock", {"PreNormEncoderBlock": pre_enc}, [16, 64]),
        "TransformerDecoderBlock": example("TransformerDecoderBlock", {"TransformerDecoderBlock": dec}, [16, 64],
                                           ports=["x", "memory"]),
        "PreNormDecoderBlock": example("PreNormDecoderBlock", {"PreNormDecoderBlock": pre_dec}, [16, 64],
                                       ports=["x", "memory"]),
        "LSTMEncoder": example("LSTMEncoder", {"LSTMEncoder": rnn_encoder("LSTM")}, [8], "long", ["tokens"]),
        "GRUEncoder": example("GRUEncoder", {"GRUEncoder": rnn_encoder("GRU")}, [8], "long", ["tokens"]),
        "TransformerEncoder": example("TransformerEncoder", {"TransformerEncoderBlock": enc,
                                                             "TransformerEncoder": transformer_encoder()},
                                      [8], "long", ["tokens"]),
        "SqueezeExcitation": example("SqueezeExcitation", {"SqueezeExcitation": SQUEEZE_EXCITATION}, [64, 8, 8]),
        "Inception": example("Inception", {"Inception": INCEPTION}, [32, 16, 16]),
        "DoubleConv": example("DoubleConv", {"DoubleConv": DOUBLE_CONV}, [3, 32, 32]),
        "UNetDown": example("UNetDown", {"DoubleConv": DOUBLE_CONV, "UNetDown": UNET_DOWN}, [32, 32, 32]),
    }
    # Blocks with two inputs of different kinds: their example design wires each input explicitly.
    lstm_dec = {"LSTMEncoder": rnn_encoder("LSTM"), "LSTMDecoder": rnn_decoder("LSTM")}
    gru_dec = {"GRUEncoder": rnn_encoder("GRU"), "GRUDecoder": rnn_decoder("GRU")}
    tdec = {"TransformerEncoderBlock": enc, "TransformerEncoder": transformer_encoder(),
            "TransformerDecoderBlock": dec, "TransformerDecoder": transformer_decoder()}
    files["LSTMDecoder"] = seq2seq_example("LSTMDecoder", lstm_dec, "LSTMEncoder")
    files["GRUDecoder"] = seq2seq_example("GRUDecoder", gru_dec, "GRUEncoder")
    files["TransformerDecoder"] = seq2seq_example("TransformerDecoder", tdec, "TransformerEncoder")
    files["UNetUp"] = {"layerlab": 2, "name": "UNetUp", "description": UNET_UP["doc"],
                       "definitions": {"DoubleConv": DOUBLE_CONV, "UNetUp": UNET_UP},
                       "nodes": [node("x", "Input", shape=[64, 8, 8]), node("skip", "Input", shape=[32, 16, 16]),
                                 node("block", "UNetUp")],
                       "edges": [edge("x", "block", "x"), edge("skip", "block", "skip")]}
    return files


def seq2seq_example(name, definitions, encoder):
    return {"layerlab": 2, "name": name, "description": definitions[name]["doc"], "definitions": definitions,
            "nodes": [node("src", "Input", shape=[8], dtype="long"), node("tgt", "Input", shape=[8], dtype="long"),
                      node("encoder", encoder), node("block", name)],
            "edges": [edge("src", "encoder"), edge("tgt", "block", "tokens"),
                      edge("encoder", "block", "state" if "Transformer" not in name else "memory")]}


def design(name, description, training, definitions, nodes, edges):
    return {"layerlab": 2, "name": name, "description": description, "meta": {"training": training},
            "definitions": definitions, "nodes": nodes, "edges": edges}


def templates():
    resnet_defs = {"Downsample": DOWNSAMPLE, "BasicBlock": BASIC_BLOCK}
    enc, dec = encoder_block(False), decoder_block(False)
    gpt_block = encoder_block(True)
    return {
        "resnet18": design(
            "resnet18",
            "ResNet-18 (He et al., 2015) for 224×224 images, built from BasicBlocks: a 7×7 stem, four stages of "
            "two blocks each (the first of stages 2–4 halves the resolution and doubles the channels), global "
            "average pooling and a classifier. Its parameters have torchvision's names; train it on your own images.",
            # No built-in set is ImageNet-sized: it trains on the user's own image-folder zip.
            {"dataset": "image_zip", "epochs": 10, "lr": 0.1, "optimizer": "momentum", "batch_size": 32}, resnet_defs,
            [node("x", "Input", shape=[3, 224, 224]),
             node("conv1", "Conv2d", out_channels=64, kernel_size=7, stride=2, padding=3, bias=False),
             node("bn1", "BatchNorm2d"), node("relu", "ReLU"),
             node("maxpool", "MaxPool2d", kernel_size=3, stride=2, padding=1),
             node("layer1", "BasicBlock", repeat=2, planes=64),
             node("layer2", "BasicBlock", repeat=2, planes=128, stride=2, downsample=True),
             node("layer3", "BasicBlock", repeat=2, planes=256, stride=2, downsample=True),
             node("layer4", "BasicBlock", repeat=2, planes=512, stride=2, downsample=True),
             node("avgpool", "AdaptiveAvgPool2d", output_size=1), node("flatten", "Flatten"),
             node("fc", "Linear", out_features=1000)],
            chain("x", "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool",
                  "flatten", "fc")),
        "resnet_mini": design(
            "resnet_mini",
            "A small ResNet for 8×8 digits: a stem, then two residual BasicBlocks — each adds its input back to "
            "its output (the skip connection), so gradients flow straight through; the second halves the "
            "resolution and needs a 1×1 downsample shortcut. Open a block to see inside.",
            {"dataset": "digits", "epochs": 15, "lr": 0.002, "optimizer": "adam", "batch_size": 64}, resnet_defs,
            [node("x", "Input", shape=[1, 8, 8]),
             node("stem", "Conv2d", out_channels=16, kernel_size=3, padding=1, bias=False),
             node("stem_bn", "BatchNorm2d"), node("stem_relu", "ReLU"),
             node("layer1", "BasicBlock", planes=16),
             node("layer2", "BasicBlock", planes=32, stride=2, downsample=True),
             node("gap", "AdaptiveAvgPool2d", output_size=1), node("flat", "Flatten"),
             node("fc", "Linear", out_features=10)],
            chain("x", "stem", "stem_bn", "stem_relu", "layer1", "layer2", "gap", "flat", "fc")),
        "transformer_classifier": design(
            "transformer_classifier",
            "A Transformer encoder for sentiment: token embeddings plus positions, two encoder blocks "
            "(self-attention and a feed-forward network, each with a residual add and LayerNorm — open one to see), "
            "the mean over tokens, and a linear classifier.",
            {"dataset": "sentiment", "epochs": 10, "lr": 0.001, "optimizer": "adamw", "batch_size": 32},
            {"TransformerEncoderBlock": enc},
            [node("tokens", "Input", shape=[24], dtype="long"),
             node("embed", "Embedding", num_embeddings=512, embedding_dim=64, padding_idx=0),
             node("pos", "PositionalEncoding"),
             node("encoder", "TransformerEncoderBlock", repeat=2, d_model=64, heads=4, dim_feedforward=128),
             node("pool", "SequencePool", mode="mean"), node("out", "Linear", out_features=2)],
            chain("tokens", "embed", "pos", "encoder", "pool", "out")),
        "transformer_seq2seq": design(
            "transformer_seq2seq",
            "A Transformer encoder–decoder: the Encoder reads the source; the Decoder attends to its own earlier "
            "tokens (causal self-attention) and to the encoder's output (cross-attention). On 'reverse' the "
            "cross-attention map shows the anti-diagonal. Open either block to see its layers.",
            {"dataset": "reverse", "epochs": 30, "lr": 0.002, "optimizer": "adam", "batch_size": 64},
            # One layer each, so the cross-attention map of the one decoder layer shows the reversal cleanly.
            {"TransformerEncoderBlock": enc, "TransformerEncoder": transformer_encoder(layers=1),
             "TransformerDecoderBlock": dec, "TransformerDecoder": transformer_decoder(layers=1)},
            [node("src", "Input", shape=[8], dtype="long"), node("tgt", "Input", shape=[8], dtype="long"),
             node("encoder", "TransformerEncoder", vocab=12, d_model=64, heads=4, dim_feedforward=128),
             node("decoder", "TransformerDecoder", vocab=12, d_model=64, heads=4, dim_feedforward=128)],
            [edge("src", "encoder"), edge("tgt", "decoder", "tokens"), edge("encoder", "decoder", "memory")]),
        "seq2seq_lstm": design(
            "seq2seq_lstm",
            "An LSTM Encoder → Decoder: the encoder reads the source sequence into its final state, which starts "
            "the decoder; the decoder reads the target shifted right (teacher forcing) and predicts each next token.",
            {"dataset": "reverse", "epochs": 30, "lr": 0.005, "optimizer": "adam", "batch_size": 64},
            {"LSTMEncoder": rnn_encoder("LSTM"), "LSTMDecoder": rnn_decoder("LSTM")},
            [node("src", "Input", shape=[8], dtype="long"), node("tgt", "Input", shape=[8], dtype="long"),
             node("encoder", "LSTMEncoder", vocab=12, embed_dim=32, hidden=128),
             node("decoder", "LSTMDecoder", vocab=12, embed_dim=32, hidden=128)],
            [edge("src", "encoder"), edge("tgt", "decoder", "tokens"), edge("encoder", "decoder", "state")]),
        "gpt_tiny": design(
            "gpt_tiny",
            "A GPT-style language model: token and learned position embeddings, two pre-norm blocks of causal "
            "self-attention (each token sees only earlier ones) and a feed-forward net, a final LayerNorm and a "
            "head predicting the next token.",
            {"dataset": "next_token", "epochs": 20, "lr": 0.003, "optimizer": "adamw", "batch_size": 64},
            {"PreNormEncoderBlock": gpt_block},
            [node("tokens", "Input", shape=[17], dtype="long"),
             node("embed", "Embedding", num_embeddings=13, embedding_dim=64),
             node("pos", "PositionalEncoding", kind="learned", max_len=64),
             node("blocks", "PreNormEncoderBlock", repeat=2, d_model=64, heads=4, dim_feedforward=256, dropout=0.0,
                  causal=True),
             node("ln_f", "LayerNorm"), node("head", "Linear", out_features=13)],
            chain("tokens", "embed", "pos", "blocks", "ln_f", "head")),
        "unet_small": design(
            "unet_small",
            "A small U-Net that learns to reproduce 8×8 digits: an encoder stage halves the resolution, a decoder "
            "stage brings it back and concatenates the skip connection from the same resolution, so fine detail "
            "survives the bottleneck.",
            {"dataset": "digits", "task": "reconstruction", "epochs": 20, "lr": 0.003, "optimizer": "adam",
             "batch_size": 32},
            {"DoubleConv": DOUBLE_CONV, "UNetDown": UNET_DOWN, "UNetUp": UNET_UP},
            [node("x", "Input", shape=[1, 8, 8]), node("inc", "DoubleConv", out_channels=16),
             node("down", "UNetDown", out_channels=32), node("up", "UNetUp", out_channels=16),
             node("head", "Conv2d", out_channels=1, kernel_size=1), node("out", "Sigmoid")],
            [edge("x", "inc"), edge("inc", "down"), edge("down", "up", "x"), edge("inc", "up", "skip"),
             *chain("up", "head", "out")]),
    }


def main() -> None:
    out = ROOT / "assets" / "blocks"
    out.mkdir(parents=True, exist_ok=True)
    for name, data in library().items():
        (out / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {len(library())} library blocks to {out}")
    for name, data in templates().items():
        (ROOT / "assets" / "templates" / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {len(templates())} templates built on blocks")


if __name__ == "__main__":
    main()
