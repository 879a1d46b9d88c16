# LayerLab corpus edit (see ../../README.md): the original __init__.py imports every model family (detection,
# video, ...); here each model file is imported by its own module path instead.
