# LayerLab corpus edit (see ../README.md): torchvision's own __init__.py loads its compiled C/CUDA operators
# (torchvision.extension, _meta_registrations), which don't load beside LayerLab's CPU torch build. This package holds
# only the pure-Python files the classification models need, copied verbatim from the torchvision 0.29.1 wheel.
__version__ = "0.29.1"
