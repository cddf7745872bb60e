"""model.pt never runs code (issue 11, case 1): classical heads are plain arrays evaluated in
numpy with their estimator's semantics, and pickled or unknown heads are refused on load."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from sleeve.core.errors import ModelFileError
from sleeve.inference.classifier import Classifier, save_model
from sleeve.inference.heads_runtime import head_probabilities, svc_decision
from sleeve.training.fit.heads_arrays import catboost_head, forest_head, svc_head
from sleeve.training.run import TrainConfig, train_and_evaluate
from sleeve.ui import predict_cli
from tests.predict_support import shared_tiny_export, shared_tiny_run


class _Exploit:
    """Unpickling this creates ``marker``: what a hostile model file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _crafted_run(tiny_run: Path, out: Path, head: dict) -> Path:
    payload = torch.load(tiny_run / "model.pt", map_location="cpu", weights_only=True)
    payload["head"] = head
    out.mkdir()
    save_model(payload, out / "model.pt")
    return out


@pytest.mark.parametrize("nested", [False, True])
def test_security_pickled_head_is_refused_and_never_unpickled(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, capsys, nested: bool
) -> None:
    tiny_run = shared_tiny_run(tmp_path_factory)
    marker = tmp_path / "PWNED"
    evil = {"type": "sklearn", "pickle": pickle.dumps(_Exploit(marker))}
    head = {"type": "ensemble", "members": [evil], "weights": [1]} if nested else evil
    run_dir = _crafted_run(tiny_run, tmp_path / "run", head)
    with pytest.raises(ModelFileError, match="retrain") as caught:
        Classifier.load(run_dir)
    assert str(run_dir / "model.pt") in str(caught.value)
    image = next((shared_tiny_export(tmp_path_factory) / "images" / "test").glob("*/*.jpg"))
    code = predict_cli.main([str(image), "--model", str(run_dir), "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0 and "retrain" in err and "Traceback" not in err
    assert not marker.exists()


def test_security_unknown_head_type_is_refused(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    run_dir = _crafted_run(shared_tiny_run(tmp_path_factory), tmp_path / "run", {"type": "x"})
    with pytest.raises(ModelFileError, match="unknown head type 'x'"):
        Classifier.load(run_dir)


def _blobs(n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2.0, (n_classes, 6))
    y = rng.integers(0, n_classes, 240)
    return centres[y] + rng.normal(0, 1.5, (240, 6)), y


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_svc_arrays_reproduce_scikit_learn(n_classes: int) -> None:
    from sklearn.svm import SVC

    x, y = _blobs(n_classes)
    for kernel in ("rbf", "linear"):
        model = SVC(C=3.0, kernel=kernel, gamma="scale", class_weight="balanced").fit(x, y)
        head = svc_head(model, 0.5, n_classes + 1)  # one genre never seen in train
        assert np.allclose(svc_decision(head, x), model.decision_function(x).reshape(len(x), -1))
        probs = head_probabilities(head, x)
        assert probs.shape == (len(x), n_classes + 1) and np.allclose(probs.sum(1), 1)
        assert (probs[:, -1] == 0).all()
        assert (probs.argmax(1) == model.predict(x)).mean() > 0.99  # ties aside, same winner


def test_svc_support_vectors_are_converted_once_per_stored_array() -> None:
    import gc

    import torch
    from sklearn.svm import SVC

    from sleeve.inference import heads_runtime

    x, y = _blobs(3)
    model = SVC(C=3.0, kernel="rbf", gamma="scale").fit(x, y)
    head = svc_head(model, 0.5, 3)
    head["support_vectors"] = torch.from_numpy(model.support_vectors_.astype(np.float32))
    first = svc_decision(head, x)
    key = id(head["support_vectors"])
    assert key in heads_runtime._SUPPORT
    np.testing.assert_array_equal(svc_decision(head, x), first)  # from the memo, same numbers
    head["support_vectors"] = head["support_vectors"].clone() * 2  # a new array: made afresh
    assert not np.array_equal(svc_decision(head, x), first)
    gc.collect()
    assert key not in heads_runtime._SUPPORT  # forgotten with the array it was made from


def test_forest_arrays_reproduce_predict_proba() -> None:
    from sklearn.ensemble import RandomForestClassifier

    x, y = _blobs(4, seed=1)
    y[y == 2] = 3  # class 2 absent: its column stays zero
    model = RandomForestClassifier(
        n_estimators=25, min_samples_leaf=2, class_weight="balanced", random_state=0
    ).fit(x, y)
    probs = head_probabilities(forest_head(model, 4), x)
    expected = np.zeros((len(x), 4))
    expected[:, model.classes_] = model.predict_proba(x)
    assert np.allclose(probs, expected, atol=1e-12)


def test_catboost_arrays_reproduce_predict_proba() -> None:
    catboost = pytest.importorskip("catboost", reason="the catboost extra is not installed")
    x, y = _blobs(3, seed=2)
    model = catboost.CatBoostClassifier(
        iterations=30,
        depth=4,
        loss_function="MultiClass",
        verbose=False,
        allow_writing_files=False,
        thread_count=1,
        random_seed=0,
    ).fit(x, y)
    probs = head_probabilities(catboost_head(model, 3), x)
    assert np.allclose(probs, model.predict_proba(x), atol=1e-9)


@pytest.mark.parametrize("method", ["svc", "rf", "catboost"])
def test_classical_heads_round_trip_through_model_pt(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, method: str
) -> None:
    """Trained, saved, loaded with weights_only: the reloaded Classifier gives the run's own
    test probabilities, and the payload names the library versions it was fitted with."""
    if method == "catboost":
        pytest.importorskip("catboost", reason="the catboost extra is not installed")
    export = shared_tiny_export(tmp_path_factory)
    config = TrainConfig(methods=(method,), device="cpu", image_size=96, progress=False)
    result = train_and_evaluate(export, tmp_path / "run", config)
    clf = Classifier.load(result.run_dir)
    assert clf.head["type"] == {"svc": "svc", "rf": "forest", "catboost": "oblivious"}[method]
    assert {"numpy", "catboost" if method == "catboost" else "scikit-learn"} <= set(
        clf.head["fitted_with"]
    )
    test = sorted((export / "images" / "test").glob("*/*.jpg"))
    order = sorted(test, key=lambda p: (p.parent.name, p.stem))  # probabilities.npz order
    with np.load(result.run_dir / "probabilities.npz") as saved:
        assert np.allclose(saved[f"{method}_test"], clf.probabilities(order), atol=1e-4)
