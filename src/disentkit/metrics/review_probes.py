"""The review's variants of SAP, explicitness and the BetaVAE score (Zaidi et al., arXiv 2012.09276).

Each follows the review's code (ubisoft-laforge-disentanglement-metrics ``src/metrics/``) with its
config's defaults and ``continuous_factors=False`` (factors are class indices, never re-binned):

* :func:`review_sap` — ``sap.py`` with classification: per (factor, code) a decision tree on the
  min-max scaled code, its depth (1…9) chosen by 10-fold cross-validated accuracy, refit on every row
  and scored there; the mean gap between each factor's two best codes.
* :func:`review_explicitness` — ``explicitness.py`` (implementation 1): per factor a one-vs-rest
  logistic regression (balanced classes per binary problem) on all min-max scaled codes, its ROC AUC
  on every row averaged over classes, then mapped from [0.5, 1] to [0, 1].
* :func:`z_diff` — ``z_diff.py``: the BetaVAE score from a labelled sample. A point fixes one factor
  (drawn uniformly); each of its ``batch_size`` pairs draws a value of that factor seen at least twice
  and two distinct rows with it; the point is the mean |z₁ − z₂| over the pairs. A logistic regression
  predicts the fixed factor; the eval accuracy is scaled so that chance (1/K) is 0.

The interventional BetaVAE score (:func:`~disentkit.metrics.beta_vae_score`) renders its pairs
instead of finding them in the sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import minmax_scale
from sklearn.tree import DecisionTreeClassifier

from disentkit.errors import DisentkitError
from disentkit.metrics._common import MetricResult, prepare
from disentkit.metrics.review import REVIEW_SOURCE

SAP_DEPTHS = tuple(range(1, 10))
SAP_FOLDS = 10
ZDIFF_BATCH = 200
ZDIFF_TRAIN = 10_000
ZDIFF_EVAL = 5_000
ZDIFF_MAX_ITER = 10_000


def _gap(matrix: np.ndarray) -> np.ndarray:
    """Per row (factor): the best entry minus the second best."""
    top = np.sort(matrix, axis=1)
    return top[:, -1] - top[:, -2]


# ---------------------------------------------------------------------------- SAP (classification)
@dataclass
class ReviewSAPResult(MetricResult):
    """SAP with the review's decision-tree classifiers (``sap.py``, ``regression=False``)."""

    sap: float
    factor_names: list[str]
    sap_per_factor: list[float]
    score_matrix: np.ndarray  # K × D training accuracies
    depth_matrix: np.ndarray  # K × D depth chosen by cross-validation
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def _accuracy_by_depth(tree: DecisionTreeClassifier, x: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Accuracy on ``(x, target)`` of ``tree`` cut at each depth of :data:`SAP_DEPTHS`.

    A tree grows depth first and splits a node on its own rows alone, so the tree of max depth d is
    the deepest one cut at depth d: one fit gives every depth's predictions (the review fits each).
    """
    t = tree.tree_
    values = x[:, 0].astype(np.float32)  # what the tree compares: scikit-learn's trees read float32
    node = np.zeros(len(x), dtype=np.int64)
    accuracy = np.empty(len(SAP_DEPTHS))
    for i, _ in enumerate(SAP_DEPTHS):
        leaf = t.children_left[node] == -1
        right = values > t.threshold[node]
        node = np.where(leaf, node, np.where(right, t.children_right[node], t.children_left[node]))
        predicted = tree.classes_[np.argmax(t.value[node][:, 0, :], axis=1)]
        accuracy[i] = np.mean(predicted == target)
    return accuracy


def _tree_accuracy(code: np.ndarray, target: np.ndarray) -> tuple[float, int]:
    """(accuracy on every row, depth) of the depth-tuned tree of one code for one factor."""
    deepest = max(SAP_DEPTHS)
    folds = StratifiedKFold(n_splits=SAP_FOLDS)  # what cross_val_score(cv=10) uses for a classifier
    scores = np.mean(
        [
            _accuracy_by_depth(
                DecisionTreeClassifier(max_depth=deepest).fit(code[tr], target[tr]), code[te], target[te]
            )
            for tr, te in folds.split(code, target)
        ],
        axis=0,
    )
    best_score, best_depth = 0.0, 0
    for depth, score in zip(SAP_DEPTHS, scores, strict=True):
        if score > best_score:  # strictly better: the shallowest of equals wins, as the review
            best_score, best_depth = score, depth
    depth = max(
        best_depth, 1
    )  # every fold at accuracy 0 leaves the review with depth 0, which sklearn refuses
    full = DecisionTreeClassifier(max_depth=deepest).fit(code, target)
    return float(_accuracy_by_depth(full, code, target)[SAP_DEPTHS.index(depth)]), depth


def review_sap(z, y, factor_names=None, *, n_jobs: int = 1) -> ReviewSAPResult:
    """SAP as the review computes it for discrete factors (module docstring); ``n_jobs`` fits the
    (factor, code) pairs in parallel (joblib), with the same result."""
    from joblib import Parallel, delayed

    z, y, names, dropped = prepare(z, y, factor_names)
    if z.shape[1] < 2:
        raise DisentkitError("SAP needs at least two code dimensions (it is a gap between the best two)")
    codes = minmax_scale(z)
    pairs = [(k, j) for k in range(y.shape[1]) for j in range(z.shape[1])]
    fitted = Parallel(n_jobs=n_jobs)(delayed(_tree_accuracy)(codes[:, [j]], y[:, k]) for k, j in pairs)
    scores = np.zeros((y.shape[1], z.shape[1]))
    depths = np.zeros((y.shape[1], z.shape[1]), dtype=np.int64)
    for (k, j), (score, depth) in zip(pairs, fitted, strict=True):
        scores[k, j], depths[k, j] = score, depth
    per_factor = _gap(scores)
    settings = {"depths": list(SAP_DEPTHS), "folds": SAP_FOLDS, "source": REVIEW_SOURCE + "sap.py"}
    return ReviewSAPResult(
        float(per_factor.mean()),
        names,
        per_factor.tolist(),
        scores,
        depths,
        dropped,
        settings | {"n_jobs": n_jobs},
    )


# ---------------------------------------------------------------------------- explicitness
@dataclass
class ReviewExplicitnessResult(MetricResult):
    """Explicitness (Ridgeway & Mozer 2018) as the review computes it (``explicitness.py``, impl 1)."""

    explicitness: float  # scaled: chance (AUC 0.5) → 0
    factor_names: list[str]
    auc_per_factor: list[float]  # unscaled mean ROC AUC over classes
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def review_explicitness(z, y, factor_names=None, *, scale: bool = True) -> ReviewExplicitnessResult:
    """Explicitness as the review computes it for discrete factors (module docstring)."""
    z, y, names, dropped = prepare(z, y, factor_names)
    codes = minmax_scale(z)
    aucs = []
    for k in range(y.shape[1]):
        classes = np.unique(y[:, k])
        onehot = (y[:, k][:, None] == classes[None, :]).astype(np.int64)
        # Balanced weights per binary problem: what LogisticRegression(multi_class="ovr") did.
        model = OneVsRestClassifier(LogisticRegression(class_weight="balanced")).fit(codes, y[:, k])
        aucs.append(float(roc_auc_score(onehot, model.predict_proba(codes))))
    score = float(np.mean(aucs))
    settings = {"scale": scale, "source": REVIEW_SOURCE + "explicitness.py (impl 1)"}
    return ReviewExplicitnessResult((score - 0.5) * 2 if scale else score, names, aucs, dropped, settings)


# ---------------------------------------------------------------------------- Z-diff
@dataclass
class ZDiffResult(MetricResult):
    """Z-diff: the BetaVAE score estimated from a labelled sample (the review's variant)."""

    z_diff: float  # scaled eval accuracy (chance → 0)
    train_accuracy: float
    eval_accuracy: float
    factor_names: list[str]
    dropped_factors: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


class _ValueGroups:
    """The rows of each value of one factor seen at least twice, as one array with offsets."""

    def __init__(self, column: np.ndarray):
        values, counts = np.unique(column, return_counts=True)
        keep = counts > 1
        order = np.argsort(column, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.rows, self.starts, self.sizes = order, starts[keep], counts[keep]

    def pairs(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` pairs of distinct rows sharing a value (the value uniform among those seen twice)."""
        v = rng.integers(0, len(self.sizes), size=n)
        size = self.sizes[v]
        first = rng.integers(0, size)
        second = (first + rng.integers(1, size)) % size
        return self.rows[self.starts[v] + first], self.rows[self.starts[v] + second]


def _zdiff_points(z, groups, n_points, batch_size, rng) -> tuple[np.ndarray, np.ndarray]:
    """``n_points`` inputs (mean |z₁ − z₂| over a batch of pairs fixing one factor) and their factor."""
    targets = rng.integers(0, len(groups), size=n_points)
    inputs = np.empty((n_points, z.shape[1]))
    for i, k in enumerate(targets):
        rows1, rows2 = groups[k].pairs(batch_size, rng)
        inputs[i] = np.abs(z[rows1] - z[rows2]).mean(axis=0)
    return inputs, targets


def z_diff(
    z,
    y,
    factor_names=None,
    *,
    rng: np.random.Generator,
    batch_size: int = ZDIFF_BATCH,
    n_train: int = ZDIFF_TRAIN,
    n_eval: int = ZDIFF_EVAL,
    max_iter: int = ZDIFF_MAX_ITER,
    scale: bool = True,
) -> ZDiffResult:
    """Z-diff from a labelled sample (the review's ``z_diff.py``, its config's defaults; module
    docstring)."""
    if rng is None:
        raise DisentkitError("pass rng=np.random.default_rng(seed): metrics draw randomness only from it")
    if min(batch_size, n_train, n_eval, max_iter) < 1:
        raise DisentkitError("Z-diff: batch_size, n_train, n_eval and max_iter must be at least 1")
    z, y, names, dropped = prepare(z, y, factor_names)
    groups = [_ValueGroups(y[:, k]) for k in range(y.shape[1])]
    for group, name in zip(groups, names, strict=True):
        if not len(group.sizes):
            raise DisentkitError(f"Z-diff: no value of {name!r} is seen twice; a larger sample is needed")
    x_train, t_train = _zdiff_points(z, groups, n_train, batch_size, rng)
    x_eval, t_eval = _zdiff_points(z, groups, n_eval, batch_size, rng)
    model = LogisticRegression(max_iter=max_iter).fit(x_train, t_train)
    train_acc, eval_acc = float(model.score(x_train, t_train)), float(model.score(x_eval, t_eval))
    k_count = y.shape[1]
    score = (eval_acc - 1.0 / k_count) / (1.0 - 1.0 / k_count) if scale and k_count > 1 else eval_acc
    settings = {
        "batch_size": batch_size, "n_train": n_train, "n_eval": n_eval, "max_iter": max_iter, "scale": scale,
        "source": REVIEW_SOURCE + "z_diff.py",
    }  # fmt: skip
    return ZDiffResult(float(score), train_acc, eval_acc, names, dropped, settings)
