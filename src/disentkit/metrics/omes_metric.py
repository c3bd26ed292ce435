"""OMES — Overlap Multiple Encoding Scores, the metric of Dapueto, Noceti & Odone (2024,
"Transferring disentangled representations", arXiv:2409.18017); guide: docs/metrics.md.

Two ways to get pairs that differ in exactly one factor:

* :func:`matched_pairs` (a fixed labelled sample): sort on the label key with column ``f`` removed,
  O(N·K·log N), instead of the quadratic scan of the authors' release;
* :func:`intervention_pairs` (a dataset that renders from factors): resample factor ``f`` to a
  different value, render and encode both.

Both feed :func:`association_matrix` (S, D × K) and :func:`omes_from_matrix` (the scores).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from disentkit.errors import DisentkitError
from disentkit.metrics._common import (
    MetricResult,
    check_representation,
    prepare,
    warn,
)

MAX_PAIRS = 100_000
N_INTERVENTION_PAIRS = 10_000
INACTIVE_STD = 0.05
ASSOCIATION_THRESHOLD = 0.1
MIN_PAIRS = 10
POOLINGS = ("avg", "max")
ASSOCIATION_RULES = ("product", "release")


@dataclass
class OMESSettings:
    """Every OMES setting; recorded with each result."""

    alpha: float = 0.5
    pooling: str = "avg"
    association: str = "product"  # argmax o·S (threshold); "release": argmax o, drop ≈ 0
    association_threshold: float = ASSOCIATION_THRESHOLD
    inactive_std: float = INACTIVE_STD
    max_pairs: int = MAX_PAIRS  # matched-sample mode cap per factor
    n_pairs: int = N_INTERVENTION_PAIRS  # intervention mode pairs per factor
    min_pairs: int = MIN_PAIRS  # fewer pairs → NaN for that factor
    round_s: int | None = None  # the release rounds S to 4 decimals; off by default
    mode: str = "matched"

    def validate(self) -> OMESSettings:
        if not 0.0 <= self.alpha <= 1.0:
            raise DisentkitError(f"OMES alpha must be in [0, 1], got {self.alpha}")
        if self.pooling not in POOLINGS:
            raise DisentkitError(f"OMES pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.association not in ASSOCIATION_RULES:
            raise DisentkitError(
                f"OMES association must be one of {', '.join(ASSOCIATION_RULES)}, got {self.association!r}"
            )
        if self.min_pairs < 2:
            raise DisentkitError("OMES min_pairs must be at least 2 (a correlation needs two pairs)")
        return self


@dataclass
class OMESResult(MetricResult):
    """OMES/OS/MES overall and per factor, S, inactive dims and the factor → dimension association.

    ``S`` is D × K over *all* dimensions (inactive rows included for plotting; they are excluded from
    every score). A factor with too few pairs has a NaN column and NaN scores and is left out of the
    means. ``association[f]`` is a dimension index or ``None``.
    """

    omes: float
    os: float
    mes: float
    factor_names: list[str]
    omes_per_factor: list[float]
    os_per_factor: list[float]
    mes_per_factor: list[float]
    S: np.ndarray
    inactive_dims: list[int]
    association: list[int | None]
    pruned_dims: list[int]
    n_pairs: list[int]
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------- pairing
def _pack_labels(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relabel each column to 0..c−1 and mixed-radix strides packing a row into one int64 key.

    Raises OverflowError when the label grid does not fit in 62 bits.
    """
    codes = np.empty_like(y)
    sizes = np.empty(y.shape[1], dtype=np.int64)
    for k, col in enumerate(y.T):
        _, codes[:, k] = np.unique(col, return_inverse=True)
        sizes[k] = codes[:, k].max() + 1
    if np.sum(np.log2(sizes.astype(np.float64))) > 62:
        raise OverflowError
    strides = np.cumprod(np.concatenate([sizes[1:], [1]])[::-1])[::-1].astype(np.int64)
    return codes, strides


def matched_pairs(y: np.ndarray, rng: np.random.Generator, max_pairs: int = MAX_PAIRS) -> list[np.ndarray]:
    """Pairs of row indices that differ in exactly one factor, per factor: list of (P_f, 2) arrays.

    Rows are deduplicated by full label vector (a random representative), grouped by the label key
    with column f removed (a stable sort on packed int64 keys), shuffled inside each group, and
    paired 2i / 2i+1; the odd one out is dropped. At most ``max_pairs`` per factor, subsampled
    without replacement. O(N·K·log N).
    """
    y = np.asarray(y, dtype=np.int64)
    try:
        codes, strides = _pack_labels(y)
        full = codes @ strides
    except OverflowError:
        # Too many label combinations for one int64: rank the unique rows instead (same semantics).
        _, full = np.unique(y, axis=0, return_inverse=True)
        codes, strides = None, None
    # One random representative per distinct label vector.
    perm = rng.permutation(len(y))
    _, first = np.unique(full[perm], return_index=True)
    reps = perm[first]
    pairs = []
    for f in range(y.shape[1]):
        if strides is not None:
            key = full[reps] - codes[reps, f] * strides[f]  # column f zeroed = key without f
        else:
            rest = np.delete(y[reps], f, axis=1)
            _, key = np.unique(rest, axis=0, return_inverse=True)
        pairs.append(_pair_within_groups(reps, key, y[:, f], rng, max_pairs))
    return pairs


def _pair_within_groups(
    rows: np.ndarray, key: np.ndarray, y_f: np.ndarray, rng: np.random.Generator, max_pairs: int
) -> np.ndarray:
    shuffle = rng.permutation(len(rows))
    order = shuffle[np.argsort(key[shuffle], kind="stable")]  # grouped by key, random inside groups
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    rank = np.arange(len(order)) - group_start
    first = np.flatnonzero((rank % 2 == 0)[:-1] & (sorted_key[1:] == sorted_key[:-1]))
    a, b = rows[order[first]], rows[order[first + 1]]
    keep = y_f[a] != y_f[b]  # always true after deduplication; kept as the spec's safeguard
    pair = np.stack([a[keep], b[keep]], axis=1)
    if len(pair) > max_pairs:
        pair = pair[np.sort(rng.choice(len(pair), size=max_pairs, replace=False))]
    return pair


def intervention_factor_pairs(
    factor_sizes, factor: int, n: int, rng: np.random.Generator, sample_factors: Callable
) -> tuple[np.ndarray, np.ndarray]:
    """Factor vectors of ``n`` pairs differing only at ``factor`` (resampled to a *different* value)."""
    f1 = sample_factors(n, rng)
    f2 = f1.copy()
    size = int(factor_sizes[factor])
    f2[:, factor] = (f1[:, factor] + rng.integers(1, size, size=n)) % size
    return f1, f2


def encode_factors(dataset, encode: Callable, factors: np.ndarray, rng, batch_size: int = 1000) -> np.ndarray:
    """Render ``factors`` with ``dataset`` and encode them in batches; float64 (n, D), validated."""
    out = []
    for start in range(0, len(factors), batch_size):
        images = dataset.render(factors[start : start + batch_size], rng)
        out.append(np.asarray(encode(images), dtype=np.float64))
    z = np.concatenate(out)
    if z.ndim != 2 or len(z) != len(factors):
        raise DisentkitError(
            f"encode returned shape {z.shape} for {len(factors)} images; expected ({len(factors)}, D)"
        )
    return check_representation(z, "encoded representation")


# ---------------------------------------------------------------------------- S and scores
def pair_dissimilarity(z1: np.ndarray, z2: np.ndarray) -> np.ndarray:
    """``1 − |pearson(z1[:, j], z2[:, j])|`` for every column at once; 0 where a side is constant."""
    a = z1 - z1.mean(axis=0)
    b = z2 - z2.mean(axis=0)
    ss = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    num = (a * b).sum(axis=0)
    # Relative threshold: a column constant up to rounding has an undefined correlation.
    scale = np.maximum(np.abs(z1).max(axis=0), np.abs(z2).max(axis=0)) ** 2 * len(z1) + 1e-300
    defined = ss > 1e-24 * scale
    corr = np.divide(num, ss, out=np.zeros_like(num), where=defined)
    return np.where(defined, 1.0 - np.clip(np.abs(corr), 0.0, 1.0), 0.0)


def association_matrix(
    z_pairs: list[tuple[np.ndarray, np.ndarray]], min_pairs: int = MIN_PAIRS
) -> np.ndarray:
    """S (D × K) from per-factor pair representations; a factor with < ``min_pairs`` pairs is NaN."""
    d = z_pairs[0][0].shape[1]
    s = np.full((d, len(z_pairs)), np.nan)
    for f, (z1, z2) in enumerate(z_pairs):
        if len(z1) >= min_pairs:
            s[:, f] = pair_dissimilarity(z1, z2)
    return s


def inactive_dimensions(z: np.ndarray, threshold: float = INACTIVE_STD) -> np.ndarray:
    """Boolean mask of dimensions whose std (ddof=1) over all rows is below ``threshold``."""
    if len(z) < 2:
        raise DisentkitError("need at least 2 rows to estimate which dimensions are inactive")
    return z.std(axis=0, ddof=1) < threshold


def overlap_and_multiple(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``o[j, f]`` and ``m[j, f]`` of the spec for S (active rows, valid columns), both D × K.

    Σ_k |δ_kf − S_jk| = rowsum_j − 2·S_jf + 1 because S ∈ [0, 1]; likewise for columns.
    """
    d, k = s.shape
    o = 1.0 - (s.sum(axis=1, keepdims=True) - 2.0 * s + 1.0) / k
    m = 1.0 - (s.sum(axis=0, keepdims=True) - 2.0 * s + 1.0) / d
    return o, m


def pool(score: np.ndarray, s: np.ndarray, pooling: str) -> np.ndarray:
    """Per-factor pooling over dimensions: ``avg`` (S-weighted mean of score·S) or ``max``."""
    if pooling == "max":
        return (score * s).max(axis=0)
    den = s.sum(axis=0)
    num = (s * s * score).sum(axis=0)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def associate(o: np.ndarray, s: np.ndarray, rule: str, threshold: float) -> list[int | None]:
    """Factor → row index of S (or None): argmax o·S ≥ threshold, or the release's argmax o, ≠ 0."""
    quantity = o * s if rule == "product" else o
    best = quantity.argmax(axis=0)
    value = quantity[best, np.arange(quantity.shape[1])]
    ok = value >= threshold if rule == "product" else ~np.isclose(value, 0.0)
    return [int(j) if good else None for j, good in zip(best, ok, strict=True)]


def omes_from_matrix(
    s: np.ndarray,
    inactive: np.ndarray,
    factor_names: list[str],
    settings: OMESSettings,
    n_pairs: list[int],
    dropped: list[str] | None = None,
) -> OMESResult:
    """All OMES scores from the full S (D × K, NaN columns = factors without enough pairs)."""
    settings.validate()
    if settings.round_s is not None:
        s = np.round(s, settings.round_s)
    valid = ~np.isnan(s).any(axis=0)
    for f in np.flatnonzero(~valid):
        warn(
            f"OMES: factor {factor_names[f]!r} has only {n_pairs[f]} pair(s) that differ in it alone "
            f"(need {settings.min_pairs}); its scores are NaN and it is left out of the means"
        )
    if not valid.any():
        raise DisentkitError("OMES: no factor has enough pairs; use a larger or more complete sample")
    active = np.flatnonzero(~inactive)
    k = s.shape[1]
    per = {name: np.full(k, np.nan) for name in ("os", "mes", "omes")}
    association: list[int | None] = [None] * k
    if len(active) == 0:
        warn(f"OMES: every dimension is inactive (std < {settings.inactive_std:.3g}); all scores are 0")
        for arr in per.values():
            arr[valid] = 0.0
    else:
        sa = s[np.ix_(active, np.flatnonzero(valid))]
        o, m = overlap_and_multiple(sa)
        per["os"][valid] = pool(o, sa, settings.pooling)
        per["mes"][valid] = pool(m, sa, settings.pooling)
        per["omes"][valid] = settings.alpha * per["os"][valid] + (1 - settings.alpha) * per["mes"][valid]
        rows = associate(o, sa, settings.association, settings.association_threshold)
        for f, row in zip(np.flatnonzero(valid), rows, strict=True):
            association[f] = None if row is None else int(active[row])
    pruned = sorted({j for j in association if j is not None})
    return OMESResult(
        omes=float(np.mean(per["omes"][valid])),
        os=float(np.mean(per["os"][valid])),
        mes=float(np.mean(per["mes"][valid])),
        factor_names=list(factor_names),
        omes_per_factor=per["omes"].tolist(),
        os_per_factor=per["os"].tolist(),
        mes_per_factor=per["mes"].tolist(),
        S=s,
        inactive_dims=np.flatnonzero(inactive).tolist(),
        association=association,
        pruned_dims=pruned,
        n_pairs=[int(n) for n in n_pairs],
        dropped_factors=list(dropped or []),
        settings=vars(settings).copy(),
    )


def _settings(settings: OMESSettings | None, **overrides) -> OMESSettings:
    base = OMESSettings() if settings is None else OMESSettings(**vars(settings))
    for key, value in overrides.items():
        if not hasattr(base, key):
            raise DisentkitError(f"unknown OMES setting {key!r}; valid: {', '.join(vars(base))}")
        setattr(base, key, value)
    return base.validate()


# ---------------------------------------------------------------------------- public entry points
def omes(
    z, y, factor_names=None, *, rng: np.random.Generator, settings: OMESSettings | None = None, **overrides
) -> OMESResult:
    """OMES in matched-sample mode on a fixed labelled sample ``z`` (N × D), ``y`` (N × K).

    Parameters
    ----------
    z : array-like of shape (N, D)
        Representation (posterior means).
    y : array-like of shape (N, K)
        Integer factor classes.
    factor_names : sequence of str, optional
    rng : numpy.random.Generator
        Drives deduplication representatives, shuffles and the pair cap.
    settings : OMESSettings, optional
        Defaults of the spec; keyword ``overrides`` (e.g. ``alpha=1.0``) replace single fields.

    Returns
    -------
    OMESResult
    """
    st = _settings(settings, mode="matched", **overrides)
    z, y, names, dropped = prepare(z, y, factor_names)
    pairs = matched_pairs(y, rng, st.max_pairs)
    s = association_matrix([(z[p[:, 0]], z[p[:, 1]]) for p in pairs], st.min_pairs)
    inactive = inactive_dimensions(z, st.inactive_std)
    return omes_from_matrix(s, inactive, names, st, [len(p) for p in pairs], dropped)


def omes_intervention(
    dataset,
    encode: Callable[[np.ndarray], np.ndarray],
    *,
    rng: np.random.Generator,
    settings: OMESSettings | None = None,
    batch_size: int = 1000,
    **overrides,
) -> OMESResult:
    """OMES in intervention mode: for each factor, ``n_pairs`` rendered pairs differing only there.

    ``encode(images uint8 (n, H, W, C)) -> (n, D)``. Inactive dimensions are estimated on all encoded
    pair members.
    """
    st = _settings(settings, mode="intervention", **overrides)
    sizes = np.asarray(dataset.factor_sizes)
    names = list(dataset.factor_names)
    variable = np.flatnonzero(sizes > 1)
    kept = [names[f] for f in variable]
    dropped = [names[f] for f in np.flatnonzero(sizes <= 1)]
    if dropped:
        warn(f"factor(s) with a single value dropped: {', '.join(dropped)}")
    if len(variable) == 0:
        raise DisentkitError(f"{dataset.name}: no factor has more than one value")
    z_pairs, all_z = [], []
    for f in variable:
        f1, f2 = intervention_factor_pairs(sizes, f, st.n_pairs, rng, dataset.sample_factors)
        z = encode_factors(dataset, encode, np.concatenate([f1, f2]), rng, batch_size)
        z_pairs.append((z[: st.n_pairs], z[st.n_pairs :]))
        all_z.append(z)
    s = association_matrix(z_pairs, st.min_pairs)
    inactive = inactive_dimensions(np.concatenate(all_z), st.inactive_std)
    return omes_from_matrix(s, inactive, kept, st, [st.n_pairs] * len(kept), dropped)
