"""The real-world import corpus: models written by others (see README.md for sources, licences and edits), each
with the constructor arguments and the input a user would give ``layerlab import``. Small configurations where the
class takes them, so the whole corpus imports in minutes on a CPU. One list: the bench and the tests read it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Entry:
    name: str
    ref: str  # FILE.py:Name, relative to this folder, as `layerlab import` takes it
    args: dict
    inputs: tuple[tuple[int, ...], ...]  # one sample's shape per input, without the batch
    dtypes: tuple[str, ...] = ()  # "long" for token ids; float otherwise
    vocab: int = 2

    @property
    def path_ref(self) -> str:
        return str(HERE / self.ref)

    @property
    def args_json(self) -> str:
        return json.dumps(self.args)


_TV = "torchvision/models/"
_IMG = ((3, 64, 64),)
_GPT = {"n_layer": 2, "n_head": 2, "n_embd": 32, "vocab_size": 50, "block_size": 16}
_VIT = {"image_size": 32, "patch_size": 8, "num_classes": 10, "dim": 32, "depth": 2, "heads": 2, "mlp_dim": 64,
        "dim_head": 16}

ENTRIES: tuple[Entry, ...] = (
    Entry("torchvision resnet18", _TV + "resnet.py:resnet18", {"num_classes": 10}, _IMG),
    Entry("torchvision resnet50", _TV + "resnet.py:resnet50", {"num_classes": 10}, _IMG),
    Entry("torchvision vgg11_bn", _TV + "vgg.py:vgg11_bn", {"num_classes": 10}, _IMG),
    Entry("torchvision alexnet", _TV + "alexnet.py:alexnet", {"num_classes": 10}, _IMG),
    Entry("torchvision squeezenet1_0", _TV + "squeezenet.py:squeezenet1_0", {"num_classes": 10}, _IMG),
    Entry("torchvision densenet121", _TV + "densenet.py:densenet121", {"num_classes": 10}, _IMG),
    Entry("torchvision googlenet", _TV + "googlenet.py:googlenet",
          {"num_classes": 10, "aux_logits": False, "init_weights": False}, _IMG),
    Entry("torchvision inception_v3", _TV + "inception.py:inception_v3",
          {"num_classes": 10, "aux_logits": False, "init_weights": False}, ((3, 80, 80),)),
    Entry("torchvision mobilenet_v2", _TV + "mobilenetv2.py:mobilenet_v2", {"num_classes": 10}, _IMG),
    Entry("torchvision mobilenet_v3_small", _TV + "mobilenetv3.py:mobilenet_v3_small", {"num_classes": 10}, _IMG),
    Entry("torchvision shufflenet_v2_x0_5", _TV + "shufflenetv2.py:shufflenet_v2_x0_5", {"num_classes": 10}, _IMG),
    Entry("torchvision efficientnet_b0", _TV + "efficientnet.py:efficientnet_b0", {"num_classes": 10}, _IMG),
    Entry("torchvision regnet_y_400mf", _TV + "regnet.py:regnet_y_400mf", {"num_classes": 10}, _IMG),
    Entry("torchvision convnext_tiny", _TV + "convnext.py:convnext_tiny", {"num_classes": 10}, _IMG),
    Entry("torchvision mnasnet0_5", _TV + "mnasnet.py:mnasnet0_5", {"num_classes": 10}, _IMG),
    Entry("torchvision VisionTransformer (small)", _TV + "vision_transformer.py:VisionTransformer",
          {"image_size": 32, "patch_size": 8, "num_layers": 2, "num_heads": 2, "hidden_dim": 32, "mlp_dim": 64,
           "num_classes": 10}, ((3, 32, 32),)),
    Entry("examples mnist Net", "examples/mnist/net.py:Net", {}, ((1, 28, 28),)),
    Entry("examples dcgan Generator", "examples/dcgan/models.py:Generator", {"ngpu": 1}, ((100, 1, 1),)),
    Entry("examples dcgan Discriminator", "examples/dcgan/models.py:Discriminator", {"ngpu": 1}, _IMG),
    Entry("examples vae VAE", "examples/vae/model.py:VAE", {}, ((1, 28, 28),)),
    Entry("examples super_resolution Net", "examples/super_resolution/model.py:Net", {"upscale_factor": 3},
          ((1, 32, 32),)),
    Entry("examples fast_neural_style TransformerNet", "examples/fast_neural_style/transformer_net.py:TransformerNet",
          {}, ((3, 32, 32),)),
    Entry("examples word_language_model LSTM", "examples/word_language_model/model.py:RNNModel",
          {"rnn_type": "LSTM", "ntoken": 50, "ninp": 32, "nhid": 32, "nlayers": 2}, ((16,),), ("long",), 50),
    Entry("examples word_language_model Transformer", "examples/word_language_model/model.py:TransformerModel",
          {"ntoken": 50, "ninp": 32, "nhead": 2, "nhid": 64, "nlayers": 2}, ((16,),), ("long",), 50),
    Entry("nanoGPT GPT", "nanogpt/model.py:GPT", {**_GPT, "dropout": 0.0}, ((16,),), ("long",), 50),
    Entry("nanoGPT Block (GPT-2 block)", "nanogpt/model.py:Block", {"n_head": 2, "n_embd": 32, "block_size": 16},
          ((16, 32),)),
    Entry("minGPT GPT", "mingpt/mingpt/model.py:GPT", {**_GPT, "model_type": None}, ((16,),), ("long",), 50),
    Entry("vit-pytorch ViT", "vit_pytorch/vit.py:ViT", _VIT, ((3, 32, 32),)),
    Entry("vit-pytorch SimpleViT", "vit_pytorch/simple_vit.py:SimpleViT", _VIT, ((3, 32, 32),)),
    Entry("Pytorch-UNet UNet", "pytorch_unet/unet/unet_model.py:UNet", {"n_channels": 3, "n_classes": 2},
          ((3, 32, 32),)),
    Entry("Pytorch-UNet UNet (bilinear)", "pytorch_unet/unet/unet_model.py:UNet",
          {"n_channels": 3, "n_classes": 2, "bilinear": True}, ((3, 32, 32),)),
)
