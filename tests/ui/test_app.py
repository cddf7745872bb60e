"""The Streamlit app: data functions, page logic through AppTest, launcher, and one real-browser
smoke test (headless Chromium via Playwright) that also screenshots every page."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sleeve.core.errors import UsageError
from sleeve.core.settings import Settings
from sleeve.dataset.export import read_export
from sleeve.inference.rundir import Run, latest_run
from sleeve.ui.app import data, runs
from sleeve.ui.app.launcher import APP_FILE, app_command, app_environment, run_app
from tests.conftest import fast_settings
from tests.predict_support import (
    GENRES,
    HTML_PAGE,
    jpeg_bytes,
    serve_covers,
    shared_tiny_export,
    shared_tiny_run,
    write_tiny_catalog,
)

CHROMIUM = Path("/usr/bin/chromium")
# read now: the fixtures below clear SLEEVE_* variables from the environment
SCREENSHOT_DIR = os.environ.get("SLEEVE_SCREENSHOT_DIR", "")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_tiny_export(tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_tiny_run(tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_analysis(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    """`sleeve analyze --run` on the tiny run (t-SNE map: no numba compile in the tests)."""
    from sleeve.training.analyze.cli import run_analysis

    root = tmp_path_factory.mktemp("tiny-analysis")
    out, _ = run_analysis(None, tiny_run, root / "page", data_dir=root, map_method="tsne")
    return out


@pytest.fixture
def empty_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """The app's environment pointing at an empty data dir (no ./.env read)."""
    monkeypatch.chdir(tmp_path)
    for var in list(os.environ):
        if var.startswith("SLEEVE_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    return fast_settings(tmp_path / "data")


@pytest.fixture
def full_env(
    empty_env: Settings, tiny_run: Path, tiny_export: Path, tiny_analysis: Path
) -> Settings:
    """A data dir with a trained run, a dataset export, an analysis and a small catalog."""
    (empty_env.data_dir / "analysis").mkdir(parents=True)
    (empty_env.data_dir / "analysis" / "LATEST").write_text(str(tiny_analysis))
    empty_env.runs_dir.mkdir(parents=True)
    (empty_env.runs_dir / "LATEST").write_text(str(tiny_run))
    empty_env.datasets_dir.mkdir(parents=True)
    (empty_env.datasets_dir / "LATEST").write_text(str(tiny_export))
    write_tiny_catalog(empty_env)
    _add_resized_twin_and_hash(empty_env)
    return empty_env


@pytest.fixture
def review_env(full_env: Settings, tiny_export: Path) -> Settings:
    """full_env whose catalog also holds the export's train and val covers (the ones a
    review queue lists), imported as folders the way a user would."""
    from sleeve.collector.folder_import import import_folder
    from sleeve.core.catalog.db import open_catalog
    from sleeve.core.taxonomy import Taxonomy

    catalog = open_catalog(full_env.catalog_url)
    for split in ("train", "val"):
        folder = tiny_export / "images" / split
        import_folder(catalog, full_env, Taxonomy.load(), folder, {g: g for g in GENRES}, False)
    catalog.dispose()
    return full_env


@pytest.fixture
def two_runs(full_env: Settings, tiny_run: Path) -> tuple[Path, Path]:
    """LATEST (the tiny run) and an older copy of it that differs in seed and dataset id."""
    import shutil

    other = full_env.runs_dir / "20200101-000000-other"
    shutil.copytree(tiny_run, other)
    config = json.loads((other / "config.json").read_text())
    config["resolved"]["seed"] = 7
    (other / "config.json").write_text(json.dumps(config))
    metrics = json.loads((other / "metrics.json").read_text())
    metrics["dataset_id"] = "0123456789abcdef"
    (other / "metrics.json").write_text(json.dumps(metrics))
    os.utime(other / "metrics.json", (1, 1))  # older than the tiny run
    return tiny_run, other


def _add_resized_twin_and_hash(settings: Settings) -> None:
    """One more release whose cover is a 0.8x resize of a stored one, then the pHashes that
    build-dataset would cache: the catalog then holds one near-duplicate group."""
    import io

    from PIL import Image

    from sleeve.collector import records
    from sleeve.core.catalog.db import open_catalog
    from sleeve.core.catalog.models import CoverImage
    from sleeve.core.images.intake import inspect_image
    from sleeve.core.images.store import ImageStore
    from sleeve.dataset.dedup.hashing import ensure_hashes

    catalog = open_catalog(settings.catalog_url)
    store = ImageStore(settings.data_dir)
    with catalog.session() as s:
        first = s.query(CoverImage).order_by(CoverImage.id).first()
        assert first is not None
        img = Image.open(settings.data_dir / first.path)
        buf = io.BytesIO()
        img.resize((int(img.width * 0.8), int(img.height * 0.8))).save(buf, "JPEG", quality=85)
        twin = buf.getvalue()
        release, _ = records.upsert_release(
            s, source="musicbrainz", ids={"release-group": "rg-twin"}, title="Twin", artist=None
        )
        records.attach_cover(
            s, store, release, twin, inspect_image(twin), source="musicbrainz", source_url="rg-twin"
        )
        images = [(c.id, c.path) for c in s.query(CoverImage)]
    ensure_hashes(catalog, settings.data_dir, images, progress=False, workers=1)
    catalog.dispose()


def shown(markdown: str) -> str:
    """What a reader sees of text the page passed through ``plain()``: the escapes removed."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def _app() -> AppTest:
    return AppTest.from_file(str(APP_FILE), default_timeout=60)


def _page(at: AppTest, name: str) -> AppTest:
    return at.sidebar.radio(key="page").set_value(name).run()


# -- data functions (no Streamlit) --------------------------------------------------------------


def test_nothing_yet_names_the_command_to_run(empty_env: Settings) -> None:
    with pytest.raises(data.NotReady, match="train-and-evaluate"):
        data.load_run_report(empty_env)
    with pytest.raises(data.NotReady, match="build-dataset"):
        data.load_export(empty_env)
    with pytest.raises(data.NotReady, match="collect"):
        data.catalog_counts(empty_env)
    assert not (empty_env.data_dir / "catalog.db").exists()  # reading never creates a catalog


def test_unfinished_run_is_not_ready(tmp_path: Path, empty_env: Settings) -> None:
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(data.NotReady, match=r"no metrics\.json"):
        data.load_run_report(empty_env, run)


def test_run_report_reads_metrics_and_pngs(tiny_run: Path, empty_env: Settings) -> None:
    report = data.load_run_report(empty_env, tiny_run)
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert report.best_method == metrics["best"]["method"]
    rows = report.method_rows()
    assert [r["method"] for r in rows] == list(metrics["methods"])
    assert sum(r["best"] for r in rows) == 1
    assert report.confusion_png() == tiny_run / f"confusion_{report.best_method}.png"
    assert {r["genre"] for r in report.per_class_rows(report.best_method)} == set(GENRES)


def test_export_counts_and_filters(tiny_export: Path, empty_env: Settings) -> None:
    export = data.load_export(empty_env, tiny_export)
    card = json.loads((tiny_export / "card.json").read_text())
    counts = {r["genre"]: r for r in data.split_genre_counts(export)}
    for split, per_genre in card["counts"].items():
        for genre, n in per_genre.items():
            assert counts[genre][split] == n
    jazz_test = data.filter_rows(export.rows, genres=["jazz"], splits=["test"])
    assert len(jazz_test) == card["counts"]["test"]["jazz"]
    assert data.filter_rows(export.rows) == list(export.rows)
    assert data.thumbnail_jpeg(export.image_path(export.rows[0]))[:2] == b"\xff\xd8"
    assert data.thumbnail_jpeg(tiny_export / "images" / "gone.jpg") is None


def test_catalog_duplicate_groups_mark_the_kept_cover(full_env: Settings) -> None:
    (group,) = data.catalog_duplicate_groups(full_env)
    assert len(group) == 2 and [m.kept for m in group].count(True) == 1
    kept = next(m for m in group if m.kept)
    assert kept.width == max(m.width for m in group)  # largest resolution is the one kept
    assert all(m.path.is_file() for m in group)


def test_catalog_duplicate_groups_need_hashes(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path / "data")
    with pytest.raises(data.NotReady, match="collect"):
        data.catalog_duplicate_groups(settings)
    write_tiny_catalog(settings)
    with pytest.raises(data.NotReady, match="build-dataset"):
        data.catalog_duplicate_groups(settings)


def test_catalog_counts(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path / "data")
    expected = write_tiny_catalog(settings)
    counts = data.catalog_counts(settings)
    assert (counts.releases, counts.covers) == (expected["releases"], expected["covers"])
    by_genre = {r["genre"]: r for r in counts.by_genre}
    assert by_genre["jazz"]["releases"] == 2
    assert by_genre["jazz"]["musicbrainz"] == 1 and by_genre["jazz"]["spotify"] == 1
    assert {r["source"]: r["covers"] for r in counts.covers_by_source} == {
        "musicbrainz": 2,
        "spotify": 1,
    }
    assert counts.failures_by_reason == [{"reason": "html", "count": 1}]


def test_relative_latest_pointer(tmp_path: Path) -> None:
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "runs" / "LATEST").write_text("r1\n")
    latest = latest_run(tmp_path / "runs")
    assert latest is not None and latest.root == tmp_path / "runs" / "r1"


def test_cell_covers_add_up_to_every_confusion_cell(tiny_run: Path) -> None:
    report = data.load_run_report(fast_settings(tiny_run), tiny_run)
    rows = runs.predictions(tiny_run)
    genres = report.metrics.genres
    for method in report.methods:
        counts = runs.confusion_counts(report, method)
        for i, true in enumerate(genres):
            for j, pred in enumerate(genres):
                covers = runs.cell_covers(rows, method, true, pred)
                assert len(covers) == counts[i][j]
                assert all(c.true_genre == true and c.predicted == pred for c in covers)
                assert all(c.path.is_file() and 0 <= c.probability <= 1 for c in covers)
        pairs = runs.confused_pairs(report, method)
        assert all(
            p["count"] == counts[genres.index(p["true"])][genres.index(p["predicted"])]
            for p in pairs
        )
    assert runs.page(list(range(50)), 3, 24) == list(range(48, 50))
    assert runs.pages(50, 24) == 3 and runs.pages(0, 24) == 1


def test_run_list_and_comparison(full_env: Settings, two_runs) -> None:
    latest, other = two_runs
    assert runs.list_runs(full_env)[:2] == [latest.resolve(), other]
    a = data.load_run_report(full_env, latest)
    b = data.load_run_report(full_env, other)
    diff = runs.compare_runs(a, b)
    assert diff["config_diff"] == [{"setting": "seed", "A": "0", "B": "7"}]
    assert not diff["same_dataset"] and diff["dataset_ids"][1] == "0123456789abcdef"
    assert [r["method"] for r in diff["by_method"]] == a.methods
    assert all(r["B - A"] == 0 for r in diff["by_method"])  # same scores, copied run
    assert len(diff["by_genre"]) == len(a.methods) * len(GENRES)


# -- launcher ------------------------------------------------------------------------------------


def test_launcher_command_and_environment(tmp_path: Path) -> None:
    cmd = app_command(8765, headless=True, settings=fast_settings(tmp_path))
    assert cmd[1:5] == ["-m", "streamlit", "run", str(APP_FILE)]
    joined = " ".join(cmd)
    for flag in (
        "--server.headless true",
        "--server.port 8765",
        "--server.address 127.0.0.1",
        "--browser.gatherUsageStats false",
    ):
        assert flag in joined
    env = app_environment(fast_settings(tmp_path / "d", database_url="sqlite:///x.db"))
    assert env["SLEEVE_DATA_DIR"] == str((tmp_path / "d").resolve())
    assert env["SLEEVE_DATABASE_URL"] == "sqlite:///x.db"


def test_launcher_refuses_a_bad_port(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="port"):
        run_app(fast_settings(tmp_path), port=0, headless=True)


# -- page logic through AppTest ------------------------------------------------------------------


def test_pages_say_what_to_run_when_nothing_exists(empty_env: Settings) -> None:
    at = _app().run()
    assert not at.exception
    assert "train-and-evaluate" in shown(at.info[0].value)
    at = _page(at, "Report")
    assert not at.exception and "train-and-evaluate" in shown(at.info[0].value)
    at = _page(at, "Data")
    assert not at.exception
    infos = " ".join(shown(i.value) for i in at.info)
    assert "`collect`" in infos and "`build-dataset`" in infos
    at = _page(at, "Analysis")
    assert not at.exception and "`sleeve analyze`" in shown(at.info[0].value)


def test_predict_page_upload(full_env: Settings) -> None:
    at = _app().run()
    assert not at.exception
    at.file_uploader(key="upload").set_value(("cover.jpg", jpeg_bytes("metal", 5), "image/jpeg"))
    at.run()
    assert not at.exception and not at.error
    top = at.subheader[0].value
    assert top.split(" (")[0] in GENRES and top.endswith("%)")
    table = at.dataframe[0].value
    assert len(table) == 3 and list(table.columns) == ["genre", "probability"]
    assert table["probability"].is_monotonic_decreasing


def test_predict_page_refuses_html_upload(full_env: Settings) -> None:
    at = _app().run()
    at.file_uploader(key="upload").set_value(("cover.jpg", HTML_PAGE, "image/jpeg"))
    at.run()
    assert not at.exception
    assert "an HTML page was served instead of an image" in shown(at.error[0].value)
    assert not at.subheader


def test_security_predict_page_refuses_local_urls(full_env: Settings) -> None:
    at = _app().run()
    with serve_covers() as base:
        at.text_input(key="url").input(f"{base}/cover.jpg").run()
        assert not at.exception and not at.subheader
        assert "loopback address" in shown(at.error[0].value)
        assert "SLEEVE_ALLOW_PRIVATE_URLS" in shown(at.error[0].value)


def test_predict_page_url(full_env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLEEVE_ALLOW_PRIVATE_URLS", "1")  # the test server is on loopback
    at = _app().run()
    with serve_covers() as base:
        at.text_input(key="url").input(f"{base}/cover.jpg").run()
        assert not at.exception and not at.error
        assert at.subheader[0].value.split(" (")[0] in GENRES
        at.text_input(key="url").input(f"{base}/nothing-here.jpg").run()
        assert "HTTP 404" in shown(at.error[0].value)
    at.text_input(key="url").input("/etc/passwd").run()  # local paths are not for web users
    assert "http://" in shown(at.error[0].value)


def test_report_page(full_env: Settings, tiny_run: Path) -> None:
    at = _page(_app().run(), "Report")
    assert not at.exception and not at.error
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert at.metric[0].value == metrics["best"]["method"]
    assert len(at.dataframe[0].value) == len(metrics["methods"])
    assert at.selectbox(key="report_method").value == metrics["best"]["method"]


def test_report_page_cell_leads_to_its_covers_and_pairs_follow_the_method(
    full_env: Settings, tiny_run: Path
) -> None:
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    genres = metrics["genres"]
    at = _page(_app().run(), "Report")
    for method in metrics["methods"]:
        at = at.selectbox(key="report_method").set_value(method).run()
        assert not at.exception and not at.error
        cm = metrics["methods"][method]["test"]["confusion"]
        i, j = max(
            ((i, j) for i in range(len(genres)) for j in range(len(genres)) if i != j),
            key=lambda c: cm[c[0]][c[1]],
        )
        at = at.button(key=f"cell_{i}_{j}").click().run()
        text = " ".join(m.value for m in at.markdown)
        plural = "" if cm[i][j] == 1 else "s"
        cell = f"**{cm[i][j]} test cover{plural}** of true **{genres[i]}** predicted **{genres[j]}"
        assert cell in text
        headers = [h.value for h in at.subheader]
        assert f"Most confused genre pairs ({method}, test)" in headers
        for pair in runs.top_confused_pairs(cm, genres):  # the selected method's pairs
            assert f"**{pair['true']} → {pair['predicted']}**: {pair['count']} covers" in text


def test_report_page_run_picker_and_comparison(full_env: Settings, two_runs) -> None:
    latest, other = two_runs
    at = _page(_app().run(), "Report")
    assert at.selectbox(key="report_run").value == str(latest.resolve())
    at = at.selectbox(key="compare_run").set_value(str(other)).run()
    assert not at.exception and not at.error
    text = " ".join(m.value for m in at.markdown)
    assert "Datasets differ" in text and "0123456789abcdef" in text
    at = at.selectbox(key="report_run").set_value(str(other)).run()
    assert not at.exception
    assert f"Run `{other}`" in at.caption[0].value


def test_review_page_decisions_reach_the_catalog(review_env: Settings, tiny_run: Path) -> None:

    from sleeve.core.catalog.db import open_catalog
    from sleeve.core.catalog.decisions import latest_decisions

    rows = Run(tiny_run).label_issues()
    flagged = [r for r in rows if r["is_label_issue"] == "1"]
    at = _page(_app().run(), "Review")
    assert not at.exception and not at.error
    assert f"**{len(flagged)} covers to review**" in " ".join(m.value for m in at.markdown)
    # the flagged queue of a tiny run holds at most 5 % of its covers: review them all by rank
    at = at.toggle(key="review_all").set_value(True).run()
    first, second = rows[0], rows[1]
    text = " ".join(m.value for m in at.markdown)
    assert "words:" in text
    at.text_input(key="review_who").input("ann")
    at = at.button(key=f"exclude_{first['sha256'][:16]}").click().run()
    assert not at.error and "Recorded exclude" in shown(at.success[0].value)
    other = next(g for g in GENRES if g not in (second["given_genre"],))
    at.selectbox(key=f"genre_{second['sha256'][:16]}").set_value(other)
    at = at.button(key=f"relabel_{second['sha256'][:16]}").click().run()
    assert not at.error and f"Recorded relabel {other}" in shown(at.success[0].value)
    assert f"**{len(rows) - 2} covers to review**" in " ".join(m.value for m in at.markdown)
    catalog = open_catalog(review_env.catalog_url)
    got = {d.sha256: (d.decision, d.genre, d.who) for d in latest_decisions(catalog).values()}
    catalog.dispose()
    assert got == {
        first["sha256"]: ("exclude", None, "ann"),
        second["sha256"]: ("relabel", other, "ann"),
    }


def test_data_page(full_env: Settings, tiny_export: Path) -> None:
    at = _page(_app().run(), "Data")
    assert not at.exception and not at.error
    assert [m.value for m in at.metric[:2]] == ["5", "4"]  # releases, covers (+ the twin)
    n_rows = len(read_export(tiny_export).rows)
    assert f"{n_rows} matching images" in " ".join(m.value for m in at.markdown)
    at.multiselect(key="f_genre").set_value(["jazz"])
    at.multiselect(key="f_split").set_value(["test"]).run()
    assert "3 matching images" in " ".join(m.value for m in at.markdown)
    assert any("1 group of near-duplicate covers" in m.value for m in at.markdown)


def test_analysis_page(full_env: Settings, tiny_analysis: Path) -> None:
    at = _page(_app().run(), "Analysis")
    assert not at.exception and not at.error
    doc = json.loads((tiny_analysis / "analysis.json").read_text())
    text = " ".join(m.value for m in at.markdown)
    assert "Confusable regions" in text
    assert all(
        f"cluster {c['cluster']} · {c['size']} covers" in text for c in doc["clusters"]["items"]
    )
    n = len(doc["genres"])
    assert len(at.dataframe[0].value) == n * (n - 1) // 2  # one row per genre pair
    assert "Click a point on the map" in shown(at.info[0].value)
    at.multiselect(key="map_genres").set_value(doc["genres"][:1]).run()
    assert not at.exception


# -- one real browser ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served_app(review_env: Settings) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        app_command(port, headless=True, settings=review_env),
        env=app_environment(review_env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start on {base} (exit {proc.poll()})")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt install chromium)")
def test_browser_smoke_and_screenshots(
    annotated_export: list[dict[str, str]],
    served_app: str,
    tmp_path: Path,
    tiny_run: Path,
    review_env: Settings,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(SCREENSHOT_DIR) if SCREENSHOT_DIR else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    cover = tmp_path / "cover.jpg"
    cover.write_bytes(jpeg_bytes("jazz", 21, size=300))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(served_app, wait_until="domcontentloaded")
            expect(page.get_by_text("Predict a cover's genre")).to_be_visible(timeout=60_000)
            page.locator("input[type=file]").set_input_files(str(cover))
            headline = page.locator("h3").filter(has_text="%)")
            expect(headline).to_be_visible(timeout=60_000)
            assert headline.inner_text().split(" (")[0] in GENRES
            chart = page.locator("[data-testid=stVegaLiteChart]").locator("canvas, svg").first
            expect(chart).to_be_visible(timeout=30_000)
            page.wait_for_timeout(1000)  # the chart animates in
            page.screenshot(path=str(shots / "predict.png"), full_page=True)

            page.get_by_text("Report", exact=True).click()
            expect(page.get_by_text("Evaluation report")).to_be_visible(timeout=60_000)
            expect(page.get_by_role("img").first).to_be_visible(timeout=30_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots / "report.png"), full_page=True)
            # a confusion cell leads to its covers
            i, j, n = _busiest_cell(tiny_run)
            page.locator(f".st-key-cell_{i}_{j} button").click()
            expect(page.get_by_text(f"{n} test cover").first).to_be_visible(timeout=30_000)
            page.wait_for_timeout(1500)  # thumbnails load
            page.screenshot(path=str(shots / "report-cell.png"), full_page=True)

            page.get_by_text("Review", exact=True).click()
            expect(page.get_by_text("covers to review").first).to_be_visible(timeout=60_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots / "review.png"), full_page=True)
            # the flagged queue of a tiny run holds at most 5 % of its covers: review by rank
            page.get_by_text("Every train/val cover by rank").click()
            page.get_by_role("button", name="Exclude").first.click()
            expect(page.get_by_text("Recorded exclude").first).to_be_visible(timeout=30_000)

            page.get_by_text("Data", exact=True).click()
            expect(page.get_by_text("Stored covers")).to_be_visible(timeout=60_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots / "data.png"), full_page=True)
            for tab, marker, name in (
                ("Dataset export", "matching images", "data-export"),
                ("Duplicates", "of near-duplicate covers", "data-duplicates"),
            ):
                page.get_by_role("tab", name=tab).click()
                expect(page.get_by_text(marker)).to_be_visible(timeout=30_000)
                page.wait_for_timeout(1500)  # thumbnails load
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            # the export's covers: searched by the words read on them, filtered by an attribute
            page.get_by_role("tab", name="Dataset export").click()
            matching = lambda n: page.get_by_text(f"{n} matching images", exact=True)  # noqa: E731
            expect(matching(len(annotated_export))).to_be_visible(timeout=30_000)
            words = page.get_by_label("Words on the cover")
            words.fill("nelson")
            words.press("Enter")
            expect(matching(1)).to_be_visible(timeout=30_000)
            expect(page.get_by_text("WILLIE NELSON", exact=False).first).to_be_visible()
            words.fill("")
            words.press("Enter")
            expect(matching(len(annotated_export))).to_be_visible(timeout=30_000)
            page.get_by_role("combobox", name="Faces").click()
            page.get_by_role("option", name="with a face", exact=True).click()
            expect(matching(3)).to_be_visible(timeout=30_000)
            page.wait_for_timeout(1500)  # thumbnails load
            page.screenshot(path=str(shots / "data-attributes.png"), full_page=True)

            page.get_by_text("Analysis", exact=True).click()
            expect(page.get_by_text("Confusable genres")).to_be_visible(timeout=60_000)
            scatter = page.locator("[data-testid=stVegaLiteChart]").locator("canvas, svg").first
            expect(scatter).to_be_visible(timeout=30_000)
            page.wait_for_timeout(1500)
            box = scatter.bounding_box()
            assert box is not None
            # nearest-point selection: a click anywhere on the plot picks the closest cover
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            expect(page.get_by_text("Selected cover:")).to_be_visible(timeout=60_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots / "analysis.png"), full_page=True)
        finally:
            browser.close()
    names = (
        "predict",
        "report",
        "report-cell",
        "review",
        "data",
        "data-export",
        "data-duplicates",
        "data-attributes",
        "analysis",
    )
    for name in names:
        assert (shots / f"{name}.png").stat().st_size > 10_000
    from sleeve.core.catalog.db import open_catalog
    from sleeve.core.catalog.decisions import latest_decisions

    catalog = open_catalog(review_env.catalog_url)
    decided = [d.decision for d in latest_decisions(catalog).values()]
    catalog.dispose()
    assert decided == ["exclude"]  # the browser's click reached the catalog


def _busiest_cell(run: Path) -> tuple[int, int, int]:
    """(true, predicted, count) of the best method's largest off-diagonal test cell (or the
    largest cell when nothing was confused)."""
    metrics = json.loads((run / "metrics.json").read_text())
    cm = metrics["methods"][metrics["best"]["method"]]["test"]["confusion"]
    cells = [(cm[i][j], i != j, i, j) for i in range(len(cm)) for j in range(len(cm))]
    n, _, i, j = max(cells, key=lambda c: (c[1] and c[0] > 0, c[0]))
    return i, j, n


STYLES = ("photo", "illustration", "typography")


@pytest.fixture
def annotated_export(tiny_export: Path) -> Iterator[list[dict[str, str]]]:
    """The tiny export with build-dataset's side tables, for the Data page's filters and word
    search: attributes.csv (faces on the first 3 covers, every other cover saturated, styles in
    turn) and text.jsonl (the words "WILLIE NELSON" on the second cover only). Removed after."""
    import csv

    from sleeve.dataset.text.cover_text import TEXT_TABLE, render_text_table
    from sleeve.dataset.text.ocr import Word

    rows = read_export(tiny_export).rows
    table = tiny_export / "attributes.csv"
    with table.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sha256", "colour.saturation", "faces.face_count", "style.style"])
        for i, r in enumerate(rows):
            writer.writerow([r.sha256, 0.8 if i % 2 == 0 else 0.1, 1 if i < 3 else 0,
                             STYLES[i % 3]])  # fmt: skip
    box = ((0, 0), (9, 0), (9, 9), (0, 9))
    words = {r.sha256: [] for r in rows}
    words[rows[1].sha256] = [Word("WILLIE NELSON", 0.98, box)]
    (tiny_export / TEXT_TABLE).write_bytes(render_text_table(words))
    try:
        yield rows
    finally:
        table.unlink()
        (tiny_export / TEXT_TABLE).unlink()


def test_data_page_filters_by_cover_attributes(
    full_env: Settings, annotated_export: list[dict[str, str]]
) -> None:
    """build-dataset's attributes.csv: filter the browsed covers by faces, saturation, style."""
    rows = annotated_export
    at = _page(_app().run(), "Data")
    assert not at.exception and not at.error
    text = lambda: " ".join(m.value for m in at.markdown)  # noqa: E731
    assert f"{len(rows)} matching images" in text()
    at.selectbox(key="f_face").set_value("with a face").run()
    assert "3 matching images" in text()
    at.slider(key="f_saturation").set_value((0.5, 1.0)).run()
    assert "2 matching images" in text()  # rows 0 and 2
    at.selectbox(key="f_face").set_value("without a face").run()
    saturated_without = sum(1 for i in range(3, len(rows)) if i % 2 == 0)
    assert f"{saturated_without} matching images" in text()
    at.selectbox(key="f_face").set_value("any").run()
    at.slider(key="f_saturation").set_value((0.0, 1.0)).run()
    at.selectbox(key="f_style").set_value("typography").run()
    assert f"{len(range(2, len(rows), 3))} matching images" in text()


def _other_method_cell(run: Path) -> tuple[str, int, int, int]:
    """(method, true, predicted, count): the largest off-diagonal test cell of a method that is
    NOT the shipped one (the page opens on that), or of the shipped one when it is alone."""
    metrics = json.loads((run / "metrics.json").read_text())
    best = metrics["best"]["method"]
    method = next((m for m in metrics["methods"] if m != best), best)
    cm = metrics["methods"][method]["test"]["confusion"]
    cells = [(cm[i][j], i != j, i, j) for i in range(len(cm)) for j in range(len(cm))]
    n, _, i, j = max(cells, key=lambda c: (c[1] and c[0] > 0, c[0]))
    return method, i, j, n


def _choose(page, key: str, value: str) -> None:
    """Pick ``value`` in the Streamlit selectbox ``key``: type it into its search box, Enter."""
    box = page.locator(f".st-key-{key} input")
    box.click()
    box.fill(value)
    page.get_by_role("option", name=value, exact=True).wait_for(timeout=30_000)
    page.keyboard.press("Enter")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt install chromium)")
def test_browser_cell_covers_and_a_relabel_the_next_build_applies(
    served_app: str, tmp_path: Path, tiny_run: Path, review_env: Settings
) -> None:
    """Issue 15's loop in a real browser: another method's confusion cell -> its covers (with
    true / predicted / probability), then a suspect relabelled on the Review page -> the next
    build-dataset exports it under the new genre, with a new dataset id and the card counting
    it."""
    from playwright.sync_api import expect, sync_playwright

    from sleeve.core.catalog.db import open_catalog
    from sleeve.core.taxonomy import Taxonomy
    from sleeve.dataset.build import build_dataset
    from sleeve.inference.rundir import Run
    from sleeve.ui.app.runs import cell_covers, predictions
    from tests.dataset_support import read_manifest

    def build(out: str):
        catalog = open_catalog(review_env.catalog_url)
        try:  # threshold 0: byte-identical groups only, so the decided cover is exported itself
            return build_dataset(
                catalog, review_env, Taxonomy.load(), out=tmp_path / out, threshold=0,
                read_text=False, attributes="off", progress=False,
            )  # fmt: skip
        finally:
            catalog.dispose()

    before = build("before")
    method, i, j, n = _other_method_cell(tiny_run)
    genres = json.loads((tiny_run / "metrics.json").read_text())["genres"]
    first_cover = cell_covers(predictions(tiny_run), method, genres[i], genres[j])[0]
    suspect = Run(tiny_run).label_issues()[0]  # the head of the Review page's ranking
    assert suspect["sha256"] in {r["sha256"] for r in read_manifest(before.export_dir)}
    key = suspect["sha256"][:16]
    new_genre = next(g for g in GENRES if g not in (suspect["given_genre"],))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(served_app, wait_until="domcontentloaded")
            expect(page.get_by_text("Predict a cover's genre")).to_be_visible(timeout=60_000)
            page.get_by_text("Report", exact=True).click()
            expect(page.get_by_text("Evaluation report")).to_be_visible(timeout=60_000)
            _choose(page, "report_method", method)
            expect(page.get_by_text(f"Confusion matrix ({method}, test)")).to_be_visible(
                timeout=30_000
            )
            page.locator(f".st-key-cell_{i}_{j} button").click()
            expect(page.get_by_text(f"{n} test cover").first).to_be_visible(timeout=30_000)
            expect(page.get_by_text(f"by {method}").first).to_be_visible(timeout=30_000)
            expect(page.get_by_text(first_cover.caption).first).to_be_visible(timeout=30_000)

            page.get_by_text("Review", exact=True).click()
            expect(page.get_by_text("covers to review").first).to_be_visible(timeout=60_000)
            page.get_by_text("Every train/val cover by rank").click()  # not only flagged ones
            _choose(page, f"genre_{key}", new_genre)
            page.locator(f".st-key-relabel_{key} button").click()
            expect(page.get_by_text(f"Recorded relabel {new_genre}").first).to_be_visible(
                timeout=30_000
            )
        finally:
            browser.close()

    after = build("after")
    assert after.dataset_id != before.dataset_id
    assert (after.card.review.relabelled, after.card.review.excluded) == (1, 0)
    rows = {r["sha256"]: r for r in read_manifest(after.export_dir)}
    assert rows[suspect["sha256"]]["genre"] == new_genre


# -- issue 21: outside text stays text; hostile shapes and the upload cap --------------------------


def _shown_text(at: AppTest) -> list[str]:
    """Every Markdown-rendered string on the page: markdown, captions, notes, image captions."""
    texts = [e.value for kind in ("markdown", "caption", "error", "info", "subheader")
             for e in getattr(at, kind)]  # fmt: skip
    texts += [img.caption for e in at.get("image") for img in e.proto.imgs]
    return texts


def test_security_predict_page_shows_words_and_file_names_as_text(
    full_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from sleeve.ui.app import predict_page
    from sleeve.ui.app.ui import plain

    with serve_covers() as base:
        words = f"![x]({base}/cover.jpg)"  # what a text rung would read on a hostile cover
        real = predict_page.predict_bytes
        monkeypatch.setattr(
            predict_page,
            "predict_bytes",
            lambda *a, **k: replace(real(*a, **k), words=((words, 0.99),)),
        )
        at = _app().run()
        upload = (f"{words}.jpg", jpeg_bytes("metal", 5), "image/jpeg")
        at.file_uploader(key="upload").set_value(upload).run()
    assert not at.exception and not at.error
    shown = _shown_text(at)
    assert any(plain(words) in t for t in shown)  # the words, escaped, on the page
    assert not any("![x](" in t for t in shown)


def test_security_predict_page_refuses_a_strip_and_states_the_upload_cap(
    full_env: Settings,
) -> None:
    from tests.images import bomb_png

    at = _app().run()
    assert any("15 MB" in c.value for c in at.caption)
    assert at.get("file_uploader")[0].proto.max_upload_size_mb == 15
    at.file_uploader(key="upload").set_value(("strip.png", bomb_png(20000, 1), "image/png")).run()
    assert not at.exception and not at.subheader
    assert "bad-shape" in shown(at.error[0].value) or "aspect ratio" in shown(at.error[0].value)
