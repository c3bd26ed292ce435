"""Analyses of an ensemble's channels: census, channel distances, OPTICS hotspots and the figure."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from disentkit.errors import DisentkitError

#: channels with less information than this (bits) are inactive (spec)
INACTIVE_BITS = 0.01
#: OPTICS' min_samples in the paper
MIN_SAMPLES = 20
#: NMI floor before -ln for the NMI distance
NMI_FLOOR = 1e-4


def census(info: np.ndarray, names: list[str], threshold: float = INACTIVE_BITS) -> dict:
    """I(U;X) of every channel and which are active (at least ``threshold`` bits).

    Returns
    -------
    dict with ``names``, ``info_bits``, ``active`` (bool list), ``n_active``, ``threshold_bits``.
    """
    info = np.asarray(info, dtype=np.float64)
    if info.shape != (len(names),):
        raise DisentkitError(f"census: {info.shape[0]} values for {len(names)} channel names")
    active = info >= threshold
    return {
        "names": list(names),
        "info_bits": info.tolist(),
        "active": active.tolist(),
        "n_active": int(active.sum()),
        "threshold_bits": threshold,
    }


def channel_distances(nmi: np.ndarray | None = None, vi: np.ndarray | None = None, kind: str = "vi"):
    """Distances for OPTICS: VI clipped at 0, or -ln(max(NMI, 1e-4)); symmetric, zero diagonal."""
    if kind == "vi":
        if vi is None:
            raise DisentkitError("VI distances need the VI matrix")
        dist = np.clip(np.asarray(vi, dtype=np.float64), 0.0, None)
    elif kind == "nmi":
        if nmi is None:
            raise DisentkitError("NMI distances need the NMI matrix")
        dist = -np.log(np.maximum(np.asarray(nmi, dtype=np.float64), NMI_FLOOR))
        dist = np.clip(dist, 0.0, None)
    else:
        raise DisentkitError(f"unknown distance {kind!r}; use vi or nmi")
    dist = 0.5 * (dist + dist.T)  # float noise can break the exact symmetry OPTICS expects
    np.fill_diagonal(dist, 0.0)
    return dist


@dataclass
class Hotspots:
    """OPTICS result over channels.

    Attributes
    ----------
    labels : ndarray (C,)
        Hotspot id per channel, -1 for none.
    ordering : ndarray (C,)
        OPTICS ordering (indices of channels).
    reachability : ndarray (C,)
        Reachability of each channel (indexed by channel, not by order; inf for the first).
    min_samples : int
        The value used (lower than requested when there were too few channels).
    """

    labels: np.ndarray
    ordering: np.ndarray
    reachability: np.ndarray
    min_samples: int

    @property
    def n_hotspots(self) -> int:
        return int(self.labels.max() + 1) if self.labels.size else 0

    def to_dict(self, names: list[str]) -> dict:
        reach = [None if not np.isfinite(r) else float(r) for r in self.reachability]
        return {
            "min_samples": self.min_samples,
            "n_hotspots": self.n_hotspots,
            "labels": self.labels.tolist(),
            "ordering": self.ordering.tolist(),
            "reachability": reach,
            "members": {
                int(h): [names[k] for k in np.flatnonzero(self.labels == h)] for h in range(self.n_hotspots)
            },
        }


def check_min_samples(min_samples: int) -> None:
    """OPTICS needs a neighbourhood of at least 2 points (scikit-learn's own error is a traceback)."""
    if int(min_samples) < 2:
        raise DisentkitError(f"--min-samples must be at least 2 (an OPTICS neighbourhood), got {min_samples}")


def find_hotspots(distances: np.ndarray, min_samples: int = MIN_SAMPLES, fallback: bool = True) -> Hotspots:
    """Cluster channels with OPTICS (scikit-learn, ``metric="precomputed"``, xi extraction).

    With fewer channels than ``min_samples`` the documented fallback lowers ``min_samples`` to
    ``max(2, C // 2)`` with a warning (``fallback=False``: an error instead); fewer than 4
    channels is always an error.
    """
    from sklearn.cluster import OPTICS

    dist = np.asarray(distances, dtype=np.float64)
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1]:
        raise DisentkitError(f"hotspots need a square distance matrix, got shape {dist.shape}")
    if not np.all(np.isfinite(dist)) or dist.min() < 0:
        raise DisentkitError("hotspot distances must be finite and non-negative (clip VI at 0)")
    check_min_samples(min_samples)
    c = dist.shape[0]
    used = int(min_samples)
    if c < used:
        if not fallback or c < 4:
            raise DisentkitError(
                f"{c} active channels is fewer than OPTICS' min_samples={min_samples}; "
                "add runs to the ensemble or pass a smaller --min-samples"
            )
        used = max(2, c // 2)
        warnings.warn(
            f"only {c} channels for OPTICS min_samples={min_samples}: using min_samples={used}",
            stacklevel=2,
        )
    optics = OPTICS(min_samples=used, metric="precomputed").fit(dist)
    return Hotspots(
        labels=optics.labels_.astype(np.int64),
        ordering=optics.ordering_.astype(np.int64),
        reachability=optics.reachability_.astype(np.float64),
        min_samples=used,
    )


def representatives(nmi: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    """Per hotspot, the channel with the highest mean NMI to the hotspot's other members."""
    reps = {}
    for h in range(int(labels.max()) + 1 if labels.size else 0):
        members = np.flatnonzero(labels == h)
        sub = nmi[np.ix_(members, members)]
        reps[h] = int(members[np.argmax(sub.sum(1) - np.diag(sub))])
    return reps


def hotspot_figure(
    path,
    nmi: np.ndarray,
    hotspots: Hotspots,
    names: list[str],
    factor_nmi: np.ndarray | None = None,
    factor_names: list[str] | None = None,
    title: str = "",
):
    """The paper's figure: reachability profile with hotspots shaded, NMI matrix in OPTICS order
    below, and a side panel of each channel's NMI with every factor. Saved to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = hotspots.ordering
    c = len(order)
    reach = hotspots.reachability[order].copy()
    finite = reach[np.isfinite(reach)]
    reach[~np.isfinite(reach)] = finite.max() if finite.size else 1.0
    has_factors = factor_nmi is not None and factor_nmi.size > 0
    fig = plt.figure(figsize=(9 if has_factors else 7.5, 9))
    grid = fig.add_gridspec(2, 2, height_ratios=(1, 3.5), width_ratios=(6, 1.4 if has_factors else 0.01))
    ax_r = fig.add_subplot(grid[0, 0])
    ax_m = fig.add_subplot(grid[1, 0], sharex=ax_r)
    colours = plt.get_cmap("tab10")
    ax_r.bar(np.arange(c), reach, width=1.0, color="0.55")
    for h in range(hotspots.n_hotspots):
        where = np.flatnonzero(hotspots.labels[order] == h)
        ax_r.axvspan(where.min() - 0.5, where.max() + 0.5, color=colours(h % 10), alpha=0.3)
        ax_r.text(where.mean(), reach.max() * 0.95, str(h), ha="center", va="top", fontsize=8)
    ax_r.set_ylabel("reachability")
    ax_r.set_title(
        title or f"{c} channels, {hotspots.n_hotspots} hotspots (OPTICS, min_samples={hotspots.min_samples})"
    )
    ax_r.tick_params(labelbottom=False)
    image = ax_m.imshow(
        nmi[np.ix_(order, order)],
        vmin=0,
        vmax=1,
        cmap="viridis",
        aspect="auto",
        interpolation="nearest",
        extent=(-0.5, c - 0.5, c - 0.5, -0.5),
    )
    ax_m.set_xlabel("channel (OPTICS order)")
    ax_m.set_ylabel("channel (OPTICS order)")
    if c <= 40:
        ax_m.set_yticks(np.arange(c), [names[k] for k in order], fontsize=6)
    if has_factors:
        ax_f = fig.add_subplot(grid[1, 1], sharey=ax_m)
        ax_f.imshow(
            factor_nmi[order],
            vmin=0,
            vmax=1,
            cmap="viridis",
            aspect="auto",
            interpolation="nearest",
            extent=(-0.5, factor_nmi.shape[1] - 0.5, c - 0.5, -0.5),
        )
        ax_f.set_xticks(np.arange(factor_nmi.shape[1]), factor_names or [], rotation=90, fontsize=7)
        ax_f.tick_params(labelleft=False)
        ax_f.set_title("NMI with factors", fontsize=8)
    fig.colorbar(image, ax=ax_m, fraction=0.04, pad=0.02, label="NMI")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
