"""The text rung's own transform equals scikit-learn's, and its head is stored without pickle."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from sleeve.inference.text_head import (
    CharTfidf,
    TextHead,
    TextSetting,
    choose_weight,
    fit_head,
    fit_text,
    fuse,
)

TRAIN = [
    "WILLIE NELSON Red Headed Stranger",
    "Johnny Cash  At Folsom Prison",
    "NAS illmatic",
    "Wu-Tang Clan Enter the Wu-Tang (36 Chambers)",
    "Beyoncé Lemonade",
    "nas stillmatic",
    "Dixie Chicks Wide Open Spaces",
    "the Chronic Dr. Dre",
    "Waylon Jennings Honky Tonk Heroes",
    "KANYE WEST graduation",
    "",
    "a b",
]
UNSEEN = ["Willie Nelson Stardust", "unknown words only zzzz", "", "Nas\tIt Was Written", "É"]


def sklearn_vectorizer(min_df: int = 2) -> TfidfVectorizer:
    """The reference the rung reproduces."""
    return TfidfVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=min_df, lowercase=True
    )


def from_sklearn(vec: TfidfVectorizer) -> CharTfidf:
    vocab = [""] * len(vec.vocabulary_)
    for term, i in vec.vocabulary_.items():
        vocab[i] = term
    return CharTfidf(vocab, np.asarray(vec.idf_, dtype=np.float64))


def test_fit_equals_sklearn_char_wb_tfidf_fit() -> None:
    for min_df in (1, 2):
        vec = sklearn_vectorizer(min_df=min_df).fit(TRAIN)
        ours = CharTfidf.fit(TRAIN, min_df)
        assert ours.vocab == from_sklearn(vec).vocab
        np.testing.assert_allclose(ours.idf, vec.idf_, rtol=0, atol=1e-12)


def test_a_cover_split_over_weighted_rows_counts_once() -> None:
    # an ambiguous cover enters as one row per tied genre, weights summing to 1
    once = CharTfidf.fit([*TRAIN, "Garth Brooks"], 1)
    split = CharTfidf.fit(
        [*TRAIN, "Garth Brooks", "Garth Brooks"], 1, [1.0] * len(TRAIN) + [0.5, 0.5]
    )
    assert split.vocab == once.vocab
    np.testing.assert_allclose(split.idf, once.idf, atol=1e-12)
    # so its n-grams are on one cover, not two: min_df 2 leaves them out
    cut = CharTfidf.fit(
        [*TRAIN, "Garth Brooks", "Garth Brooks"], 2, [1.0] * len(TRAIN) + [0.5, 0.5]
    )
    assert " gar" not in cut.vocab and " gar" in once.vocab


def test_weighted_rows_are_the_regression_s_sample_weights() -> None:
    texts = [*TRAIN, "Garth Brooks", "Garth Brooks"]
    y = np.array([*(np.arange(len(TRAIN)) % 3), 0, 1])
    w = np.array([1.0] * len(TRAIN) + [0.25, 0.75])
    head = fit_head(texts, y, TextSetting(10.0, 1), 3, weight=w)
    x = head.tfidf.transform(texts)
    model = LogisticRegression(C=10.0, max_iter=2000, random_state=0).fit(x, y, sample_weight=w)
    expected = model.predict_proba(head.tfidf.transform(UNSEEN))
    np.testing.assert_allclose(head.probabilities(UNSEEN), expected, atol=1e-6)


def test_transform_equals_sklearn_char_wb_tfidf() -> None:
    for min_df in (1, 2):
        vec = sklearn_vectorizer(min_df=min_df).fit(TRAIN)
        ours = from_sklearn(vec)
        for texts in (TRAIN, UNSEEN):
            expected = vec.transform(texts).toarray()
            np.testing.assert_allclose(ours.transform(texts).toarray(), expected, atol=1e-12)


def test_head_equals_logistic_regression_probabilities() -> None:
    vec = sklearn_vectorizer().fit(TRAIN)
    x = vec.transform(TRAIN)
    for y in (np.arange(len(TRAIN)) % 3, np.arange(len(TRAIN)) % 2):  # multinomial and binary
        model = LogisticRegression(C=10, max_iter=1000).fit(x, y)
        head = TextHead.from_logreg(from_sklearn(vec), model, int(y.max()) + 1)
        expected = model.predict_proba(vec.transform(UNSEEN))
        np.testing.assert_allclose(head.probabilities(UNSEEN), expected, atol=1e-6)


def test_head_round_trips_through_a_weights_only_load() -> None:
    fitted = fit_text(TRAIN, np.arange(len(TRAIN)) % 3, UNSEEN, np.array([0, 1, 2, 0, 1]), 3)
    buf = io.BytesIO()
    torch.save({"text": fitted.head.to_dict()}, buf)
    buf.seek(0)
    back = TextHead.from_dict(torch.load(buf, weights_only=True)["text"])
    np.testing.assert_allclose(
        back.probabilities(UNSEEN), fitted.head.probabilities(UNSEEN), atol=1e-6
    )


def test_a_class_missing_from_train_is_never_predicted() -> None:
    fitted = fit_text(TRAIN, np.arange(len(TRAIN)) % 2, UNSEEN, np.array([0, 1, 0, 1, 0]), 3)
    probs = fitted.head.probabilities(UNSEEN)
    assert probs.shape == (5, 3) and np.all(probs[:, 2] < 1e-6)


def test_fusion_weight_ends_and_choice() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    p_image = np.full((60, 3), 1 / 3) + rng.normal(0, 0.01, (60, 3)).clip(-0.1, 0.1)
    p_image /= p_image.sum(1, keepdims=True)  # an image model that knows nothing
    p_text = np.full((60, 3), 0.1)
    p_text[np.arange(60), y] = 0.8  # a text model that knows everything
    np.testing.assert_allclose(fuse(p_image, p_text, 0.0), p_image, atol=1e-6)
    np.testing.assert_allclose(fuse(p_image, p_text, 1.0), p_text, atol=1e-6)
    weight, f1 = choose_weight(p_image, p_text, y)
    assert weight > 0 and f1 == pytest.approx(1.0)


def test_the_vocabulary_cut_is_chosen_on_val() -> None:
    # each name is printed on one train cover only: the cut at 2 keeps just "the", so val can
    # only be answered with the cut at 1
    names = ["NELSON", "CASH", "JENNINGS", "NAS", "DRE", "EMINEM"]
    train = [f"the {n}" for n in names]
    y_train = np.array([0, 0, 0, 1, 1, 1])
    val = ["NELSON live", "EMINEM show", "CASH again", "DRE day"]
    fitted = fit_text(train, y_train, val, np.array([0, 1, 0, 1]), 2)
    assert fitted.setting.min_df == 1 and fitted.params["min_df"] == 1
    assert fitted.val_probs.argmax(1).tolist() == [0, 1, 0, 1]
    # words shared by two covers decide val as well at the cut of 2: the tie keeps 2
    twice = fit_text(
        train + train, np.concatenate([y_train, y_train]), val, np.array([0, 1, 0, 1]), 2
    )
    assert twice.setting.min_df == 2


def test_a_cut_that_leaves_no_ngram_is_skipped_and_none_left_is_one_error() -> None:
    fitted = fit_text(["NELSON", "EMINEM"], np.array([0, 1]), ["NELSON"], np.array([0]), 2)
    assert fitted.setting.min_df == 1  # at 2 nothing was left
    with pytest.raises(ValueError, match="no n-gram"):
        fit_text(["", " "], np.array([0, 1]), ["NELSON"], np.array([0]), 2)


def test_fit_head_is_the_rung_at_a_setting() -> None:
    y = np.arange(len(TRAIN)) % 3
    head = fit_head(TRAIN, y, TextSetting(10.0, 1), 3)
    vec = sklearn_vectorizer(min_df=1).fit(TRAIN)
    model = LogisticRegression(C=10.0, max_iter=2000, random_state=0).fit(vec.transform(TRAIN), y)
    np.testing.assert_allclose(
        head.probabilities(UNSEEN), model.predict_proba(vec.transform(UNSEEN)), atol=1e-6
    )
