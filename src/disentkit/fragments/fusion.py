"""Ensemble fusion: one representation whose fingerprint agrees best with an ensemble's.

The free variables are the fused Gaussian posterior parameters (mu, logvar) of the fingerprint
points; Adam maximises the mean similarity, exp(-VI) or NMI, between the fused fingerprint and
every member's (spec: "Ensemble fusion"). The paper's demonstration, reproduced by
:func:`circle_demo`: weak 1-D beta-VAEs of points on a circle each cut the circle somewhere;
fused, they recover a continuous circle, the better the more members there are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from disentkit.errors import DisentkitError
from disentkit.fragments.fingerprint import bhattacharyya_rows, validate_posteriors

LOG2 = math.log(2.0)


def _info_terms(bc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """I(U;X) and I(U;U') in bits of fingerprints ``(..., N, N)`` (differentiable)."""
    info = -torch.log2(bc.mean(-1)).mean(-1)
    both = -torch.log2((bc * bc).mean(-1)).mean(-1)
    return info, 2 * info - both


def fingerprint(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """N x N Bhattacharyya coefficients of one whole space (mu, logvar: (N, D)); differentiable."""
    return torch.exp(-bhattacharyya_rows(mu[None], logvar[None], slice(None))[0])


def similarity_to_members(bc_fused: torch.Tensor, members: torch.Tensor, member_terms=None) -> dict:
    """NMI and VI (bits) between one fingerprint ``(N, N)`` and each of ``members`` ``(K, N, N)``."""
    info_f, ent_f = _info_terms(bc_fused)
    info_k, ent_k = member_terms if member_terms is not None else _info_terms(members)
    joint = -torch.log2((members * bc_fused).mean(-1)).mean(-1)
    mutual = info_f + info_k - joint
    vi = ent_f + ent_k - 2 * mutual
    nmi = mutual / torch.sqrt(torch.clamp(ent_f * ent_k, min=1e-12))
    return {"vi": vi, "nmi": nmi, "info": info_f, "entropy": ent_f}


@dataclass
class FusionResult:
    """Fused posterior parameters on the fingerprint points and the optimisation trace."""

    mu: np.ndarray
    logvar: np.ndarray
    history: list[float] = field(default_factory=list)
    vi: np.ndarray | None = None
    nmi: np.ndarray | None = None


def fuse(
    member_posteriors: list[tuple[np.ndarray, np.ndarray]],
    dims: int = 2,
    steps: int = 500,
    lr: float = 0.05,
    objective: str = "exp-vi",
    seed: int = 0,
    device: str | torch.device | None = None,
    anneal: float = 0.05,
) -> FusionResult:
    """Fuse an ensemble: maximise the mean similarity of a free fingerprint to the members'.

    Parameters
    ----------
    member_posteriors : list of (mu, logvar)
        Each member's whole latent space on the same fingerprint points, arrays (N, D_k).
    dims : int
        Dimensions of the fused space.
    objective : {"exp-vi", "nmi"}
        Mean exp(-VI) (default, the paper's) or mean NMI.
    seed : int
        Seeds the initial fused means.
    anneal : float
        Continuation: the members' fingerprints are blurred to ``exp(-tau D)`` with ``tau`` rising
        linearly from ``anneal`` to 1 over the first 60 % of the steps (1 disables it). Blurred
        members constrain the global layout, so the fused space forms in one piece before it is
        refined; without it the circle demo's fused space froze in disconnected pieces
        (continuity 0.04 vs 0.28-0.30 for 8 members).
    """
    from disentkit.device import pick_device

    if objective not in ("exp-vi", "nmi"):
        raise DisentkitError(f"unknown fusion objective {objective!r}; use exp-vi or nmi")
    if len(member_posteriors) < 1:
        raise DisentkitError("fusion needs at least one ensemble member")
    dev = pick_device(device)
    checked = [validate_posteriors(m, lv, f"member {k}") for k, (m, lv) in enumerate(member_posteriors)]
    n = {m.shape[0] for m, _ in checked}
    if len(n) > 1:
        raise DisentkitError(f"members were evaluated on different numbers of points {sorted(n)}")
    if not 0 < anneal <= 1:
        raise DisentkitError(f"anneal must be in (0, 1], got {anneal}")
    with torch.no_grad():
        members = torch.stack(
            [
                fingerprint(torch.as_tensor(m, device=dev), torch.as_tensor(lv, device=dev))
                for m, lv in checked
            ]
        )
        terms = _info_terms(members)
    gen = torch.Generator().manual_seed(seed)
    npts = members.shape[-1]
    # Coarse to fine: start with every point confusable with every other (means near 0, unit
    # variances). Started sharp, far-apart points have BC ~ 0 and no gradient to join them, and
    # the fused space freezes in disconnected pieces.
    mu = (0.05 * torch.randn(npts, dims, generator=gen, dtype=torch.float64)).to(dev).requires_grad_(True)
    logvar = torch.zeros((npts, dims), dtype=torch.float64, device=dev, requires_grad=True)
    opt = torch.optim.Adam([mu, logvar], lr=lr)
    distances = -torch.log(torch.clamp(members, min=1e-300))
    history = []
    for step in range(steps):
        tau = min(1.0, anneal + (1.0 - anneal) * step / max(1.0, 0.6 * steps))
        target = members if tau == 1.0 else torch.exp(-tau * distances)
        opt.zero_grad()
        sim = similarity_to_members(
            fingerprint(mu, torch.clamp(logvar, -12, 6)), target, terms if tau == 1.0 else None
        )
        score = torch.exp(-sim["vi"]).mean() if objective == "exp-vi" else sim["nmi"].mean()
        (-score).backward()
        opt.step()
        history.append(float(score.detach()))
    with torch.no_grad():
        lv = torch.clamp(logvar, -12, 6)
        sim = similarity_to_members(fingerprint(mu, lv), members, terms)
    return FusionResult(
        mu=mu.detach().cpu().numpy(),
        logvar=lv.cpu().numpy(),
        history=history,
        vi=sim["vi"].cpu().numpy(),
        nmi=sim["nmi"].cpu().numpy(),
    )


# ------------------------------------------------------------------------------ circle demo
@dataclass
class CircleDemoConfig:
    """Settings of the fusion demonstration (paper: 1-D beta-VAEs on a circle).

    Presets: ``cpu`` (default; a few minutes on 2 cores: up to 16 members, 400 training steps of
    batch 128, 200 points, 300 fusion steps) and ``paper`` (ensembles up to 50 members, 5000 steps
    of batch 256, 1000 points, 1500 fusion steps: for a GPU or a long CPU run).
    """

    sizes: tuple[int, ...] = (1, 2, 4, 8, 16)
    beta: float = 0.03
    hidden: int = 256
    train_steps: int = 400
    batch: int = 128
    lr: float = 1e-3
    points: int = 200
    fuse_dims: int = 2
    fuse_steps: int = 300
    fuse_lr: float = 0.05
    anneal: float = 0.05
    objective: str = "exp-vi"
    angle_bins: int = 16
    seed: int = 0
    preset: str = "cpu"


PRESETS = {
    "cpu": {},
    "paper": {
        "sizes": (1, 2, 5, 10, 20, 50),
        "train_steps": 5000,
        "batch": 256,
        "points": 1000,
        "fuse_steps": 1500,
    },
}


def demo_config(preset: str = "cpu", **overrides) -> CircleDemoConfig:
    if preset not in PRESETS:
        raise DisentkitError(f"unknown fusion preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}, "preset": preset}
    cfg = CircleDemoConfig(**values)
    if not cfg.sizes or min(cfg.sizes) < 1:
        raise DisentkitError("ensemble sizes must be positive integers")
    return cfg


class CircleVAE(torch.nn.Module):
    """1-D beta-VAE for 2-D points: MLP encoder/decoder, two hidden layers of ``hidden`` tanh units."""

    def __init__(self, hidden: int = 256, latent: int = 1):
        super().__init__()

        def mlp(i, o):
            return torch.nn.Sequential(
                torch.nn.Linear(i, hidden),
                torch.nn.Tanh(),
                torch.nn.Linear(hidden, hidden),
                torch.nn.Tanh(),
                torch.nn.Linear(hidden, o),
            )

        self.encoder, self.decoder, self.latent = mlp(2, 2 * latent), mlp(latent, 2), latent

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar


def circle_points(angles: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(angles), np.sin(angles)], axis=-1)


def train_circle_vae(seed: int, cfg: CircleDemoConfig) -> CircleVAE:
    """One weak learner: Gaussian decoder (squared error), KL weighted by beta, Adam."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # layer initialisation draws from the global generator
    model = CircleVAE(cfg.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    for _ in range(cfg.train_steps):
        theta = torch.rand(cfg.batch, generator=gen) * (2 * math.pi)
        x = torch.stack([torch.cos(theta), torch.sin(theta)], -1)
        mu, logvar = model.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen)
        recon = ((model.decoder(z) - x) ** 2).sum(-1).mean()
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1).mean()
        loss = recon + cfg.beta * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def continuity(mu: np.ndarray, logvar: np.ndarray, angles: np.ndarray) -> float:
    """Median over largest Bhattacharyya distance between neighbouring points of the circle.

    ``angles`` are in circle order (cyclic). 1 when every neighbour pair is equally
    distinguishable (a continuous, uniform circle); a cut (one pair far apart, as in a 1-D code
    of a circle) or uneven resolution makes it small.
    """
    order = np.argsort(angles)
    nxt = np.roll(order, -1)

    def pairs(a):  # each neighbour pair as a two-point channel (N, 2, D): O(N), not all N x N pairs
        a = np.asarray(a, dtype=np.float64)
        return torch.from_numpy(np.stack([a[order], a[nxt]], 1))

    dist = bhattacharyya_rows(pairs(mu), pairs(logvar), slice(0, 1))[:, 0, 1].numpy()
    return float(np.median(dist) / max(dist.max(), 1e-300))


def layout_correlation(mu: np.ndarray, angles: np.ndarray) -> float:
    """Spearman correlation of distances between the means and chord distances on the circle
    (global layout; fingerprints constrain only which points are confusable, so this need not grow)."""
    from scipy.stats import spearmanr

    iu = np.triu_indices(len(angles), 1)
    d_space = np.linalg.norm(mu[:, None, :] - mu[None, :, :], axis=-1)[iu]
    pts = circle_points(angles)
    d_circle = np.linalg.norm(pts[:, None, :] - pts[None, :, :], axis=-1)[iu]
    return float(spearmanr(d_space, d_circle).statistic)


def angle_nmi(mu: np.ndarray, logvar: np.ndarray, angles: np.ndarray, bins: int) -> float:
    """NMI of a space with the circle angle binned into ``bins`` equal arcs (a hard label)."""
    from disentkit.fragments.fingerprint import FingerprintSample, GaussianChannels, LabelChannels
    from disentkit.fragments.information import pairwise_information

    sample = FingerprintSample.arange(len(angles), source="circle")
    space = GaussianChannels(mu[None], logvar[None], sample, ["space"])
    label = LabelChannels((angles / (2 * math.pi) * bins).astype(np.int64) % bins, sample, ["angle"])
    return float(pairwise_information(space, label, device="cpu", dtype=torch.float64).nmi[0, 0])


def _measures(mu, logvar, angles, cfg: CircleDemoConfig) -> dict[str, float]:
    return {
        "continuity": continuity(mu, logvar, angles),
        "angle_nmi": angle_nmi(mu, logvar, angles, cfg.angle_bins),
        "layout_correlation": layout_correlation(mu, angles),
    }


def circle_demo(cfg: CircleDemoConfig, progress=None) -> dict:
    """Train ``max(sizes)`` weak learners, fuse the first k for every k in ``sizes``, measure.

    Returns a dict with, per size, the fused space's continuity and angle NMI, and the mean of
    the same measures over single members (the weak-learner baseline); plus the fused spaces.
    """
    angles = 2 * math.pi * np.arange(cfg.points) / cfg.points  # fixed points, fixed order
    x = torch.as_tensor(circle_points(angles), dtype=torch.float32)
    members = []
    for seed in range(max(cfg.sizes)):
        model = train_circle_vae(cfg.seed + seed, cfg)
        with torch.no_grad():
            mu, logvar = model.encode(x)
        members.append((mu.double().numpy(), logvar.double().numpy()))
        if progress:
            progress(f"trained weak learner {seed + 1}/{max(cfg.sizes)}")
    single = [_measures(m, lv, angles, cfg) for m, lv in members]
    rows, spaces = [], {}
    for k in cfg.sizes:
        fused = fuse(
            members[:k],
            cfg.fuse_dims,
            cfg.fuse_steps,
            cfg.fuse_lr,
            cfg.objective,
            cfg.seed,
            "cpu",
            cfg.anneal,
        )
        row = {
            "members": k,
            **_measures(fused.mu, fused.logvar, angles, cfg),
            "mean_similarity": fused.history[-1],
        }
        row |= {f"member_{key}": float(np.mean([s[key] for s in single[:k]])) for key in single[0]}
        rows.append(row)
        spaces[k] = fused
        if progress:
            progress(f"fused {k} members: continuity {rows[-1]['continuity']:.3f}")
    return {"rows": rows, "single": single, "angles": angles, "spaces": spaces, "members": members}


def demo_figure(result: dict, path) -> None:
    """Measure against ensemble size (left) and the fused spaces coloured by angle (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    sizes = [r["members"] for r in rows]
    fig, axes = plt.subplots(1, 1 + len(rows), figsize=(4 + 2.6 * len(rows), 3.6))
    ax = axes[0]
    ax.plot(sizes, [r["continuity"] for r in rows], "o-", label="fused: continuity")
    ax.plot(sizes, [r["member_continuity"] for r in rows], "o--", label="members (mean): continuity")
    ax.plot(sizes, [r["angle_nmi"] for r in rows], "s-", label="fused: NMI with angle")
    ax.plot(sizes, [r["member_angle_nmi"] for r in rows], "s--", label="members (mean): NMI with angle")
    ax.set_xscale("log")
    ax.set_xlabel("ensemble size")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7)
    for axis, row in zip(axes[1:], rows, strict=True):
        mu = result["spaces"][row["members"]].mu
        y = mu[:, 1] if mu.shape[1] > 1 else np.zeros(len(mu))
        axis.scatter(mu[:, 0], y, c=result["angles"], cmap="hsv", s=6)
        axis.set_title(f"{row['members']} members", fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
