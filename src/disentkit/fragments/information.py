"""Information estimates in bits: I(U;X), I(X;U,V), I(U;U'), NMI and VI, all pairs at once.

Estimators follow Murphy, Dillavou & Bassett (2024, arXiv:2405.21042). With ``B_a`` the fingerprint (Bhattacharyya
coefficients) of channel ``a`` on ``N`` points:

- ``I(U;X)    = -mean_i log2( mean_j B_a[i,j] )``
- ``I(X;U,V)  = -mean_i log2( T[a,b,i] / N )`` with ``T[a,b,i] = sum_j B_a[i,j] B_b[i,j]``
- ``I(U;U')   = 2 I(U;X) - I(X;U,U')``, where ``I(X;U,U')`` is the diagonal ``T[a,a,i]``
- ``NMI = I(U;V) / sqrt(I(U;U') I(V;V'))``, ``VI = I(U;U') + I(V;V') - 2 I(U;V)``.

For a fixed row ``i``, ``T[:,:,i]`` is one matrix product of the ``(C, N)`` slab of fingerprint
rows with its transpose, so all pairs are a batched matrix product over row blocks. Blocks over
rows (and over channels when there are many) keep memory under ``max_bytes``; the logs are taken
in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from disentkit.device import pick_device
from disentkit.errors import DisentkitError
from disentkit.fragments.fingerprint import ChannelSet, check_same_sample

#: NMI is reported as 0 where a channel carries no information (its I(U;U') is below this, bits)
NMI_EPS = 1e-9


@dataclass
class PairwiseInformation:
    """All-pairs information between channel sets ``a`` (rows) and ``b`` (columns), in bits.

    Attributes
    ----------
    info_a, info_b : ndarray (Ca,), (Cb,)
        I(U;X) of each channel.
    entropy_a, entropy_b : ndarray
        I(U;U') of each channel (its generalized entropy).
    joint : ndarray (Ca, Cb)
        I(X;U,V).
    names_a, names_b : list of str
    """

    info_a: np.ndarray
    info_b: np.ndarray
    entropy_a: np.ndarray
    entropy_b: np.ndarray
    joint: np.ndarray
    names_a: list[str]
    names_b: list[str]

    @property
    def mutual(self) -> np.ndarray:
        """I(U;V) = I(U;X) + I(V;X) - I(X;U,V)."""
        return self.info_a[:, None] + self.info_b[None, :] - self.joint

    @property
    def nmi(self) -> np.ndarray:
        return nmi_from(self.mutual, self.entropy_a, self.entropy_b)

    @property
    def vi(self) -> np.ndarray:
        return self.entropy_a[:, None] + self.entropy_b[None, :] - 2.0 * self.mutual


def nmi_from(mutual, entropy_a, entropy_b) -> np.ndarray:
    """NMI = I(U;V)/sqrt(H_U H_V); 0 where either channel carries no information."""
    denom = np.sqrt(np.clip(entropy_a[:, None] * entropy_b[None, :], 0.0, None))
    return np.where(denom > NMI_EPS, mutual / np.where(denom > NMI_EPS, denom, 1.0), 0.0)


def _blocks(total: int, size: int) -> list[slice]:
    return [slice(s, min(s + size, total)) for s in range(0, total, size)]


def _plan(n_a: int, n_b: int, n: int, itemsize: int, max_bytes: int, symmetric: bool) -> tuple[int, int]:
    """Channel block size and row block size so one step's tensors fit in ``max_bytes``.

    One row block holds the rows of every channel of both sides ((Ca + Cb)·r·N), the temporaries
    of a block while it is built (2·c·r·N) and the products (r·c·c, plus a float64 copy); with
    more channels than fit, rows come one at a time (memory then grows with C·N, not C·N²). For all pairs of
    one set, four channel blocks let the products skip the blocks below the diagonal (T is
    symmetric in a, b), saving 3/8 of the arithmetic. Rows come in small blocks (<= 16) because
    the fingerprint rows are memory-bound: small blocks stay in cache.
    """
    c = max(n_a, n_b)
    if symmetric and c >= 64:
        c = -(-c // 4)
    # one row block holds every channel's rows (both sides) plus a block's temporaries
    per_row = (n_a + n_b + 2 * c) * n * itemsize + c * c * (itemsize + 8)
    rows = int(max(1, min(n, 16, max_bytes // per_row)))
    return c, rows


def pairwise_information(
    a: ChannelSet,
    b: ChannelSet | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    max_bytes: int = 1 << 28,
) -> PairwiseInformation:
    """Information of every channel of ``a`` with every channel of ``b`` (``a`` with itself if None).

    Parameters
    ----------
    a, b : ChannelSet
        Fingerprinted on the same sample (checked by digest).
    device : str or torch.device, optional
        ``None`` picks CUDA when present (:func:`disentkit.device.pick_device`).
    dtype : torch.dtype, optional
        Precision of the fingerprints and of the matrix products; the logs are always float64.
        Default: float64 on a GPU, float32 on a CPU (about twice as fast there; NMI/VI then differ
        from float64 by ~1e-7, since every product is a sum of non-negative terms >= 1).
    max_bytes : int
        Bound on the working memory of one step.

    Returns
    -------
    PairwiseInformation
    """
    symmetric = b is None
    b = a if symmetric else b
    sample = check_same_sample([a.sample, b.sample])
    if len(a) == 0 or len(b) == 0:
        raise DisentkitError("pairwise information needs at least one channel on each side")
    dev = pick_device(device)
    if dtype is None:
        dtype = torch.float64 if dev.type == "cuda" else torch.float32
    n = len(sample)
    itemsize = torch.tensor([], dtype=dtype).element_size()
    cb, rb = _plan(len(a), len(b), n, itemsize, max_bytes, symmetric)
    acc = _Accumulator(len(a), len(b))
    a_blocks, b_blocks = _blocks(len(a), cb), _blocks(len(b), cb)
    with torch.no_grad():
        for rows in _blocks(n, rb):
            # every channel block's rows once per row block: products reuse them
            slabs_a = [a.bc_rows(blk, rows, dev, dtype) for blk in a_blocks]
            slabs_b = slabs_a if symmetric else [b.bc_rows(blk, rows, dev, dtype) for blk in b_blocks]
            acc.add_self("a", a_blocks, slabs_a, n)
            if not symmetric:
                acc.add_self("b", b_blocks, slabs_b, n)
            for ia, sa in enumerate(a_blocks):
                for jb in range(ia if symmetric else 0, len(b_blocks)):
                    acc.add_joint(sa, b_blocks[jb], slabs_a[ia], slabs_b[jb], n)
    return acc.result(n, symmetric, a.names, b.names)


class _Accumulator:
    """Running sums over rows of log2(mean_j ...) for the self terms and the joint terms."""

    def __init__(self, n_a: int, n_b: int):
        self.sums = {"a": np.zeros((2, n_a)), "b": np.zeros((2, n_b))}
        self.joint = np.zeros((n_a, n_b))

    def add_self(self, side: str, blocks: list[slice], slabs: list[torch.Tensor], n: int) -> None:
        # slab: (r, c, N); row sums give I(U;X), row sums of squares give I(X;U,U')
        for block, slab in zip(blocks, slabs, strict=True):
            one = torch.log2(slab.sum(-1).to(torch.float64) / n).sum(0)
            two = torch.log2(torch.linalg.vecdot(slab, slab).to(torch.float64) / n).sum(0)
            self.sums[side][0, block] += one.cpu().numpy()
            self.sums[side][1, block] += two.cpu().numpy()

    def add_joint(self, sa: slice, sb: slice, slab_a: torch.Tensor, slab_b: torch.Tensor, n: int) -> None:
        # T[:, :, i] = B_a[:, i, :] @ B_b[:, i, :]^T: one batched product over the rows of the block
        prod = torch.bmm(slab_a, slab_b.transpose(1, 2))  # (r, ca, cb)
        self.joint[sa, sb] += torch.log2(prod.to(torch.float64) / n).sum(0).cpu().numpy()

    def result(self, n: int, symmetric: bool, names_a, names_b) -> PairwiseInformation:
        joint = -self.joint / n
        if symmetric:  # only blocks on and above the diagonal were computed
            upper = np.triu(joint)
            joint = upper + np.triu(joint, 1).T
            self.sums["b"] = self.sums["a"]
        (info_a, both_a), (info_b, both_b) = (-self.sums["a"] / n), (-self.sums["b"] / n)
        return PairwiseInformation(
            info_a=info_a,
            info_b=info_b,
            entropy_a=2.0 * info_a - both_a,
            entropy_b=2.0 * info_b - both_b,
            joint=joint,
            names_a=list(names_a),
            names_b=list(names_b),
        )


def channel_information(channels: ChannelSet, device=None, max_bytes: int = 1 << 30) -> dict[str, np.ndarray]:
    """I(U;X) and I(U;U') of every channel (bits), without the pairwise products."""
    dev = pick_device(device)
    n = len(channels.sample)
    c, r = _plan(len(channels), 1, n, 8, max_bytes, False)
    acc = _Accumulator(len(channels), 0)
    with torch.no_grad():
        for rows in _blocks(n, r):
            blocks = _blocks(len(channels), c)
            acc.add_self("a", blocks, [channels.bc_rows(b, rows, dev, torch.float64) for b in blocks], n)
    info, both = -acc.sums["a"] / n
    return {"info": info, "entropy": 2.0 * info - both}


# ---------------------------------------------------------------------------- reference loop
def bc_matrix_numpy(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """The N x N Bhattacharyya coefficients of one channel (mu, logvar of shape (N, D)), numpy."""
    var = np.exp(logvar)
    s = 0.5 * (var[:, None, :] + var[None, :, :])
    d = (mu[:, None, :] - mu[None, :, :]) ** 2 / (8 * s) + 0.5 * np.log(
        s / np.sqrt(var[:, None, :] * var[None, :, :])
    )
    return np.exp(-d.sum(-1))


def pair_measures_numpy(bc_u: np.ndarray, bc_v: np.ndarray) -> dict[str, float]:
    """Every measure for one pair of fingerprints, straight from the formulas (the slow reference)."""

    def info(m):
        return float(-np.mean(np.log2(m.mean(axis=1))))

    i_u, i_v, i_uv = info(bc_u), info(bc_v), info(bc_u * bc_v)
    h_u, h_v = 2 * i_u - info(bc_u * bc_u), 2 * i_v - info(bc_v * bc_v)
    mutual = i_u + i_v - i_uv
    denom = math.sqrt(max(h_u * h_v, 0.0))
    return {
        "info_u": i_u,
        "info_v": i_v,
        "joint": i_uv,
        "mutual": mutual,
        "nmi": mutual / denom if denom > NMI_EPS else 0.0,
        "vi": h_u + h_v - 2 * mutual,
    }


def pairwise_loop(fingerprints: list[np.ndarray]) -> dict[str, np.ndarray]:
    """All-pairs NMI and VI by a Python double loop over precomputed N x N fingerprints.

    The straightforward method (as in the paper's release); kept as the reference the batched code
    is tested and benchmarked against.
    """
    c = len(fingerprints)
    nmi, vi = np.zeros((c, c)), np.zeros((c, c))
    for p in range(c):
        for q in range(c):
            m = pair_measures_numpy(fingerprints[p], fingerprints[q])
            nmi[p, q], vi[p, q] = m["nmi"], m["vi"]
    return {"nmi": nmi, "vi": vi}


# ---------------------------------------------------------------------------- Monte Carlo
def monte_carlo_information(
    mu,
    logvar,
    draws: int = 4,
    generator: torch.Generator | None = None,
    device=None,
    max_bytes: int = 1 << 28,
) -> tuple[float, float]:
    """Monte Carlo estimate of I(U;X) in bits for a whole latent space, with its standard error.

    ``I(U;X) = E_i E_{u~p(u|x_i)} [log p(u|x_i) - log (1/N) sum_j p(u|x_j)]`` in float64, with the
    marginal approximated by the mixture over the same N points (so the estimate is at most
    log2 N). The standard error is the spread of the per-point averages over ``draws`` samples
    divided by sqrt(N): points are the independent units.

    Parameters
    ----------
    mu, logvar : array-like, shape (N, D)
    draws : int
        Samples of u per point.
    generator : torch.Generator, optional
        Source of the samples (CPU generator); seed it for reproducible estimates.
    """
    from disentkit.fragments.fingerprint import validate_posteriors

    mu_np, lv_np = validate_posteriors(mu, logvar, "Monte Carlo input")
    if draws < 1:
        raise DisentkitError("draws must be >= 1")
    dev = pick_device(device)
    n, d = mu_np.shape
    mu_t, lv_t = torch.as_tensor(mu_np), torch.as_tensor(lv_np)
    eps = torch.randn((draws, n, d), generator=generator, dtype=torch.float64)
    u = (mu_t + torch.exp(0.5 * lv_t) * eps).to(dev)  # (K, N, D)
    mu_t, lv_t = mu_t.to(dev), lv_t.to(dev)
    per_point = torch.zeros(n, dtype=torch.float64, device=dev)
    rows = max(1, int(max_bytes // (8 * 3 * n * d * draws)))
    with torch.no_grad():
        for blk in _blocks(n, rows):
            ub = u[:, blk, None, :]  # (K, r, 1, D) against every component j
            logp = -0.5 * (((ub - mu_t) ** 2) * torch.exp(-lv_t) + lv_t + math.log(2 * math.pi)).sum(-1)
            own = logp.diagonal(offset=blk.start, dim1=1, dim2=2)  # log p(u | x_i) for the i drawn
            marg = torch.logsumexp(logp, dim=-1) - math.log(n)
            per_point[blk] = (own - marg).mean(0)
    vals = per_point.cpu().numpy() / math.log(2)
    se = float(vals.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return float(vals.mean()), se
