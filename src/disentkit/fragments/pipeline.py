"""Run-based analyses: encode an ensemble of trained runs on one fingerprint sample, then census,
NMI/VI matrices, hotspots, figures and traversals, written to a folder with a JSON of everything."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from disentkit.errors import DisentkitError
from disentkit.fragments.analysis import (
    INACTIVE_BITS,
    MIN_SAMPLES,
    Hotspots,
    census,
    channel_distances,
    check_min_samples,
    find_hotspots,
    hotspot_figure,
    representatives,
)
from disentkit.fragments.fingerprint import FingerprintSample, GaussianChannels, LabelChannels
from disentkit.fragments.information import pairwise_information

#: fewest fingerprint points an analysis accepts
MIN_POINTS = 100
#: what `fragments analyze` writes into its folder
ANALYSIS_FILES = (
    "analysis.json",
    "posteriors.npz",
    "nmi.npy",
    "vi.npy",
    "hotspots.png",
    "traversal_hotspot*.png",
)


def encode_runs(runs: list, dataset, sample: FingerprintSample) -> list[tuple[np.ndarray, np.ndarray]]:
    """Posteriors ``(mu, logvar)`` of every run on the sample's images (rendered once)."""
    images = dataset.render(sample.factors)
    posteriors = []
    for run in runs:
        mu, logvar = run.encode(images)
        posteriors.append((np.asarray(mu, np.float64), np.asarray(logvar, np.float64)))
    return posteriors


def save_posteriors(path: str | Path, posteriors, sample: FingerprintSample, run_names: list[str]) -> Path:
    """Save encoder outputs on a fingerprint sample with the sample's identity (indices + digest)."""
    path = Path(path)
    np.savez_compressed(
        path,
        mu=np.stack([m for m, _ in posteriors]),
        logvar=np.stack([lv for _, lv in posteriors]),
        runs=np.asarray(run_names),
        sample_indices=sample.indices,
        sample_source=np.asarray(sample.source),
        sample_digest=np.asarray(sample.digest),
    )
    return path


def load_posteriors(paths) -> tuple[list, FingerprintSample, list[str]]:
    """Load and merge files written by :func:`save_posteriors`; their samples must be identical."""
    from disentkit.fragments.fingerprint import check_same_sample

    posteriors, samples, names = [], [], []
    for path in map(Path, paths):
        try:
            with np.load(path) as f:
                sample = FingerprintSample.from_dict(
                    {
                        "indices": f["sample_indices"],
                        "source": str(f["sample_source"]),
                        "digest": str(f["sample_digest"]),
                    }
                )
                posteriors += list(zip(f["mu"], f["logvar"], strict=True))
                names += [str(r) for r in f["runs"]]
        except (OSError, KeyError, ValueError) as exc:
            raise DisentkitError(f"cannot read posteriors file {path}: {exc}") from None
        samples.append(sample)
    return posteriors, check_same_sample(samples), names


def load_runs(paths: list[str | Path], data: str, device=None) -> list:
    """Load run folders; every run must have been trained on ``data`` and share a latent size."""
    from disentkit import load_run

    if not paths:
        raise DisentkitError("give at least one run folder")
    runs = [load_run(p, device=device) for p in paths]
    for path, run in zip(paths, runs, strict=True):
        trained_on = getattr(run.config, "data", data)
        if trained_on != data:
            raise DisentkitError(
                f"run {path} was trained on {trained_on!r}, not {data!r}; pass --data {trained_on}"
            )
    return runs


def analyze_posteriors(
    posteriors: list[tuple[np.ndarray, np.ndarray]],
    sample: FingerprintSample,
    run_names: list[str],
    factor_names: list[str] | None = None,
    distance: str = "vi",
    min_samples: int = MIN_SAMPLES,
    threshold: float = INACTIVE_BITS,
    device=None,
) -> dict:
    """Census, pairwise NMI/VI among active channels, factor NMI and hotspots, as one dict."""
    channels = GaussianChannels.from_ensemble(posteriors, sample, run_names)
    info = pairwise_information(channels, device=device)  # all channels; the census uses its diagonal terms
    table = census(info.info_a, channels.names, threshold)
    active = np.flatnonzero(table["active"])
    if active.size == 0:
        raise DisentkitError(
            f"no channel carries {threshold} bits: every channel is inactive (posterior collapse?)"
        )
    names = [channels.names[k] for k in active]
    nmi, vi = info.nmi[np.ix_(active, active)], info.vi[np.ix_(active, active)]
    result = {
        "sample": sample.to_dict(),
        "runs": run_names,
        "census": table,
        "active": names,
        "nmi": nmi,
        "vi": vi,
    }
    if sample.factors is not None:
        labels = LabelChannels(sample.factors, sample, factor_names)
        cross = pairwise_information(channels.subset(active), labels, device=device)
        result.update(
            factor_names=labels.names,
            factor_nmi=cross.nmi,
            factor_vi=cross.vi,
            factor_entropy=cross.entropy_b,
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if len(run_names) < min_samples <= len(names):
            # A hotspot is one fragment repeated run after run: about one channel per run.
            warnings.warn(
                f"{len(run_names)} runs and OPTICS min_samples={min_samples}: a hotspot holds about one "
                f"channel per run, so none of fewer than {min_samples} channels can be found (the paper "
                f"used ~50 runs); add runs or pass --min-samples {max(2, len(run_names) - 1)}",
                stacklevel=2,
            )
        spots = _hotspots_or_none(channel_distances(nmi, vi, distance), min_samples)
    result["warnings"] = [str(w.message) for w in caught]
    result.update(hotspots=spots, distance=distance)
    return result


def _hotspots_or_none(dist: np.ndarray, min_samples: int) -> Hotspots:
    """OPTICS hotspots; with fewer than 4 active channels the census and matrices are still worth
    writing, so the analysis goes on without hotspots (all labels -1) and warns."""
    if dist.shape[0] >= 4:
        return find_hotspots(dist, min_samples)
    warnings.warn(
        f"only {dist.shape[0]} active channel(s): too few for OPTICS, no hotspots (train longer or add runs)",
        stacklevel=2,
    )
    c = dist.shape[0]
    return Hotspots(np.full(c, -1), np.arange(c), np.full(c, np.inf), 0)


def _jsonable(result: dict) -> dict:
    out = {k: v for k, v in result.items() if k not in ("hotspots", "posteriors")}
    out["hotspots"] = result["hotspots"].to_dict(result["active"])
    for key in ("nmi", "vi", "factor_nmi", "factor_vi", "factor_entropy"):
        if key in out:
            out[key] = np.asarray(out[key]).tolist()
    return out


def write_analysis(result: dict, out: Path, runs: list | None = None, dataset=None, sample=None) -> dict:
    """Write analysis.json, nmi.npy, vi.npy, hotspots.png, and with runs the traversals and
    posteriors.npz (every run's (mu, logvar) on the sample, with the sample's identity)."""
    from disentkit.config import atomic_write_text, environment_info

    out.mkdir(parents=True, exist_ok=True)
    if "posteriors" in result and sample is not None:
        save_posteriors(out / "posteriors.npz", result["posteriors"], sample, result["runs"])
    np.save(out / "nmi.npy", result["nmi"])
    np.save(out / "vi.npy", result["vi"])
    hotspot_figure(
        out / "hotspots.png",
        result["nmi"],
        result["hotspots"],
        result["active"],
        result.get("factor_nmi"),
        result.get("factor_names"),
    )
    payload = _jsonable(result)
    payload["figures"] = ["hotspots.png"]
    if runs is not None and dataset is not None and result["hotspots"].n_hotspots:
        payload["traversals"] = traversals(result, runs, dataset, sample, out)
        payload["figures"] += [t["figure"] for t in payload["traversals"]]
    payload["environment"] = environment_info()
    atomic_write_text(out / "analysis.json", json.dumps(payload, indent=1))
    return payload


def traversals(
    result: dict, runs: list, dataset, sample: FingerprintSample, out: Path, steps: int = 9
) -> list:
    """Decode a traversal of each hotspot's representative channel (from -2.5 to 2.5 around a
    fingerprint point's code) and save one PNG per hotspot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reps = representatives(result["nmi"], result["hotspots"].labels)
    image = dataset.render(sample.factors[:1])
    records = []
    for h, k in reps.items():
        name = result["active"][k]
        run_name, dim = name.split("/")
        run = runs[result["runs"].index(run_name)]
        d = int(dim.removeprefix("z"))
        mu, _ = run.encode(image)
        codes = np.repeat(mu[:1], steps, axis=0)
        codes[:, d] = np.linspace(-2.5, 2.5, steps)
        frames = np.asarray(run.decode(codes))
        fig, axes = plt.subplots(1, steps, figsize=(steps * 1.1, 1.4))
        for ax, frame in zip(axes, frames, strict=True):
            ax.imshow(frame.squeeze(), cmap="gray", vmin=0, vmax=1)
            ax.axis("off")
        fig.suptitle(f"hotspot {h}: {name}", fontsize=8)
        fname = f"traversal_hotspot{h}.png"
        fig.savefig(out / fname, dpi=90, bbox_inches="tight")
        plt.close(fig)
        records.append({"hotspot": h, "channel": name, "figure": fname})
    return records


def analyze_runs(
    paths,
    data: str,
    n: int = 1000,
    out: str | Path = "fragments",
    seed: int = 0,
    distance: str = "vi",
    min_samples: int = MIN_SAMPLES,
    device=None,
) -> dict:
    """The whole `disentkit fragments analyze` pipeline for run folders."""
    from disentkit.config import only_entries, prepare_output_folder
    from disentkit.data import get_dataset

    if n < MIN_POINTS:
        raise DisentkitError(
            f"--n {n} is too few fingerprint points: at least {MIN_POINTS} (the paper uses 1000, quick runs 300)"
        )
    check_min_samples(min_samples)
    seen = set()
    for path in map(Path, paths):
        if path.resolve() in seen:
            raise DisentkitError(f"run {path} is given twice; give each run once")
        seen.add(path.resolve())
    dataset = get_dataset(data)
    # Checked before the runs are encoded: nothing is computed for a folder that cannot take it.
    prepare_output_folder(out, "a fragments analysis (analysis.json)", only_entries(*ANALYSIS_FILES))
    runs = load_runs([Path(p) for p in paths], data, device)
    sample = FingerprintSample.from_dataset(dataset, n, seed)
    names = _unique_names([Path(p).name for p in paths])
    posteriors = encode_runs(runs, dataset, sample)
    result = analyze_posteriors(
        posteriors, sample, names, list(dataset.factor_names), distance, min_samples, device=device
    )
    result["posteriors"] = posteriors  # saved with the sample's identity for later comparisons
    return write_analysis(result, Path(out), runs, dataset, sample)


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for nm in names:
        nm = nm.replace("/", "_") or "run"
        seen[nm] = seen.get(nm, 0) + 1
        unique.append(nm if seen[nm] == 1 else f"{nm}_{seen[nm]}")
    return unique
