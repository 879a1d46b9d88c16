"""Code generation. Importing it gives validation its shape oracle for tensor ops (torch itself, on meta
tensors, imported on the first question): the app, the CLI and the tests all import codegen."""

from codegen.meta_shapes import register as _register_oracle

_register_oracle()
