"""The CPU presets end to end on dSprites (slow: cpu-quick's 6,000 steps of 16 pairs, cpu-quick-ada's
2,000 of 64, and a β-VAE of each: 11 min 38 s on 2 CPU cores on 2026-12-04, all four assertions held).

* ``cpu-quick`` (GVAE with the changed factors known, ``sparsity 16``) must beat a β-VAE with its
  settings (β, latents, sparsity, schedule) and budget, and reach the issue's targets: MIG ≥ 0.25 and
  OMES ≥ 0.5 (this seed: MIG 0.32, OMES 0.529 on 2026-12-04; both targets in 6 of 6 two-thread draws
  and 5 of 6 one-thread draws — docs/notes/training-lab-notes.md, "Sparsity: finishing the collapse").
  This seed's run is deterministic at two threads, so the assertion checks that training still
  produces this draw; the docs count how often other draws pass.
* ``cpu-quick-ada`` (Ada-GVAE, changed factors unknown) must beat its β-VAE too: the paper's finding.
  Its OMES stays below 0.5 at this budget (docs/notes/training-lab-notes.md), so no target is asserted for it.

The runs use two torch threads (two CPU shards), as measured: at this budget the outcome is a chaotic
function of the float rounding, so another thread or shard count is another draw (docs/notes/training-lab-notes.md
lists the seeds measured; SEED's figures there were measured in exactly this configuration).
"""

import dataclasses

import pytest
import torch

from disentkit.data import get_dataset
from disentkit.train import TrainConfig, apply_preset, train
from disentkit.train.runs import quick_scores as scores

pytestmark = pytest.mark.slow
SEED = 1
PRESETS = ("cpu-quick", "cpu-quick-ada")


@pytest.fixture(scope="module")
def quick_scores(tmp_path_factory):
    """Scores (MIG, OMES) of each CPU preset and of a β-VAE with the same settings and budget."""
    tmp = tmp_path_factory.mktemp("quick")
    dataset = get_dataset("dsprites")
    configs = {}
    for preset in PRESETS:
        configs[preset] = apply_preset(TrainConfig(device="cpu", seed=SEED), preset)
        # The baseline: the same preset (β, latents, schedule) without the pairs.
        configs[f"{preset}/beta-vae"] = dataclasses.replace(configs[preset], method="beta-vae")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        return {
            name: scores(
                train(config, tmp / name.replace("/", "-"), dataset=dataset, progress=False), dataset
            ).summary()
            for name, config in configs.items()
        }
    finally:
        torch.set_num_threads(threads)


def test_quick_preset_reaches_the_mig_target(quick_scores):
    assert quick_scores["cpu-quick"]["mig"] >= 0.25


def test_quick_preset_reaches_the_omes_target(quick_scores):
    assert quick_scores["cpu-quick"]["omes"] >= 0.5


@pytest.mark.parametrize("preset", PRESETS)
def test_weak_supervision_beats_beta_vae(quick_scores, preset):
    weak, vae = quick_scores[preset], quick_scores[f"{preset}/beta-vae"]
    assert weak["omes"] > vae["omes"] and weak["mig"] > vae["mig"]
