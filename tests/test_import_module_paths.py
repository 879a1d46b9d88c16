"""An imported model keeps its module paths through containers (issue 20: the ORIGINAL state dict loads strictly,
by its own key names, into the generated code): an nn.ModuleDict (nanoGPT's ``transformer.wte``), an nn.ModuleList
of nn.ModuleLists (vit-pytorch's ``layers.0.0``) and a child registered under a name that is no identifier
(torchvision's AnyStage: ``add_module("block1-0", …)``). Real torch, no mocks."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from builder.graph import MODULE_PATH, Graph, Node
from builder.project import load_project, to_json
from builder.validate import validate
from codegen.loader import build_model
from codegen.source import generate_model
from importer import example_inputs, import_module


class Residual(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(x))


class Stage(nn.Sequential):
    """torchvision's AnyStage: children added under names that are no identifiers."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        for i in range(2):
            self.add_module(f"block1-{i}", nn.Linear(dim, dim))


class Containers(nn.Module):
    def __init__(self, dim: int = 8, vocab: int = 20) -> None:
        super().__init__()
        self.transformer = nn.ModuleDict(dict(wte=nn.Embedding(vocab, dim), ln_f=nn.LayerNorm(dim)))
        self.layers = nn.ModuleList([nn.ModuleList([Residual(dim), nn.Linear(dim, dim)]) for _ in range(2)])
        self.stage = Stage(dim)
        self.head = nn.Linear(dim, 3)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.transformer.wte(idx)
        for block, ff in self.layers:
            x = block(x) + x
            x = ff(x) + x
        x = self.transformer.ln_f(x)
        return self.head(self.stage(x))


def _imported():
    torch.manual_seed(0)
    model = Containers().eval()
    result = import_module(model, example_inputs([(5,)], ["long"], high=20))
    return model, result


def test_containers_import_verified_by_the_originals_own_keys():
    model, result = _imported()
    assert result.verification.same and result.verification.by_name, result.verification.note
    assert not result.problems
    rebuilt = build_model(generate_model(result.graph))
    rebuilt.load_state_dict(model.state_dict(), strict=True)  # the original's keys, as they are
    assert list(rebuilt.state_dict()) == list(model.state_dict())


def test_the_generated_source_writes_the_containers_as_a_person_would():
    _, result = _imported()
    code = generate_model(result.graph).code
    assert "self.transformer = nn.ModuleDict(dict(wte=nn.Embedding(20, 8), ln_f=nn.LayerNorm(8)))" in code
    assert "self.transformer.wte(idx)" in code and "self.transformer.ln_f(" in code
    assert "        self.layers = nn.ModuleList([\n" \
           "            nn.ModuleList([Residual(), nn.Linear(8, 8)]),\n" \
           "            nn.ModuleList([Residual(), nn.Linear(8, 8)]),\n" \
           "        ])\n" in code
    assert "self.layers[0][0](" in code and "self.layers[1][1](" in code
    assert "self.add_module('block1-0', nn.Linear(in_features, 8))" in code  # the name reaches the source by repr()
    assert "self.get_submodule('block1-1')(" in code
    assert "self.transformer_wte" not in code and "self.layers_0_0" not in code and "block1_0" not in code


def test_the_path_is_data_in_the_design_and_survives_save_and_load():
    model, result = _imported()
    paths = {n.id: n.meta.get(MODULE_PATH) for n in result.graph.nodes}
    assert paths["transformer_wte"] == "transformer.wte" and paths["layers_0_0"] == "layers.0.0"
    assert paths["head"] is None  # where the id says it, nothing is recorded
    stage = result.graph.definitions[result.graph.node("stage").type]
    assert {n.meta.get(MODULE_PATH) for n in stage.graph.nodes} >= {"block1-0", "block1-1"}
    loaded = load_project(to_json(result.graph))
    assert validate(loaded).valid
    build_model(generate_model(loaded)).load_state_dict(model.state_dict(), strict=True)


def test_a_drawn_design_without_paths_names_attributes_by_its_ids_as_before():
    graph = Graph("drawn", (Node("x", "Input", {"shape": [4]}), Node("block1-0", "Linear", {"out_features": 2})))
    graph = graph.with_edges([*graph.edges, *_edge("x", "block1-0")])
    code = generate_model(graph).code
    assert "self.block1_0 = nn.Linear(4, 2)" in code and "add_module" not in code


def test_a_path_that_cannot_be_kept_falls_back_to_the_id():
    """A module path whose first name the class already uses (``forward``) or that is malformed keeps the id."""
    nodes = (Node("x", "Input", {"shape": [4]}),
             Node("a", "Linear", {"out_features": 4}, meta={MODULE_PATH: "forward.a"}),
             Node("b", "Linear", {"out_features": 2}, meta={MODULE_PATH: "c..d"}))
    graph = Graph("drawn", nodes).with_edges([*_edge("x", "a"), *_edge("a", "b")])
    code = generate_model(graph).code
    assert "self.a = nn.Linear(4, 4)" in code and "self.b = nn.Linear(4, 2)" in code
    problems = load_project_problems(to_json(graph))
    assert any("module_path" in p for p in problems)


def load_project_problems(text: str) -> list[str]:
    from builder.project import ProjectError

    try:
        load_project(text)
    except ProjectError as err:
        return list(getattr(err, "problems", [str(err)]))
    return []


def _edge(source: str, target: str):
    from builder.graph import Edge

    return [Edge(source, target)]


def test_an_ordered_dict_sequential_with_names_that_are_no_identifiers():
    """``nn.Sequential(OrderedDict(...))`` with keys like ``conv-1``: the design keeps them by name."""
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict([("conv-1", nn.Conv2d(3, 4, 3)), ("act", nn.ReLU()),
                                       ("flat", nn.Flatten()), ("out-fc", nn.Linear(4 * 6 * 6, 2))])).eval()
    result = import_module(model, example_inputs([(3, 8, 8)], ["float"]))
    assert result.verification.by_name and result.verification.same, result.verification.note
    build_model(generate_model(result.graph)).load_state_dict(model.state_dict(), strict=True)


class AttentionInDict(nn.Module):
    """An attention layer inside an nn.ModuleDict, with a second output: the dict is inlined into its parent."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict(dict(attn=nn.MultiheadAttention(8, 2, batch_first=True), fc=nn.Linear(8, 8)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks.attn(x, x, x, need_weights=False)[0]
        return self.blocks.fc(y) + y


def test_an_attention_layer_at_a_kept_path_is_found_for_its_heatmaps():
    from training.attention import attention_layers

    torch.manual_seed(0)
    model = AttentionInDict().eval()
    result = import_module(model, example_inputs([(4, 8)], ["float"]))
    assert result.verification.by_name, result.verification.note
    source = generate_model(result.graph)
    layers = attention_layers(build_model(source, seed=0), source)
    assert [(a.path, a.top) for a in layers] == [("blocks.attn", "blocks_attn")]


def test_ungrouping_keeps_a_single_instances_paths_and_drops_a_repeats():
    """Paths go with the ids: a single instance's layers keep both; a repeat's copies, renamed by their path
    (``h_0_fc``), would all claim one path, so they keep none."""
    from builder.graph import Definition, Edge
    from builder.group_edits import ungroup

    inner = Graph("Inner", (Node("x", "Port"), Node("layers_0", "Linear", {"out_features": 4},
                                                    meta={MODULE_PATH: "layers.0"})), (Edge("x", "layers_0"),))
    definition = Definition("Inner", inner, output="layers_0")
    for repeat, kept in ((1, "layers.0"), (2, None)):
        graph = Graph("m", (Node("x", "Input", {"shape": [4]}), Node("b", "Inner", repeat=repeat)), (Edge("x", "b"),),
                      definitions={"Inner": definition})
        flat = ungroup(graph, "b")
        assert [n.meta.get(MODULE_PATH) for n in flat.nodes if n.type == "Linear"] == [kept] * repeat
        assert validate(flat).valid


def test_weights_that_fit_only_under_the_designs_names_are_not_called_verified():
    """Without its module paths the design names the layers by their ids (transformer_wte): the outputs match with
    the weights copied across, but the original state dict does not load as it is, so it is not verified."""
    from dataclasses import replace

    from importer.verify import verify

    model, result = _imported()
    flattened = result.graph.with_nodes(replace(n, meta={k: v for k, v in n.meta.items() if k != MODULE_PATH})
                                        for n in result.graph.nodes)
    check = verify(flattened, model, 2, example_inputs([(5,)], ["long"], high=20), result.origins, result.renames)
    assert check.same and check.by_name is False, check.note
    assert check.note.startswith("not verified by name") and "transformer.wte.weight" in check.note, check.note
