"""What transfer measures on one fixed evaluation sample, before and after fine-tuning.

Labelled targets: per-factor GBT (and MLP) accuracy with the full and the pruned representation
(pruned = the OMES-associated dimensions), OMES / OS / MES overall and per factor with the
association matrix S, DCI, MIG; plus what needs no labels. Unlabelled targets: reconstruction,
KL per dimension and the unsupervised scores (Gaussian total / Wasserstein correlation, MI). Every
result is an :class:`~disentkit.metrics.evaluation.Evaluation`.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F

from disentkit.metrics import MetricWarning
from disentkit.metrics.evaluation import Evaluation
from disentkit.models.vae import ACTIVE_KL

CLASSIFIERS = ("gbt", "mlp", "hgb")


def _seed(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def reconstruction_and_kl(model, images: np.ndarray) -> dict:
    """Mean Bernoulli reconstruction loss (summed over pixels) of the posterior means, and KL per dim."""
    mu, logvar = model.encode(images)
    recon = model.decode(mu)
    target = torch.from_numpy(images.astype(np.float32) / 255.0)
    pred = torch.from_numpy(recon).clamp(1e-6, 1 - 1e-6)
    bce = F.binary_cross_entropy(pred, target, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (np.exp(logvar) + mu**2 - 1.0 - logvar)
    return {
        "reconstruction": float(bce.mean()),
        "kl_per_dim": kl.mean(axis=0).tolist(),
        "kl": float(kl.sum(axis=1).mean()),
        "active_dims": int((kl.mean(axis=0) > ACTIVE_KL).sum()),
    }, mu


def unlabelled_scores(mu: np.ndarray) -> dict:
    from disentkit.metrics import unsupervised_scores

    return {"unsupervised": unsupervised_scores(mu).to_dict()}


def omes_scores(model, mu, factors, names, *, seed: int, pairs_from=None, n_pairs: int = 10_000):
    """OMES in intervention mode on ``pairs_from`` (rendered pairs differing in one factor, drawn from
    ``seed`` alone: the same pairs for every model), else matched mode on the sample itself."""
    from disentkit.metrics import omes, omes_intervention

    if pairs_from is None:
        return omes(mu, factors, names, rng=_seed(seed, 10))
    return omes_intervention(pairs_from, model.representation, rng=_seed(seed, 11), n_pairs=n_pairs)


def labelled_scores(
    model,
    mu: np.ndarray,
    factors: np.ndarray,
    names: list[str],
    *,
    seed: int,
    classifiers: tuple[str, ...],
    n_train: int,
    n_test: int,
    pairs_from=None,
    n_pairs: int = 10_000,
) -> dict:
    """OMES, DCI, MIG and downstream accuracy (full and pruned) of one representation, by metric
    name (``downstream_<classifier>``)."""
    from disentkit.metrics import classifier_scores, mig

    om = omes_scores(model, mu, factors, names, seed=seed, pairs_from=pairs_from, n_pairs=n_pairs)
    pruned = [int(d) for d in om.pruned_dims]
    out: dict = {"omes": om.to_dict(), "mig": mig(mu, factors, names).to_dict()}
    for i, kind in enumerate(classifiers):
        dci, down = classifier_scores(
            mu,
            factors,
            names,
            rng=_seed(seed, 20 + i),
            classifier=kind,
            pruned_dims=pruned,
            n_train=n_train,
            n_test=n_test,
            n_jobs=1,
        )
        out[f"downstream_{kind}"] = down.to_dict()
        if dci is not None and "dci" not in out:
            out["dci"] = dci.to_dict()
    return out


def evaluate(
    model,
    images: np.ndarray,
    factors: np.ndarray | None = None,
    names: list[str] | None = None,
    *,
    seed: int = 0,
    classifiers: tuple[str, ...] = ("gbt", "mlp"),
    n_train: int = 10_000,
    n_test: int = 5_000,
    pairs_from=None,
    n_pairs: int = 10_000,
) -> Evaluation:
    """Every score of ``model`` on one evaluation sample (labelled when ``factors`` is given).

    Parameters
    ----------
    model : TrainedModel
        ``encode`` / ``decode`` as returned by :func:`disentkit.load_run`.
    images : uint8 ``(n, 64, 64, C)``
        Already adapted to the model.
    factors : int ``(n, K)``, optional
    seed : int
        Drives the metrics' randomness (the same for before and after).
    pairs_from : dataset, optional
        Renders OMES's intervention pairs (``n_pairs`` per factor); None: matched pairs in the sample.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MetricWarning)
        posterior, mu = reconstruction_and_kl(model, images)
        metrics = unlabelled_scores(mu)
        if factors is not None:
            metrics |= labelled_scores(
                model,
                mu,
                factors,
                list(names),
                seed=seed,
                classifiers=classifiers,
                n_train=n_train,
                n_test=n_test,
                pairs_from=pairs_from,
                n_pairs=n_pairs,
            )
    return Evaluation(
        metrics=metrics,
        posterior=posterior,
        factor_names=None if names is None else list(names),
        n_samples=len(images),
        n_dims=int(mu.shape[1]),
        settings={"seed": seed, "classifiers": list(classifiers), "n_train": n_train, "n_test": n_test}
        | ({"omes_mode": "intervention", "n_pairs": n_pairs} if pairs_from is not None else {}),
        comparable_with_published="hgb" not in classifiers,
        warnings=sorted({str(w.message) for w in caught if issubclass(w.category, MetricWarning)}),
    )


def evaluate_on_dataset(
    model,
    dataset,
    *,
    seed: int = 0,
    classifiers: tuple[str, ...] = ("gbt", "mlp"),
    eval_size: int = 15_000,
    n_pairs: int = 10_000,
) -> Evaluation:
    """:func:`evaluate` of ``model`` on a labelled ``dataset`` it reads as it is (its own training
    data): a sample of ``eval_size`` (2/3 train, 1/3 test) and OMES intervention pairs rendered from it."""
    rng = _seed(seed, 1)
    factors = dataset.sample_factors(eval_size, rng)
    images = dataset.render(factors, rng)
    n_train = (2 * eval_size) // 3
    result = evaluate(
        model,
        images,
        factors,
        list(dataset.factor_names),
        seed=seed,
        classifiers=classifiers,
        n_train=n_train,
        n_test=eval_size - n_train,
        pairs_from=dataset,
        n_pairs=n_pairs,
    )
    result.dataset = {"name": dataset.name}
    result.context["evaluation"] = {"size": eval_size, "n_pairs": n_pairs, "seed": seed}
    return result
