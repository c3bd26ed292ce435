"""Census, hotspots (planted clusters, fallback), the figure and the run pipeline with stand-in runs."""

import json
import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from disentkit.errors import DisentkitError
from disentkit.fragments import FingerprintSample, GaussianChannels, pairwise_information
from disentkit.fragments.analysis import census, channel_distances, find_hotspots, representatives
from disentkit.fragments.pipeline import analyze_posteriors, write_analysis


def _planted(rng, groups=3, per_group=24, loners=16, n=250):
    """Channels that are noisy copies of ``groups`` base signals, plus independent loners."""
    x = rng.normal(size=(n, groups + loners))
    mus, truth = [], []
    for g in range(groups):
        for _ in range(per_group):
            mus.append(x[:, g] * rng.uniform(0.8, 1.2) + 0.05 * rng.normal(size=n))
            truth.append(g)
    for k in range(loners):
        mus.append(x[:, groups + k])
        truth.append(-1)
    mu = np.stack(mus)[:, :, None]
    ch = GaussianChannels(mu, np.full_like(mu, np.log(0.05)), FingerprintSample.arange(n))
    return ch, np.array(truth)


@pytest.mark.parametrize("kind", ["vi", "nmi"])
def test_hotspots_recover_planted_clusters(rng, kind):
    ch, truth = _planted(rng)
    res = pairwise_information(ch)
    spots = find_hotspots(channel_distances(res.nmi, res.vi, kind), min_samples=20)
    assert spots.n_hotspots == 3
    planted = truth >= 0
    assert adjusted_rand_score(truth[planted], spots.labels[planted]) > 0.95
    # the representative of each hotspot belongs to it
    for h, k in representatives(res.nmi, spots.labels).items():
        assert spots.labels[k] == h


def test_too_few_channels_fall_back_with_a_warning(rng):
    ch, _ = _planted(rng, groups=2, per_group=6, loners=2, n=120)
    res = pairwise_information(ch)
    dist = channel_distances(res.nmi, res.vi)
    with pytest.warns(UserWarning, match="using min_samples=7"):
        spots = find_hotspots(dist, min_samples=20)
    assert spots.min_samples == 7
    with pytest.raises(DisentkitError, match="fewer than OPTICS' min_samples"):
        find_hotspots(dist, min_samples=20, fallback=False)
    with pytest.raises(DisentkitError, match="fewer than"):
        find_hotspots(dist[:3, :3])


def test_bad_distances_are_rejected():
    with pytest.raises(DisentkitError, match="finite and non-negative"):
        find_hotspots(np.full((30, 30), np.nan))
    with pytest.raises(DisentkitError, match="unknown distance"):
        channel_distances(np.eye(3), np.eye(3), "cosine")


def test_census_marks_inactive_channels(rng):
    n = 200
    mu = np.c_[rng.normal(size=n), np.zeros(n), 1e-3 * rng.normal(size=n)]
    ch = GaussianChannels.from_model(mu, np.zeros_like(mu), FingerprintSample.arange(n))
    table = census(pairwise_information(ch).info_a, ch.names)
    assert table["active"] == [True, False, False]
    assert table["info_bits"][1] == pytest.approx(0.0, abs=1e-6)  # float32 fingerprints


class _StandInRun:
    """A run with the agreed API: encode(images) -> (mu, logvar), decode(z), config.data."""

    def __init__(self, weights, data="toy"):
        self.weights = weights
        self.config = type("C", (), {"data": data})()

    def encode(self, images):
        flat = images.reshape(len(images), -1).astype(np.float64) / 255
        return flat @ self.weights, np.full((len(images), self.weights.shape[1]), np.log(0.01))

    def decode(self, z):
        return np.clip(np.asarray(z)[:, :1, None, None] * np.ones((1, 4, 4, 1)), 0, 1)


def test_pipeline_writes_everything(rng, tmp_path):
    n, k = 120, 3
    factors = rng.integers(0, 4, size=(n, k))
    sample = FingerprintSample(np.arange(n), "toy", factors=factors)
    posteriors = []
    for _ in range(8):  # 8 models x 3 channels, each channel one factor (permuted), plus noise
        perm = rng.permutation(k)
        mu = factors[:, perm] + 0.1 * rng.normal(size=(n, k))
        posteriors.append((mu, np.full((n, k), np.log(0.02))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = analyze_posteriors(
            posteriors, sample, [f"r{m}" for m in range(8)], ["a", "b", "c"], min_samples=5
        )
    assert result["hotspots"].n_hotspots == 3
    best_factor = result["factor_nmi"].argmax(1)
    for h in range(3):  # every hotspot is about one factor
        assert len(set(best_factor[result["hotspots"].labels == h])) == 1
    payload = write_analysis(result, tmp_path)
    saved = json.loads((tmp_path / "analysis.json").read_text())
    assert saved["sample"]["digest"] == sample.digest
    assert saved["census"]["n_active"] == 24
    assert np.load(tmp_path / "nmi.npy").shape == (24, 24)
    assert (tmp_path / "hotspots.png").stat().st_size > 10_000
    assert payload["hotspots"]["n_hotspots"] == 3


def test_traversals_use_the_decoder(rng, tmp_path):
    from disentkit.fragments.pipeline import traversals

    n = 60
    factors = rng.integers(0, 3, size=(n, 2))
    sample = FingerprintSample(np.arange(n), "toy", factors=factors)
    images = (rng.integers(0, 255, size=(n, 4, 4, 1))).astype(np.uint8)
    dataset = type("D", (), {"render": lambda self, f: images[: len(f)]})()
    runs = [_StandInRun(rng.normal(size=(16, 2))) for _ in range(4)]
    posts = [r.encode(images) for r in runs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = analyze_posteriors(posts, sample, [f"r{m}" for m in range(4)], min_samples=3)
    records = traversals(result, runs, dataset, sample, tmp_path)
    assert len(records) == result["hotspots"].n_hotspots
    for rec in records:
        assert (tmp_path / rec["figure"]).exists()


def test_saved_posteriors_keep_the_sample_identity(rng, tmp_path):
    from disentkit.fragments.pipeline import load_posteriors, save_posteriors

    posts = [(rng.normal(size=(20, 3)), np.zeros((20, 3)))]
    a = save_posteriors(tmp_path / "a.npz", posts, FingerprintSample(np.arange(20), "dsprites"), ["r0"])
    b = save_posteriors(tmp_path / "b.npz", posts, FingerprintSample(np.arange(20), "dsprites"), ["r1"])
    c = save_posteriors(tmp_path / "c.npz", posts, FingerprintSample(np.arange(20) + 5, "dsprites"), ["r2"])
    merged, sample, names = load_posteriors([a, b])
    assert len(merged) == 2 and names == ["r0", "r1"] and len(sample) == 20
    with pytest.raises(DisentkitError, match="fingerprint samples differ"):
        load_posteriors([a, c])
    with pytest.raises(DisentkitError, match="cannot read posteriors"):
        load_posteriors([tmp_path / "missing.npz"])


def test_pipeline_goes_on_without_hotspots_when_few_channels_are_active(rng, tmp_path):
    n = 80
    sample = FingerprintSample(np.arange(n), "toy", factors=rng.integers(0, 3, size=(n, 1)))
    posts = [(np.c_[rng.normal(size=n), np.zeros((n, 2))], np.zeros((n, 3))) for _ in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = analyze_posteriors(posts, sample, ["r0", "r1"])
    assert result["census"]["n_active"] == 2
    assert result["hotspots"].n_hotspots == 0
    assert any("too few for OPTICS" in w for w in result["warnings"])
    write_analysis(result, tmp_path)
    assert (tmp_path / "hotspots.png").exists()


def test_fewer_runs_than_min_samples_warn_and_the_advised_setting_finds_the_hotspots(rng):
    # 6 runs, each with the same 5 fragments (5 independent signals, small noise per run): 30 channels.
    n, runs, fragments = 200, 6, 5
    sample = FingerprintSample(np.arange(n), "toy")
    signals = rng.normal(size=(n, fragments))
    posts = [
        (signals + 0.05 * rng.normal(size=(n, fragments)), np.full((n, fragments), np.log(0.01)))
        for _ in range(runs)
    ]
    names = [f"r{i}" for i in range(runs)]
    default = analyze_posteriors(posts, sample, names)
    assert any(
        "6 runs and OPTICS min_samples=20" in w and "--min-samples 5" in w for w in default["warnings"]
    )
    advised = analyze_posteriors(posts, sample, names, min_samples=5)
    assert not any("OPTICS min_samples" in w for w in advised["warnings"])
    assert advised["hotspots"].n_hotspots == fragments > default["hotspots"].n_hotspots
