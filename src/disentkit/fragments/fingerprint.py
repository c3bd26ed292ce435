"""Fingerprint samples and channels: the inputs of every information-fragment estimate.

A *channel* is one latent dimension, or a subset of dimensions, of a probabilistic encoder
``p(u|x) = N(mu(x), diag exp(logvar(x)))``. Its *fingerprint* on a fixed sample of ``N`` points is
the ``N x N`` matrix of Bhattacharyya coefficients between the posteriors of every pair of points
(Murphy, Dillavou & Bassett 2024, arXiv:2405.21042). Channels are only comparable on the same sample, so every
channel set carries the identity of its :class:`FingerprintSample` and mismatches are an error.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch

from disentkit.errors import DisentkitError

#: a hard label's coefficient for unequal labels, as a distance: -ln(max(BC, 1e-10))
LABEL_FLOOR = 1e-10


@dataclass(frozen=True)
class FingerprintSample:
    """The fixed points (and their order) every compared channel is evaluated on.

    Parameters
    ----------
    indices : ndarray of int64, shape (N,)
        Where the points come from (dataset grid indices, or row numbers of an array).
    source : str
        What the indices index (e.g. ``"dsprites"``); part of the identity.
    factors : ndarray of int64, shape (N, K), optional
        Ground-truth factor classes of the points, when known.
    """

    indices: np.ndarray
    source: str = "array"
    factors: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        idx = np.asarray(self.indices)
        if idx.ndim != 1 or idx.size < 2:
            raise DisentkitError(
                f"a fingerprint sample needs a 1-D array of >= 2 indices, got shape {idx.shape}"
            )
        object.__setattr__(self, "indices", idx.astype(np.int64, copy=False))
        if self.factors is not None:
            fac = np.asarray(self.factors)
            if fac.ndim != 2 or fac.shape[0] != idx.size:
                raise DisentkitError(
                    f"fingerprint sample factors must have shape ({idx.size}, K), got {fac.shape}"
                )
            object.__setattr__(self, "factors", fac.astype(np.int64, copy=False))

    def __len__(self) -> int:
        return int(self.indices.size)

    @property
    def digest(self) -> str:
        """SHA-256 (16 hex digits) of the source name and the ordered indices: the sample's identity."""
        h = hashlib.sha256(self.source.encode())
        h.update(np.ascontiguousarray(self.indices, dtype="<i8").tobytes())
        return h.hexdigest()[:16]

    @classmethod
    def arange(cls, n: int, source: str = "array") -> FingerprintSample:
        """The first ``n`` rows of an array, in order."""
        return cls(np.arange(int(n)), source=source)

    @classmethod
    def from_dataset(cls, dataset, n: int, seed: int = 0) -> FingerprintSample:
        """``n`` distinct grid points of a ground-truth dataset drawn with ``seed`` (reproducible)."""
        total = len(dataset)
        if n > total:
            raise DisentkitError(f"{dataset.name} has only {total} points; ask for --n <= {total}")
        rng = np.random.default_rng(seed)
        # distinct points (repeats would make two fingerprint rows identical by construction), sorted
        # so the order is a function of the set alone
        idx = np.sort(rng.choice(total, size=n, replace=False))
        return cls(idx, source=dataset.name, factors=dataset.index_to_factors(idx))

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "n": len(self),
            "digest": self.digest,
            "indices": self.indices.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> FingerprintSample:
        sample = cls(np.asarray(data["indices"]), source=str(data["source"]))
        if "digest" in data and data["digest"] != sample.digest:
            raise DisentkitError(
                "fingerprint sample record is corrupt: its digest does not match its indices"
            )
        return sample


def check_same_sample(samples: list[FingerprintSample]) -> FingerprintSample:
    """Return the common sample, or raise if any channel set was fingerprinted on different points."""
    first = samples[0]
    for k, other in enumerate(samples[1:], start=1):
        if other.digest != first.digest:
            raise DisentkitError(
                f"fingerprint samples differ (set 0: {first.source} n={len(first)} digest {first.digest}; "
                f"set {k}: {other.source} n={len(other)} digest {other.digest}); "
                "evaluate every run on the same points in the same order"
            )
    return first


def validate_posteriors(mu, logvar, what: str = "posteriors") -> tuple[np.ndarray, np.ndarray]:
    """Check encoder outputs ``(mu, logvar)`` of shape (N, D); returns float64 copies.

    ``logvar`` may instead be given as variances through :func:`from_variances`.
    """
    mu = np.asarray(mu, dtype=np.float64)
    logvar = np.asarray(logvar, dtype=np.float64)
    if mu.ndim == 1 and logvar.ndim == 1:  # one 1-D channel
        mu, logvar = mu[:, None], logvar[:, None]
    if mu.ndim != 2 or mu.shape != logvar.shape:
        raise DisentkitError(
            f"{what}: mu and logvar must both have shape (N, D); got {mu.shape} and {logvar.shape}"
        )
    for name, arr in (("mu", mu), ("logvar", logvar)):
        bad = ~np.isfinite(arr)
        if bad.any():
            i, d = np.argwhere(bad)[0]
            raise DisentkitError(
                f"{what}: {name} has {int(bad.sum())} NaN/inf value(s) (first at point {i}, dim {d}); "
                "the encoder diverged or the input is corrupt"
            )
    # exp(logvar) must be a usable positive variance in float64
    if logvar.min() < -600 or logvar.max() > 600:
        raise DisentkitError(f"{what}: logvar outside [-600, 600] means a zero or infinite variance")
    return mu, logvar


def from_variances(mu, var, what: str = "posteriors") -> tuple[np.ndarray, np.ndarray]:
    """``(mu, logvar)`` from variances; non-positive variances are an error."""
    var = np.asarray(var, dtype=np.float64)
    if np.any(~np.isfinite(var)):
        raise DisentkitError(f"{what}: variances contain NaN/inf")
    if np.any(var <= 0):
        raise DisentkitError(
            f"{what}: {int((var <= 0).sum())} non-positive variance(s); a Gaussian posterior needs var > 0"
        )
    return validate_posteriors(mu, np.log(var), what)


class ChannelSet:
    """Channels fingerprinted on one sample; computes blocks of Bhattacharyya coefficients lazily.

    Fingerprints are never all held at once: ``bc_rows`` returns the rows ``i`` of a block of
    channels, which is what the batched estimators need.
    """

    sample: FingerprintSample
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    def bc_rows(self, channels: slice, rows: slice, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Bhattacharyya coefficients ``(r, c, N)`` of channels ``channels`` for points ``rows``.

        Row-major over points so that the rows of many channels form one batched matrix product.
        """
        raise NotImplementedError


class GaussianChannels(ChannelSet):
    """Channels of Gaussian encoders: each a subset of dimensions of one model's posteriors.

    Subsets of different sizes are padded with a constant dimension (mu = 0, logvar = 0), which
    adds zero to every Bhattacharyya distance.

    Parameters
    ----------
    mu, logvar : ndarray, shape (C, N, D)
        Per-channel posterior parameters on the fingerprint sample.
    sample : FingerprintSample
    names : list of str
    """

    def __init__(self, mu, logvar, sample: FingerprintSample, names: list[str] | None = None):
        mu = np.asarray(mu, dtype=np.float64)
        logvar = np.asarray(logvar, dtype=np.float64)
        if mu.ndim != 3 or mu.shape != logvar.shape:
            raise DisentkitError(
                f"channels need mu/logvar of shape (C, N, D); got {mu.shape}, {logvar.shape}"
            )
        if mu.shape[1] != len(sample):
            raise DisentkitError(
                f"channels have {mu.shape[1]} points but the fingerprint sample has {len(sample)}"
            )
        validate_posteriors(mu.reshape(-1, mu.shape[-1]), logvar.reshape(-1, mu.shape[-1]), "channels")
        self.mu, self.logvar, self.sample = mu, logvar, sample
        self.names = list(names) if names is not None else [f"ch{k}" for k in range(mu.shape[0])]
        if len(self.names) != mu.shape[0]:
            raise DisentkitError(f"{len(self.names)} names for {mu.shape[0]} channels")
        self._cache: dict = {}

    @classmethod
    def from_model(
        cls,
        mu,
        logvar,
        sample: FingerprintSample,
        subsets: list[list[int]] | None = None,
        prefix: str = "",
    ) -> GaussianChannels:
        """Channels of one model: every single dimension, or the given subsets of dimensions."""
        mu, logvar = validate_posteriors(mu, logvar, f"model {prefix or '?'}")
        dims = mu.shape[1]
        subsets = [[d] for d in range(dims)] if subsets is None else [list(s) for s in subsets]
        for s in subsets:
            if not s or min(s) < 0 or max(s) >= dims or len(set(s)) != len(s):
                raise DisentkitError(f"bad dimension subset {s} for a model with {dims} latent dims")
        width = max(len(s) for s in subsets)
        n = mu.shape[0]
        cmu = np.zeros((len(subsets), n, width))
        clv = np.zeros((len(subsets), n, width))
        for k, s in enumerate(subsets):
            cmu[k, :, : len(s)] = mu[:, s]
            clv[k, :, : len(s)] = logvar[:, s]
        names = [f"{prefix}{'+'.join(f'z{d}' for d in s)}" for s in subsets]
        return cls(cmu, clv, sample, names)

    @classmethod
    def from_ensemble(
        cls, posteriors: list[tuple], sample: FingerprintSample, names: list[str] | None = None
    ):
        """Every single dimension of every model; all models must have the same latent size."""
        if not posteriors:
            raise DisentkitError("an ensemble needs at least one model")
        sizes = {np.shape(mu)[-1] if np.ndim(mu) == 2 else 1 for mu, _ in posteriors}
        points = {np.shape(mu)[0] for mu, _ in posteriors}
        if len(points) > 1:
            raise DisentkitError(
                f"ensemble members were evaluated on different numbers of points {sorted(points)}; "
                "encode the same fingerprint sample with every run"
            )
        if len(sizes) > 1:
            raise DisentkitError(
                f"ensemble members have different latent sizes {sorted(sizes)}; compare runs of one architecture"
            )
        names = names or [f"m{k}" for k in range(len(posteriors))]
        sets = [
            cls.from_model(mu, lv, sample, prefix=f"{nm}/")
            for (mu, lv), nm in zip(posteriors, names, strict=True)
        ]
        return cls(
            np.concatenate([s.mu for s in sets]),
            np.concatenate([s.logvar for s in sets]),
            sample,
            [n for s in sets for n in s.names],
        )

    def subset(self, keep) -> GaussianChannels:
        keep = np.asarray(keep)
        return GaussianChannels(self.mu[keep], self.logvar[keep], self.sample, [self.names[k] for k in keep])

    def _tensors(self, device: torch.device, dtype: torch.dtype):
        key = (str(device), dtype)
        if key not in self._cache:
            self._cache[key] = _coefficient_terms(self.mu, self.logvar, device, dtype)
        return self._cache[key]

    def bc_rows(self, channels: slice, rows: slice, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        m, v, g = self._tensors(device, dtype)
        return bc_rows_fast(m[channels], v[channels], g[channels], rows).to(dtype)


def _coefficient_terms(mu: np.ndarray, logvar: np.ndarray, device, dtype):
    """Per-point terms of BC in ratio form, scaled per channel dimension to suit ``dtype``.

    BC is unchanged when a dimension's means are divided by k and its variances by k², so each
    dimension is scaled by its geometric-mean standard deviation before a float32 cast (keeps
    variances near 1). Spreads of variance too wide for float32 fall back to float64.
    """
    centre = logvar.mean(axis=1, keepdims=True)  # (C, 1, D)
    lv = logvar - centre
    if dtype == torch.float32 and np.abs(lv).max() > 80:
        dtype = torch.float64  # exp(±80) is near float32's range
    m = mu * np.exp(-0.5 * centre)
    v = np.exp(lv)
    # BC = sqrt(2) (v_i v_j)^(1/4) / sqrt(v_i + v_j) * exp(-(mu_i - mu_j)^2 / (4 (v_i + v_j)))
    g = np.exp(0.25 * lv) * 2.0**0.25
    return tuple(torch.as_tensor(a, device=device).to(dtype) for a in (m, v, g))


def bc_rows_fast(m: torch.Tensor, v: torch.Tensor, g: torch.Tensor, rows: slice) -> torch.Tensor:
    """Bhattacharyya coefficients ``(r, c, N)`` from the ratio-form terms ``(c, N, D)``.

    Memory traffic, not arithmetic, bounds this step, so every update is in place on one buffer.
    """
    out = None
    for d in range(m.shape[-1]):
        md, vd, gd = m[..., d], v[..., d], g[..., d]  # (c, N)
        mi, vi, gi = (t[:, rows].T[:, :, None] for t in (md, vd, gd))  # (r, c, 1)
        s = vi + vd[None]
        q = mi - md[None]
        q.square_().div_(s).mul_(-0.25).exp_()
        q.mul_(s.rsqrt_()).mul_(gi).mul_(gd[None])
        out = q if out is None else out.mul_(q)
    return out


def bhattacharyya_rows(mu: torch.Tensor, logvar: torch.Tensor, rows: slice) -> torch.Tensor:
    """Bhattacharyya distances ``(c, r, N)`` between points ``rows`` and all points, per channel.

    ``mu``/``logvar`` are ``(c, N, D)``; distances are summed over D (diagonal covariances), in the
    input dtype (float64 from :class:`GaussianChannels`). Differentiable (used by fusion).
    """
    mu_i, lv_i = mu[:, rows, None, :], logvar[:, rows, None, :]
    mu_j, lv_j = mu[:, None, :, :], logvar[:, None, :, :]
    # s = (var_i + var_j)/2 in log space: stable for tiny and huge variances alike
    log_s = torch.logaddexp(lv_i, lv_j) - np.log(2.0)
    dist = (mu_i - mu_j) ** 2 / (8.0 * torch.exp(log_s)) + 0.5 * log_s - 0.25 * (lv_i + lv_j)
    return dist.sum(-1)


class LabelChannels(ChannelSet):
    """Hard labels (ground-truth factors) as channels: BC = 1 for equal labels, else 1e-10."""

    def __init__(self, labels, sample: FingerprintSample, names: list[str] | None = None):
        labels = np.asarray(labels)
        if labels.ndim == 1:
            labels = labels[:, None]
        if labels.ndim != 2 or labels.shape[0] != len(sample):
            raise DisentkitError(
                f"labels must have shape ({len(sample)}, K) for the fingerprint sample; got {labels.shape}"
            )
        self.labels, self.sample = labels.T.copy(), sample  # (K, N)
        self.names = list(names) if names is not None else [f"factor{k}" for k in range(labels.shape[1])]
        if len(self.names) != self.labels.shape[0]:
            raise DisentkitError(f"{len(self.names)} names for {self.labels.shape[0]} labels")

    def bc_rows(self, channels: slice, rows: slice, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        lab = torch.as_tensor(self.labels[channels], device=device)
        equal = lab[:, rows].T[:, :, None] == lab[None, :, :]
        return torch.where(equal, 1.0, LABEL_FLOOR).to(dtype)
