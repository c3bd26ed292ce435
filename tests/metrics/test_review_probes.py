"""The review's SAP, explicitness and Z-diff: the formula written out in the test, edge cases, and the
suite's zaidi2020 profile."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score
from sklearn.tree import DecisionTreeClassifier

from disentkit.errors import DisentkitError
from disentkit.metrics import evaluate_representation
from disentkit.metrics.review_probes import review_explicitness, review_sap, z_diff


def sample(seed: int, n: int = 400):
    rng = np.random.default_rng(seed)
    y = np.stack([rng.integers(0, s, n) for s in (3, 4, 5)], 1)
    z = np.concatenate([y[:, :2] + rng.normal(0, 0.6, (n, 2)), rng.normal(size=(n, 2))], 1)
    return z, y


def scaled(z):
    span = z.max(0) - z.min(0)
    return (z - z.min(0)) / np.where(span > 0, span, 1)


def sap_by_formula(z, y):
    """Per (factor, code): the CV-tuned depth's tree accuracy on all rows; mean top-1 − top-2 gap."""
    codes = scaled(z)
    gaps = []
    for k in range(y.shape[1]):
        row = []
        for j in range(z.shape[1]):
            cv = [cross_val_score(DecisionTreeClassifier(max_depth=d), codes[:, [j]], y[:, k], cv=10).mean()
                  for d in range(1, 10)]  # fmt: skip
            depth = 1 + int(np.argmax(cv))  # the first best depth
            tree = DecisionTreeClassifier(max_depth=depth).fit(codes[:, [j]], y[:, k])
            row.append(np.mean(tree.predict(codes[:, [j]]) == y[:, k]))
        top = sorted(row)
        gaps.append(top[-1] - top[-2])
    return float(np.mean(gaps))


def explicitness_by_formula(z, y):
    """One binary balanced logistic regression per class, probabilities normalised over classes
    (one-vs-rest), mean ROC AUC over classes, mapped from [0.5, 1] to [0, 1]."""
    codes = scaled(z)
    aucs = []
    for k in range(y.shape[1]):
        classes = np.unique(y[:, k])
        p = np.stack(
            [LogisticRegression(class_weight="balanced").fit(codes, y[:, k] == c).predict_proba(codes)[:, 1]
             for c in classes],
            axis=1,
        )  # fmt: skip
        p /= p.sum(axis=1, keepdims=True)
        aucs.append(np.mean([roc_auc_score(y[:, k] == c, p[:, i]) for i, c in enumerate(classes)]))
    return (float(np.mean(aucs)) - 0.5) * 2


@pytest.mark.parametrize("seed", [0])
def test_sap_and_explicitness_equal_their_formula(seed):
    z, y = sample(seed)
    assert review_sap(z, y).sap == pytest.approx(sap_by_formula(z, y), abs=1e-12)
    assert review_explicitness(z, y).explicitness == pytest.approx(explicitness_by_formula(z, y), abs=1e-9)


def test_edge_cases():
    z, y = sample(2, n=200)
    base_sap, base_exp = review_sap(z, y), review_explicitness(z, y)
    order = [3, 1, 0, 2]  # permuted latents: the same scores
    assert review_sap(z[:, order], y).sap == pytest.approx(base_sap.sap)
    assert review_explicitness(z[:, order], y).explicitness == pytest.approx(base_exp.explicitness)
    # a duplicated latent: the factor it holds has two equally good codes, so no gap
    dup = review_sap(np.concatenate([z, z[:, :1]], 1), y)
    assert dup.sap_per_factor[0] == pytest.approx(0.0) and base_sap.sap_per_factor[0] > 0.1
    # a constant code scores the majority class and never tops an informative one
    const = review_sap(np.concatenate([z, np.zeros((len(z), 1))], 1), y)
    assert const.score_matrix[:, -1] == pytest.approx([np.bincount(c).max() / len(c) for c in y.T])
    # a one-valued factor is dropped and named
    with_const = np.concatenate([y, np.zeros((len(y), 1), dtype=int)], 1)
    assert review_explicitness(z, with_const).dropped_factors == ["factor_3"]
    with pytest.raises(DisentkitError, match="two code dimensions"):
        review_sap(z[:, :1], y)


def test_z_diff_separates_a_perfect_code_from_noise():
    rng = np.random.default_rng(0)
    y = np.stack([rng.integers(0, s, 2000) for s in (3, 4, 5)], 1)
    small = {"n_train": 300, "n_eval": 200, "batch_size": 50}
    perfect = z_diff(y.astype(float), y, rng=np.random.default_rng(1), **small)
    noise = z_diff(rng.normal(size=(2000, 3)), y, rng=np.random.default_rng(1), **small)
    assert perfect.z_diff == 1.0 and noise.z_diff < 0.3
    again = z_diff(y.astype(float), y, rng=np.random.default_rng(1), **small)
    assert again.to_dict() == perfect.to_dict()  # the generator is the only randomness
    with pytest.raises(DisentkitError, match="seen twice"):
        z_diff(y[:3].astype(float), y[:3], rng=np.random.default_rng(0), **small)


def test_the_review_profile_uses_them():
    z, y = sample(3)
    options = {"metrics": "sap,modularity,z_diff", "n_jobs": 1}
    review = evaluate_representation(z, y, rng=np.random.default_rng(0), profile="zaidi2020", **options)
    lib = evaluate_representation(z, y, rng=np.random.default_rng(0), **options)
    assert review.metric("sap")["settings"]["source"].endswith("sap.py")
    assert review.value("modularity", "explicitness") == pytest.approx(review_explicitness(z, y).explicitness)
    assert "explicitness" in review.columns() and "explicitness" in lib.columns()
    assert "modularity.explicitness" not in lib.summary()  # each profile reports its own key
    assert review.value("z_diff", "z_diff") == lib.value("z_diff", "z_diff")  # z_diff has one variant
