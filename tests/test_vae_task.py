"""The ``vae`` task and the VAE template: the loss is the reconstruction loss plus the KL divergence of the latent
code (equal to torch.distributions' KL), a model that doesn't return (reconstruction, mu, logvar) is refused in
words, the reparameterization's noise follows the run's seed, and the template's loss falls in the app's engine
(its exported script reproducing the run is tests/test_script_fidelity.py, which takes every template)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from builder.graph import Edge, Node
from builder.templates import load_template
from codegen.loader import build_model
from codegen.source import generate_model
from data.datasets import load_dataset
from export.script import script_config
from training.engine import train
from training.tasks import FitError, TaskPlan
from ui.train.train_insight import sample_predictions


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_the_loss_is_reconstruction_plus_kl_per_value(loss):
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(6, 64, generator=generator)
    recon = torch.rand(6, 64, generator=generator).clamp(0.05, 0.95)
    mu, logvar = torch.randn(6, 8, generator=generator), torch.randn(6, 8, generator=generator)
    plan = TaskPlan("vae", loss, "probabilities")
    got = plan.criterion()((recon, mu, logvar), plan.target_for((x,), torch.zeros(6)))
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(dim=1).mean()
    reconstruction = F.binary_cross_entropy(recon, x) if loss == "bce" else F.mse_loss(recon, x)
    torch.testing.assert_close(got, reconstruction + kl / 64)
    if loss == "bce":  # pytorch/examples' VAE loss (summed BCE + KLD), per value of the batch
        summed = F.binary_cross_entropy(recon, x, reduction="sum") + kl * 6
        torch.testing.assert_close(got, summed / x.numel())
    torch.testing.assert_close(plan.predict((recon, mu, logvar)), recon)


def _digits():
    return load_dataset("digits", seed=0, flat=True)


def test_a_model_without_mu_and_logvar_is_refused_in_words():
    graph = load_template("vae")
    one_output = graph.with_nodes(n for n in graph.nodes if n.id not in ("mu_out", "logvar_out")).with_edges(
        e for e in graph.edges if e.target not in ("mu_out", "logvar_out"))
    with pytest.raises(FitError) as caught:
        train(one_output, _digits(), script_config(graph, {"epochs": 1}))
    assert [p.message for p in caught.value.problems] == [
        "a VAE returns three outputs, its reconstruction, mu and logvar (in that order: the blocks' order), but the "
        "model has 1 (‘recon’)"]
    narrow = graph.with_nodes([*graph.nodes, Node("narrow", "Linear", {"out_features": 4})]).with_edges(
        [*(e for e in graph.edges if e.target != "logvar_out"), Edge("logvar", "narrow"),
         Edge("narrow", "logvar_out")])
    with pytest.raises(FitError) as caught:
        train(narrow, _digits(), script_config(graph, {"epochs": 1}))
    assert [p.message for p in caught.value.problems] == [
        "a VAE's mu and logvar have one shape, but ‘mu_out’ is (N, 8) and ‘logvar_out’ is (N, 4)"]


def test_the_template_reparameterizes_with_the_runs_noise():
    source = generate_model(load_template("vae"))
    for line in ("logvar = self.logvar(x)  # (N, 8)", "half = logvar * 0.5  # (N, 8)",
                 "std = torch.exp(half)  # (N, 8)", "eps = torch.randn_like(logvar)  # (N, 8)", "noise = eps * std  # (N, 8)", "z = mu + noise  # (N, 8)"):
        assert line in source.code, (line, source.code)
    model = build_model(source, seed=0).eval()
    x = torch.rand(4, 64)
    with torch.no_grad():
        torch.manual_seed(5)
        first = model(x)
        torch.manual_seed(5)
        again = model(x)
        other = model(x)
    assert [tuple(t.shape) for t in first] == [(4, 64), (4, 8), (4, 8)]
    torch.testing.assert_close(first, again, rtol=0, atol=0)  # the same seed draws the same ε
    assert not torch.equal(first[0], other[0])  # and the next draw is another
    torch.testing.assert_close(first[1], other[1])  # mu doesn't depend on ε


def test_the_templates_loss_falls_in_the_engine():
    graph = load_template("vae")  # its own settings: 30 epochs of 1,257 digits (~10 s)
    data = _digits()
    run = train(graph, data, script_config(graph, {}))
    assert run.status == "finished", run.message
    train_losses = [h["train_loss"] for h in run.history]
    val_losses = [h["val_loss"] for h in run.history]
    assert train_losses[-1] < 0.8 * train_losses[0] and val_losses[-1] < 0.9 * val_losses[0], (train_losses,
                                                                                                 val_losses)
    # It reconstructs each digit, not the average one (measured: 0.042 against 0.074).
    mean_image = data.train.inputs[0].mean(dim=0)
    assert run.test_metrics["mse"] < 0.75 * float(((data.test.inputs[0] - mean_image) ** 2).mean())
    # The Train tab's predictions are its reconstructions (its first output), beside the inputs they rebuild.
    shown = sample_predictions(run.model, run.plan, data.test, n=8)
    assert shown.predicted.shape == shown.actual.shape == (8, 64)
    assert float(((shown.predicted - shown.actual) ** 2).mean()) < 0.1
