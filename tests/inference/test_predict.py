"""predict: input resolution, intake validation, URL inputs, batching, CLI output and exit codes.

Uses a real tiny trained run (built once per session from a generated export) and a real
loopback HTTP server; nothing of our own is mocked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from sleeve.core.errors import (
    BadImageError,
    NothingYetError,
    PermanentRemoteError,
    TransientRemoteError,
    UsageError,
)
from sleeve.inference.inputs import ImageLoader, resolve_inputs
from sleeve.inference.predict import (
    PredictionResult,
    load_classifier,
    predict_bytes,
    predict_inputs,
    resolve_run_dir,
)
from sleeve.ui import predict_cli
from tests.conftest import fast_settings
from tests.predict_support import (
    GENRES,
    HTML_PAGE,
    jpeg_bytes,
    serve_covers,
    shared_tiny_export,
    shared_tiny_run,
    write_odd_images,
)

CONVERTED = ("cmyk.jpg", "gray.png", "rgba.png", "anim.gif")
REFUSED = {  # file -> BadImageError reason
    "html.jpg": "html",
    "bomb.png": "bomb",
    "text.jpg": "not-an-image",
    "truncated.jpg": "truncated",
}


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_tiny_export(tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_tiny_run(tmp_path_factory)


@pytest.fixture(scope="session")
def classifier(tiny_run: Path):
    return load_classifier(tiny_run, fast_settings(tiny_run))


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    return write_odd_images(tmp_path / "inputs")


def _check_predictions(result: PredictionResult, k: int = 3) -> None:
    assert result.ok, result.error
    assert len(result.predictions) == k
    probs = [p.probability for p in result.predictions]
    assert probs == sorted(probs, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in probs) and sum(probs) <= 1.0 + 1e-6
    assert {p.genre for p in result.predictions} <= set(GENRES)


# -- intake: converted, not rejected -------------------------------------------------------------


@pytest.mark.parametrize("name", CONVERTED)
def test_unusual_modes_are_converted_to_rgb(images: dict[str, Path], settings, name: str) -> None:
    img = ImageLoader(settings).load(str(images[name]))
    assert img.mode == "RGB"
    assert img.size == (96, 96)


def test_alpha_is_flattened_on_white(tmp_path: Path, settings) -> None:
    path = tmp_path / "clear.png"
    Image.new("RGBA", (80, 80), (255, 0, 0, 0)).save(path)
    assert ImageLoader(settings).load(str(path)).getpixel((5, 5)) == (255, 255, 255)


def test_converted_images_get_predictions(classifier, images: dict[str, Path], settings) -> None:
    results = predict_inputs(classifier, [str(images[n]) for n in CONVERTED], 3, settings)
    assert [r.path for r in results] == [str(images[n]) for n in CONVERTED]
    for r in results:
        _check_predictions(r)


# -- intake: refused with a typed, clear error ---------------------------------------------------


@pytest.mark.parametrize(("name", "reason"), REFUSED.items())
def test_bad_files_raise_typed_errors(
    images: dict[str, Path], settings, name: str, reason: str
) -> None:
    with pytest.raises(BadImageError) as err:
        ImageLoader(settings).load(str(images[name]))
    assert err.value.reason == reason


def test_html_named_jpg_says_html(classifier, images: dict[str, Path], settings) -> None:
    [result] = predict_inputs(classifier, [str(images["html.jpg"])], 3, settings)
    assert result.reason == "html"
    assert result.error == "html: an HTML page was served instead of an image"


def test_bomb_is_refused_before_decoding(classifier, images: dict[str, Path], settings) -> None:
    [result] = predict_inputs(classifier, [str(images["bomb.png"])], 3, settings)
    assert result.reason == "bomb"
    assert "30000" in result.error or "900000000" in result.error


def test_missing_file(classifier, tmp_path: Path, settings) -> None:
    missing = tmp_path / "nope.jpg"
    with pytest.raises(BadImageError) as err:
        ImageLoader(settings).load(str(missing))
    assert err.value.reason == "missing-file"
    [result] = predict_inputs(classifier, [str(missing)], 3, settings)
    assert result.error == f"missing-file: no such file: {missing}"


def test_file_over_the_size_cap_is_refused_unread(classifier, tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(jpeg_bytes(size=200))
    cap = path.stat().st_size - 1
    settings = fast_settings(tmp_path, max_image_bytes=cap)
    with pytest.raises(BadImageError) as err:
        ImageLoader(settings).load(str(path))
    assert err.value.reason == "too-large"
    assert str(cap) in str(err.value)
    # the same bytes uploaded (the app's path) are refused too
    result = predict_bytes(classifier, path.read_bytes(), "upload.jpg", 3, settings)
    assert result.reason == "too-large"


def test_uploaded_html_is_refused(classifier, settings) -> None:
    result = predict_bytes(classifier, HTML_PAGE, "cover.jpg", 3, settings)
    assert (result.path, result.reason) == ("cover.jpg", "html")


def test_other_url_schemes_are_refused(settings) -> None:
    with pytest.raises(BadImageError) as err:
        ImageLoader(settings).load("ftp://example.org/cover.jpg")
    assert err.value.reason == "unsupported-url"


# -- folders -------------------------------------------------------------------------------------


def test_folder_expands_to_sorted_images_only(tmp_path: Path) -> None:
    folder = tmp_path / "covers"
    folder.mkdir()
    for name in ("b.PNG", "a.jpg", "c.webp", "notes.txt", ".hidden.jpg"):
        (folder / name).write_bytes(b"x")
    (folder / "sub").mkdir()
    (folder / "sub" / "d.jpg").write_bytes(b"x")
    resolved = resolve_inputs([str(folder), "https://example.org/x.jpg"])
    assert resolved == [
        str(folder / "a.jpg"),
        str(folder / "b.PNG"),
        str(folder / "c.webp"),
        "https://example.org/x.jpg",
    ]


def test_empty_folder_is_an_error_result(classifier, tmp_path: Path, settings) -> None:
    (tmp_path / "empty").mkdir()
    [result] = predict_inputs(classifier, [str(tmp_path / "empty")], 3, settings)
    assert result.reason == "no-images"


# -- URLs against a loopback server --------------------------------------------------------------


@pytest.fixture(scope="module")
# a generator fixture: pytest hands the test the yielded str
def server() -> str:  # type: ignore[misc]
    with serve_covers() as base:
        yield base


def _url_settings(tmp_path: Path, **overrides: object):
    # the test server is on loopback, which predict refuses unless explicitly allowed
    values: dict[str, object] = {"max_retries": 1, "read_timeout": 0.5, "allow_private_urls": True}
    values.update(overrides)
    return fast_settings(tmp_path, **values)


def test_url_image_is_fetched_and_predicted(classifier, server: str, tmp_path: Path) -> None:
    [result] = predict_inputs(classifier, [f"{server}/cover.jpg"], 2, _url_settings(tmp_path))
    _check_predictions(result, k=2)


def test_url_serving_html_as_jpeg(server: str, tmp_path: Path) -> None:
    with pytest.raises(BadImageError) as err:
        ImageLoader(_url_settings(tmp_path)).load(f"{server}/html-as.jpg")
    assert err.value.reason == "html"


def test_url_404_is_permanent(server: str, tmp_path: Path) -> None:
    with pytest.raises(PermanentRemoteError) as err:
        ImageLoader(_url_settings(tmp_path)).load(f"{server}/missing.jpg")
    assert (err.value.status, err.value.reason) == (404, "http-404")


def test_url_5xx_is_transient_after_retries(server: str, tmp_path: Path) -> None:
    with pytest.raises(TransientRemoteError) as err:
        ImageLoader(_url_settings(tmp_path)).load(f"{server}/error.jpg")
    assert err.value.reason == "http-503"


def test_url_timeout(classifier, server: str, tmp_path: Path) -> None:
    settings = _url_settings(tmp_path, max_retries=0, read_timeout=0.3)
    [result] = predict_inputs(classifier, [f"{server}/slow.jpg"], 3, settings)
    assert result.reason == "timeout"
    assert result.error.startswith("timed out")


def test_url_over_the_size_cap(server: str, tmp_path: Path) -> None:
    with pytest.raises(PermanentRemoteError) as err:
        ImageLoader(_url_settings(tmp_path, max_image_bytes=100_000)).load(f"{server}/big.jpg")
    assert err.value.reason == "too-large"


# -- batching and mixed inputs -------------------------------------------------------------------


def test_mixed_inputs_keep_order_and_good_ones_answered(
    classifier, images: dict[str, Path], server: str, tmp_path: Path
) -> None:
    inputs = [
        str(images["cmyk.jpg"]),
        str(images["html.jpg"]),
        f"{server}/cover.jpg",
        str(tmp_path / "missing.png"),
        f"{server}/missing.jpg",
        str(images["gray.png"]),
    ]
    results = predict_inputs(classifier, inputs, 3, _url_settings(tmp_path))
    assert [r.path for r in results] == inputs
    assert [r.ok for r in results] == [True, False, True, False, False, True]
    assert [r.reason for r in results if not r.ok] == ["html", "missing-file", "http-404"]


class CountingClassifier:
    """The real classifier, counting the batches it is given."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.batches: list[int] = []

    @property
    def genres(self) -> list[str]:
        return self.inner.genres

    def predict_batch(self, images, top_k=3):
        self.batches.append(len(images))
        return self.inner.predict_batch(images, top_k=top_k)


def test_batches_match_single_predictions(classifier, tmp_path: Path, settings) -> None:
    paths = []
    for i, genre in enumerate(GENRES * 2):
        paths.append(tmp_path / f"{i}.jpg")
        paths[-1].write_bytes(jpeg_bytes(genre, 100 + i))
    counting = CountingClassifier(classifier)
    batched = predict_inputs(counting, [str(p) for p in paths], 3, settings, batch_size=4)
    assert counting.batches == [4, 2]
    for path, result in zip(paths, batched, strict=True):
        single = classifier.predict(str(path), top_k=3)
        assert [p.genre for p in result.predictions] == [p.genre for p in single]
        for got, want in zip(result.predictions, single, strict=True):
            assert got.probability == pytest.approx(want.probability, abs=1e-5)


def test_top_k_is_clamped_to_the_genres(classifier, images: dict[str, Path], settings) -> None:
    [result] = predict_inputs(classifier, [str(images["gray.png"])], 99, settings)
    _check_predictions(result, k=len(GENRES))
    with pytest.raises(UsageError):
        predict_inputs(classifier, [str(images["gray.png"])], 0, settings)


# -- which model ---------------------------------------------------------------------------------


def test_no_model_says_to_train_first(tmp_path: Path) -> None:
    with pytest.raises(NothingYetError, match="train-and-evaluate"):
        resolve_run_dir(None, fast_settings(tmp_path))


def test_latest_pointer_is_followed(tiny_run: Path, tmp_path: Path) -> None:
    settings = fast_settings(tmp_path)
    settings.runs_dir.mkdir(parents=True)
    (settings.runs_dir / "LATEST").write_text(f"{tiny_run}\n")
    assert resolve_run_dir(None, settings) == tiny_run


# -- the command ---------------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A clean environment for the command: own data dir, no ./.env, fast retries."""
    monkeypatch.chdir(tmp_path)
    for var in list(os.environ):
        if var.startswith(("SLEEVE_", "SPOTIPY_")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SLEEVE_MAX_RETRIES", "0")
    monkeypatch.setenv("SLEEVE_READ_TIMEOUT", "0.5")
    return tmp_path


def test_cli_json_shape_and_exit_1_on_partial_failure(
    tiny_run: Path, images: dict[str, Path], cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = [str(images["rgba.png"]), str(images["html.jpg"]), str(cli_env / "gone.jpg")]
    code = predict_cli.main([*inputs, "--model", str(tiny_run), "--json", "--top-k", "2"])
    out, err = capsys.readouterr()
    assert code == 1
    payload = json.loads(out)
    assert [item["path"] for item in payload] == inputs
    ok, html, missing = payload
    assert set(ok) == {"path", "predictions"}
    assert len(ok["predictions"]) == 2
    assert all(set(p) == {"genre", "probability"} for p in ok["predictions"])
    assert html == {"path": inputs[1], "error": "html: an HTML page was served instead of an image"}
    assert set(missing) == {"path", "error"} and "\n" not in missing["error"]
    assert "2 of 3 inputs failed" in err
    assert "Traceback" not in err


def test_cli_table_and_exit_0_using_latest(
    tiny_run: Path, images: dict[str, Path], cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = cli_env / "data" / "runs"
    runs.mkdir(parents=True)
    (runs / "LATEST").write_text(str(tiny_run))
    code = predict_cli.main([str(images["anim.gif"]), str(images["cmyk.jpg"]), "--no-progress"])
    out, _ = capsys.readouterr()
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["INPUT", "TOP", "GENRES"]
    assert len(lines) == 3
    assert lines[1].startswith(str(images["anim.gif"]))
    assert len(lines[1].split()) == 1 + 2 * 3  # path + three "genre probability" pairs


def test_cli_folder_input(
    tiny_run: Path, images: dict[str, Path], cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = predict_cli.main([str(images["gray.png"].parent), "--model", str(tiny_run), "--json"])
    payload = json.loads(capsys.readouterr().out)
    names = [Path(item["path"]).name for item in payload]
    assert names == sorted(images)  # every image-suffixed file, sorted
    assert code == 1  # the folder holds bad files too


def test_cli_without_a_model_is_nothing_to_work_on_yet(
    images: dict[str, Path], cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = predict_cli.main([str(images["gray.png"])])
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("error: no trained model found")
    assert "train-and-evaluate" in err and "Traceback" not in err


def test_cli_bad_top_k_is_a_usage_error(
    tiny_run: Path, images: dict[str, Path], cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = predict_cli.main([str(images["gray.png"]), "--model", str(tiny_run), "--top-k", "0"])
    assert code == 2
    assert "top-k must be at least 1" in capsys.readouterr().err


def test_cli_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        predict_cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "Examples:" in out and "--json" in out and "Exit status" in out
