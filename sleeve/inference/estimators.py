"""The scikit-learn estimators behind the SVC and logistic-regression heads and the text rung,
built in one place so the ladder, the side rungs, the label-issue folds and the per-fold refits
(headline, small-val selection) fit the same model for the same settings. scikit-learn is
imported on first use: the CLIs' start-up does not pay for it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC


def svc_model(c: float, seed: int = 0) -> SVC:
    """RBF SVC, balanced classes; probabilities come from a softmax over its one-vs-rest
    decision values at a temperature fitted on val (SVC(probability=True) is deprecated)."""
    from sklearn.svm import SVC

    return SVC(
        C=c,
        kernel="rbf",
        gamma="scale",
        class_weight="balanced",
        decision_function_shape="ovr",
        random_state=seed,
    )


def logreg_model(c: float, seed: int = 0) -> LogisticRegression:
    """Logistic regression on embeddings, balanced classes."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=seed)


def text_model(c: float, seed: int = 0) -> LogisticRegression:
    """The text rung's logistic regression on TF-IDF of the words (unweighted classes)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000, random_state=seed)
