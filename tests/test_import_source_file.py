"""`layerlab import FILE.py:Class --args JSON`: config objects built from --args, files inside packages (issue 20)."""

from __future__ import annotations

import json

import pytest

from importer import ImportFailure
from importer.source_file import construct

CONFIG_MODEL = '''
from dataclasses import dataclass
from torch import nn

@dataclass
class NetConfig:
    width: int = 8
    classes: int = 3

class Net(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.fc = nn.Linear(config.width, config.classes)
'''


def test_a_dataclass_config_is_built_from_the_keys(tmp_path):
    (tmp_path / "net.py").write_text(CONFIG_MODEL)
    model = construct(f"{tmp_path / 'net.py'}:Net", json.dumps({"width": 5, "classes": 2}))
    assert (model.fc.in_features, model.fc.out_features) == (5, 2)
    nested = construct(f"{tmp_path / 'net.py'}:Net", json.dumps({"config": {"width": 4}}))
    assert nested.fc.in_features == 4


def test_keys_no_config_takes_are_refused_in_words(tmp_path):
    (tmp_path / "net.py").write_text(CONFIG_MODEL)
    with pytest.raises(ImportFailure) as caught:
        construct(f"{tmp_path / 'net.py'}:Net", json.dumps({"depth": 5}))
    assert "Net(config) takes one config object" in str(caught.value) and "NetConfig" in str(caught.value)


def test_a_file_in_a_package_imports_with_its_relative_imports(tmp_path):
    package = tmp_path / "corpus_pkg_issue20"
    package.mkdir()
    (package / "__init__.py").write_text("from .model import Net\n")
    (package / "parts.py").write_text("from torch import nn\nWIDTH = 6\ndef layer():\n    return nn.Linear(WIDTH, 2)\n")
    (package / "model.py").write_text("from torch import nn\nfrom .parts import *\n\nclass Net(nn.Module):\n"
                                      "    def __init__(self):\n        super().__init__()\n        self.fc = layer()\n")
    assert construct(f"{package / 'model.py'}:Net").fc.in_features == 6
