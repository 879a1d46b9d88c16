# LayerLab corpus edit (see ../../README.md): the original __init__.py imports box and RoI operators written in C;
# the classification models need only these two pure-Python files, re-exported as the original does.
from .misc import Conv2dNormActivation, Conv3dNormActivation, FrozenBatchNorm2d, MLP, Permute, SqueezeExcitation
from .stochastic_depth import stochastic_depth, StochasticDepth
