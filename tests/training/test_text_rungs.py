"""The text rungs end to end: train-and-evaluate reads text.jsonl, model.pt carries the text
head, Classifier and predict read a new cover's words and use them."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from sleeve.core.errors import ConfigError
from sleeve.dataset.export import MANIFEST_COLUMNS
from sleeve.dataset.text.cover_text import TEXT_TABLE, render_text_table
from sleeve.dataset.text.ocr import Word
from sleeve.inference.classifier import Classifier
from sleeve.inference.text_head import fuse
from sleeve.training.run import TrainConfig, train_and_evaluate
from tests.text_images import worded

pytest.importorskip("rapidocr_onnxruntime", reason="the OCR extra is not installed")

# The artists' names are the only signal: every cover has the same background colours.
NAMES = {"country": ["NELSON", "CASH", "JENNINGS", "PARTON"], "rap": ["NAS", "DRE", "EMINEM"]}
TINY = dict(image_size=64, batch_size=16, progress=False)


def _export(root: Path, per_split=(8, 5, 5), seed: int = 0) -> Path:
    rng = random.Random(seed)
    rows, words = [], {}
    for split, n in zip(("train", "val", "test"), per_split, strict=True):
        for genre, names in NAMES.items():
            for i in range(n):
                name = rng.choice(names)
                bg = rng.choice([(240, 230, 200), (200, 220, 240), (230, 200, 220)])
                buf = io.BytesIO()
                cover = worded(name, size=160, font_size=28, background=bg)
                cover.putpixel((i, i), (rng.randrange(256), 0, 0))  # no two covers alike
                cover.save(buf, "JPEG", quality=90)
                data = buf.getvalue()
                sha = hashlib.sha256(data).hexdigest()
                rel = f"images/{split}/{genre}/{sha}.jpg"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(data)
                rows.append([rel, sha, "0" * 16, genre, split, name, "t", sha[:8], 160, 160])
                box = ((10, 60), (150, 60), (150, 90), (10, 90))
                words[sha] = [Word(name, 0.99, box)] if i % 5 else []  # some without words
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows(sorted(rows, key=lambda r: (r[4], r[3], r[1])))
    (root / "manifest.csv").write_text(buf.getvalue())
    (root / "card.json").write_text(json.dumps({"genres": sorted(NAMES)}))
    (root / TEXT_TABLE).write_bytes(render_text_table(words))
    return root


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    export = _export(tmp_path_factory.mktemp("export"))
    # select on val however small (the CV rule is tested below)
    config = TrainConfig(methods=("logreg", "text", "fused"), select_min_val=0, **TINY)
    out = tmp_path_factory.mktemp("run")
    return export, train_and_evaluate(export, out, config)


def test_text_rungs_join_the_ladder(text_run) -> None:
    _, result = text_run
    methods = result.metrics.methods
    assert set(methods) == {"logreg", "text", "fused"}
    # 4 of 5 covers show a name that decides the genre; the 5th shows none
    assert methods["text"].val["weighted_f1"] >= 0.7
    val = {m: methods[m].val["weighted_f1"] for m in methods}
    assert val["fused"] >= max(val["logreg"], val["text"])  # w = 0 and w = 1 were candidates
    assert methods["fused"].params["image_method"] == "logreg"
    assert 0 <= methods["fused"].params["text_weight"] <= 1
    assert "fused" in (result.run_dir / "report.md").read_text()


def test_the_shipped_text_head_is_refitted_on_train_and_val(text_run) -> None:  # type: ignore[no-untyped-def]
    # settings and weights are chosen on val with the train-only head, then the head that
    # ships is fitted again on train + val words at those settings
    from sleeve.inference.text_head import CharTfidf
    from sleeve.training.data import load_export
    from sleeve.training.fit.methods.text import export_texts

    export_dir, result = text_run
    params = result.metrics.methods["text"].params
    assert params["refit_on"] == "train+val" and params["min_df"] in (1, 2)
    export = load_export(export_dir)
    texts = export_texts(export)
    assert texts is not None
    fit_on = [texts.get(s.sha256, "") for sp in ("train", "val") for s in export.split(sp)]
    shipped = torch.load(result.run_dir / "model.pt", weights_only=True)["text"]["head"]
    assert shipped["vocab"] == CharTfidf.fit(fit_on, params["min_df"]).vocab
    assert params["terms"] == len(shipped["vocab"])


def test_model_pt_holds_the_text_head_as_plain_arrays(text_run) -> None:
    _, result = text_run
    payload = torch.load(result.run_dir / "model.pt", weights_only=True)  # no pickle needed
    assert payload["text"]["head"]["type"] == "char-tfidf-linear"
    assert payload["text"]["engine"] == "rapidocr-onnxruntime"
    assert isinstance(payload["text"]["head"]["vocab"], list)


def test_classifier_reads_a_new_cover_and_uses_its_words(text_run) -> None:
    _, result = text_run
    clf = Classifier.load(result.run_dir)
    assert clf.reads_text
    covers = [worded("NELSON", size=160, font_size=28), worded("EMINEM", size=160, font_size=28)]
    words = clf.read_text(covers)
    assert [w[0].text for w in words] == ["NELSON", "EMINEM"]
    genres = [p[0].genre for p in clf.predict_batch(covers, top_k=1)]
    assert genres == ["country", "rap"]
    # the fused answer is the image head's and the text head's, weighted as chosen on val
    p_image = clf._image_probabilities(covers, 32)
    p_text = clf.text_head.probabilities(["NELSON", "EMINEM"])
    expected = fuse(p_image, p_text, clf.text_weights["words"])
    np.testing.assert_allclose(clf.probabilities(covers, words=words), expected, atol=1e-9)


def test_a_silent_cover_gets_the_image_alone(text_run) -> None:
    # no words, or words the text head knows no n-gram of: the text answer is only the class
    # prior, so the fused rung answers with the image head alone
    _, result = text_run
    clf = Classifier.load(result.run_dir)
    assert clf.text_weights["no_words"] == 0.0
    covers = [worded("NELSON", size=160, font_size=28), worded("QQ", size=160, font_size=28)]
    p_image = clf._image_probabilities(covers, 32)
    got = clf.probabilities(covers, words=[[], []])
    np.testing.assert_allclose(got, p_image, atol=1e-9)
    assert not clf.text_head.speaks(["", "zzqx"]).any()
    assert clf.text_head.speaks(["NELSON"]).all()


def test_the_words_weight_is_chosen_on_the_covers_that_have_words() -> None:
    from sleeve.inference.text_head import choose_weights

    y = np.array([0, 1, 0, 1])
    p_image = np.array([[0.4, 0.6], [0.6, 0.4], [0.9, 0.1], [0.2, 0.8]])  # wrong on the worded
    p_text = np.array([[0.95, 0.05], [0.05, 0.95], [0.1, 0.9], [0.9, 0.1]])  # rows 2-3: prior
    speaks = np.array([True, True, False, False])
    weights, score = choose_weights(p_image, p_text, y, speaks)
    assert weights["no_words"] == 0.0 and weights["words"] > 0.0
    assert score == 1.0  # the worded rows follow their words, the silent ones their image


def test_predict_json_shows_the_words(text_run, tmp_path, monkeypatch, capsys) -> None:
    from sleeve.ui import predict_cli

    _, result = text_run
    cover = tmp_path / "cover.jpg"
    worded("CASH", size=160, font_size=28).save(cover)
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    code = predict_cli.main([str(cover), "--model", str(result.run_dir), "--json", "--no-progress"])
    assert code == 0
    answer = json.loads(capsys.readouterr().out)[0]
    assert [w["text"] for w in answer["words"]] == ["CASH"]
    assert answer["predictions"][0]["genre"] == "country"


def test_text_rungs_by_name_need_the_text_table(tmp_path) -> None:
    export = _export(tmp_path / "export", per_split=(3, 2, 2))
    (export / TEXT_TABLE).unlink()
    with pytest.raises(ConfigError, match=TEXT_TABLE):
        train_and_evaluate(
            export, tmp_path / "run", TrainConfig(methods=("logreg", "fused"), **TINY)
        )


def test_covers_without_words_give_a_clear_error_by_name(tmp_path) -> None:
    export = _export(tmp_path / "export", per_split=(3, 2, 2))
    blank = "".join(
        json.dumps({"sha256": json.loads(line)["sha256"], "words": []}) + "\n"
        for line in (export / TEXT_TABLE).read_text().splitlines()
    )
    (export / TEXT_TABLE).write_text(blank)
    with pytest.raises(ConfigError, match="nothing to learn"):
        config = TrainConfig(methods=("logreg", "text"), **TINY)
        train_and_evaluate(export, tmp_path / "run", config)


def test_the_default_ladder_skips_the_text_rungs_without_a_text_table(tmp_path, caplog) -> None:
    from sleeve.training.data import load_export
    from sleeve.training.fit.methods.text import run_text_methods
    from sleeve.training.run import DEFAULT_METHODS

    assert {"text", "fused"} <= set(DEFAULT_METHODS)
    export = _export(tmp_path / "export", per_split=(2, 1, 1))
    (export / TEXT_TABLE).unlink()
    assert run_text_methods(load_export(export), ("text", "fused"), [], 0, asked=False) == []
    assert TEXT_TABLE in caplog.text


def test_the_headline_refits_the_fused_rung_itself(text_run) -> None:
    # the default recipe ships `fused`: its lead figure must be of the fused model (image head
    # and words refitted per fold), not of an image-only stand-in
    _, result = text_run
    metrics = json.loads((Path(result.run_dir) / "metrics.json").read_text())
    assert metrics["best"]["method"] == "fused"  # the words decide this tiny export's genre
    h = metrics["headline"]
    assert (h["chosen_method"], h["head"]) == ("fused", "fused")
    assert h["head_params"]["image_method"] == "logreg"
    assert 0.0 <= h["head_params"]["text_weights"]["words"] <= 1.0
    assert h["head_params"]["text_weights"]["no_words"] == 0.0
    assert len(h["fold_scores"]) == h["n_folds"] * h["repeats"]
    report = (Path(result.run_dir) / "report.md").read_text()
    assert "refitted as its" not in report  # no stand-in sentence


def test_fused_cv_beats_its_image_head_when_the_words_carry_the_genre() -> None:
    from sleeve.inference.text_head import TextSetting
    from sleeve.training.evaluation.grouped_cv import fused_cv_scores, grouped_cv_scores

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 30)
    x = rng.normal(size=(90, 8)) + 0.3 * y[:, None]  # a weak picture signal
    words = ("WILLIE NELSON", "KANYE WEST", "DAFT PUNK")
    texts = [words[k] for k in y]
    groups = [str(i) for i in range(90)]
    genres = ["country", "rap", "edm"]
    image = grouped_cv_scores("logreg", {"C": 0.05}, x, y, groups, genres)
    weights = {"words": 0.5, "no_words": 0.0}
    fused = fused_cv_scores(
        "logreg", {"C": 0.05}, 1.0, TextSetting(10.0), weights, x, texts, y, groups, genres
    )
    assert len(fused) == len(image) and np.mean(fused) > np.mean(image) + 0.2


def test_small_val_selection_compares_the_text_rungs_by_cv(tmp_path) -> None:
    # below 300 val covers the CV rule chooses; the text rungs are refitted per fold with their
    # image head, so they can be shipped (they used to be left out of the comparison)
    export = _export(tmp_path / "export")
    config = TrainConfig(methods=("logreg", "text", "fused"), **TINY)
    metrics = train_and_evaluate(export, tmp_path / "run", config).metrics
    block = metrics.model_selection
    assert block is not None
    assert block["rule"] == "grouped-cv"
    assert {"logreg", "text", "fused"} <= set(block["per_method"])
    assert block["not_compared"] == []
    top = max(v["estimate"] for v in block["per_method"].values())
    assert block["per_method"][block["chosen"]]["estimate"] == top
    assert block["per_method"]["fused"]["fold_scores"]  # refitted on every fold


def test_the_default_recipe_refuses_without_the_ocr_engine(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    # a plain install (no `ocr` extra) must not silently ship the image SVC alone
    from sleeve.training import cli
    from sleeve.training.fit.methods import text

    export = _export(tmp_path / "export", per_split=(2, 1, 1))
    monkeypatch.setattr(text, "engine_version", lambda: None)
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    code = cli.main(["--dataset", str(export), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "pip install 'sleeve[ocr]'" in err[0] and "--method svc" in err[0]
    assert not (tmp_path / "run" / "model.pt").exists()


def test_the_default_recipe_refuses_an_export_without_words(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sleeve.training.recipes import BEST

    export = _export(tmp_path / "export", per_split=(2, 1, 1))
    (export / TEXT_TABLE).unlink()
    with pytest.raises(ConfigError, match="default recipe"):
        train_and_evaluate(export, tmp_path / "run", TrainConfig(methods=BEST.methods, **TINY))
    # an image-only recipe, asked for by name, still runs
    result = train_and_evaluate(export, tmp_path / "run2", TrainConfig(methods=("logreg",), **TINY))
    assert result.metrics.best.method == "logreg"


def test_the_headline_says_how_its_folds_are_grouped(text_run) -> None:  # type: ignore[no-untyped-def]
    _, result = text_run
    h = json.loads((Path(result.run_dir) / "metrics.json").read_text())["headline"]
    assert "artist key" in " ".join(h["grouping"]["by"])
    assert h["grouping"]["groups"] <= h["grouping"]["manifest_groups"]
    assert isinstance(h["test_split_inside_range"], bool)
    assert "grouped by" in (Path(result.run_dir) / "report.md").read_text()


def test_predict_answers_unsure_below_the_asked_confidence(
    text_run, tmp_path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    from sleeve.ui import predict_cli

    _, result = text_run
    cover = tmp_path / "cover.jpg"
    worded("CASH", size=160, font_size=28).save(cover)
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    argv = [str(cover), "--model", str(result.run_dir), "--json", "--no-progress"]
    assert predict_cli.main([*argv, "--min-confidence", "0"]) == 0
    sure = json.loads(capsys.readouterr().out)[0]
    assert sure["answer"] == sure["predictions"][0]["genre"]
    assert predict_cli.main([*argv, "--min-confidence", "1"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["answer"] == "unsure"
    assert predict_cli.main([*argv, "--min-confidence", "2"]) == 2


def test_the_run_reports_coverage_against_weighted_f1(text_run) -> None:  # type: ignore[no-untyped-def]
    _, result = text_run
    assert result.metrics.confidence is not None
    points = result.metrics.confidence["points"]
    assert points[0]["min_confidence"] == 0.0 and points[0]["test_coverage"] == 1.0
    thresholds = [p["min_confidence"] for p in points]
    assert thresholds == sorted(thresholds)  # stricter thresholds answer fewer covers
    coverage = [p["test_coverage"] for p in points]
    assert coverage == sorted(coverage, reverse=True)
    assert "How sure is it" in (Path(result.run_dir) / "report.md").read_text()


def test_the_text_rung_reads_the_covers_the_balancer_left_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sleeve.dataset.text.extra_text import (
        EXTRA_TEXT_TABLE,
        ExtraCover,
        render_extra_text_table,
    )
    from sleeve.training.data import extra_text_rows, load_export

    export = _export(tmp_path / "export", per_split=(3, 3, 3))
    box = ((10, 60), (150, 60), (150, 90), (10, 90))
    names = ["DRE", "NELSON", "NAS", "CASH", "EMINEM", "PARTON"]
    extra = [
        ExtraCover(f"{i:064x}", "country" if i % 2 else "rap", [Word(n, 0.99, box)])
        for i, n in enumerate(names)
    ]
    tied = (("country", 0.5), ("rap", 0.5))  # two ambiguous groups' covers
    extra += [
        ExtraCover(f"{i:064x}", "country", [Word("MOBY", 0.99, box)], shares=tied) for i in (7, 8)
    ]
    (export / EXTRA_TEXT_TABLE).write_bytes(render_extra_text_table(extra))
    rows = extra_text_rows(load_export(export))
    assert rows.covers == 8 and len(rows.texts) == 10  # 6 at weight 1, 2 covers in 2 rows each
    assert rows.weight.tolist() == [1.0] * 6 + [0.5] * 4
    config = TrainConfig(methods=("logreg", "text"), select_min_val=0, **TINY)
    metrics = train_and_evaluate(export, tmp_path / "run", config).metrics
    assert metrics.methods["text"].params["extra_train_covers"] == 8
