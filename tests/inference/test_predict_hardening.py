"""predict, the Python API and user-supplied URLs as a hostile user would use them (issue 11:
cases 3, 7, 9, 16, 17): local addresses, redirects to them, bodies echoed in errors, slow
bodies, FIFOs, unvalidated API inputs and names that forge table rows.

Real loopback servers (a small one here, and the fake services with their trickle fault);
nothing of our own is mocked.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from PIL import Image

from sleeve.collector.http import HttpClient, http_client
from sleeve.core.errors import BadImageError, ConfigError, RemoteError, SleeveError
from sleeve.core.settings import load_settings
from sleeve.fakes import FakeCatalogue, FakeServices
from sleeve.inference.predict import load_classifier, predict_inputs
from sleeve.ui import predict_cli
from tests.conftest import fast_settings
from tests.images import bomb_png
from tests.predict_support import jpeg_bytes, shared_tiny_export, shared_tiny_run

SECRET = b"ADMIN-TOKEN=hunter2"


class _Handler(BaseHTTPRequestHandler):
    cover = jpeg_bytes("rap", 11)

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/cover.jpg":
            self._send(200, self.cover, {"Content-Type": "image/jpeg"})
        elif url.path == "/token.jpg":  # an internal service's answer, not an image
            self._send(200, SECRET, {"Content-Type": "image/jpeg"})
        elif url.path == "/secret-404":
            body = json.dumps({"error": f"no such user {SECRET.decode()}"}).encode()
            self._send(404, body, {"Content-Type": "application/json"})
        elif url.path == "/redirect":
            self._send(302, b"", {"Location": parse_qs(url.query)["to"][0]})
        else:
            self._send(404, b"nothing here", {"Content-Type": "text/plain"})


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared_tiny_export(tmp_path_factory)
    return shared_tiny_run(tmp_path_factory)


@pytest.fixture(scope="module")
def classifier(tiny_run: Path):
    return load_classifier(tiny_run, fast_settings(tiny_run))


def _settings(tmp_path: Path, **overrides: object):
    values: dict[str, object] = {"max_retries": 0, "read_timeout": 2.0}
    values.update(overrides)
    return fast_settings(tmp_path, **values)


# -- 3: server-side request forgery -------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "127.1", "[::1]", "[::ffff:127.0.0.1]"],
)
def test_security_predict_refuses_loopback_in_every_spelling(
    classifier, server: tuple[str, int], tmp_path: Path, host: str
) -> None:
    url = f"http://{host}:{server[1]}/cover.jpg"
    [result] = predict_inputs(classifier, [url], 3, _settings(tmp_path))
    assert result.reason == "blocked-address", result.error
    assert "loopback address" in result.error and "SLEEVE_ALLOW_PRIVATE_URLS" in result.error


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),
        ("::ffff:10.0.0.1", "private"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_security_address_rules(address: str, why: str | None) -> None:
    from sleeve.collector.netguard import refusal

    assert refusal(ipaddress.ip_address(address)) == why


def test_security_private_literal_is_refused_before_connecting(tmp_path: Path) -> None:
    client = http_client(_settings(tmp_path), "web", untrusted=True)
    started = time.monotonic()
    with pytest.raises(RemoteError) as err:
        client.get_bytes("http://10.255.255.1/cover.jpg")  # unroutable: a connect would hang
    assert err.value.reason == "blocked-address"
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("target_host", ["127.0.0.2", "2130706434"])
def test_security_redirects_are_checked_again(server: tuple[str, int], target_host: str) -> None:
    """The first hop is allowed (a narrowed rule lets 127.0.0.1 stand in for a public host);
    its redirect to another loopback address is refused on the new connection."""
    from sleeve.collector.netguard import refusal

    def refuse(ip):
        return None if str(ip) == "127.0.0.1" else refusal(ip)

    client = HttpClient("web", user_agent="tests", untrusted=True, refuse=refuse)
    base, port = server
    assert client.get_bytes(f"{base}/cover.jpg").content == _Handler.cover
    with pytest.raises(RemoteError) as err:
        client.get_bytes(f"{base}/redirect?to=http://{target_host}:{port}/cover.jpg")
    assert err.value.reason == "blocked-address"
    assert "127.0.0.2" in str(err.value) and "loopback" in str(err.value)


def test_security_errors_never_quote_what_the_server_sent(
    classifier, server: tuple[str, int], tmp_path: Path
) -> None:
    base = server[0]
    settings = _settings(tmp_path, allow_private_urls=True)
    results = predict_inputs(classifier, [f"{base}/token.jpg", f"{base}/secret-404"], 3, settings)
    assert [r.reason for r in results] == ["not-an-image", "http-404"]
    for result in results:
        assert "ADMIN" not in result.error and "hunter2" not in result.error


def test_allow_private_urls_setting(classifier, server: tuple[str, int], tmp_path: Path) -> None:
    assert load_settings({"SLEEVE_ALLOW_PRIVATE_URLS": "1"}, env_file=None).allow_private_urls
    assert not load_settings({}, env_file=None).allow_private_urls
    settings = _settings(tmp_path, allow_private_urls=True)
    [result] = predict_inputs(classifier, [f"{server[0]}/cover.jpg"], 2, settings)
    assert result.ok, result.error


# -- 7: one deadline per request ----------------------------------------------------------------


@pytest.fixture(scope="module")
def fakes() -> Iterator[FakeServices]:
    with FakeServices(FakeCatalogue.generate(["pop"], per_genre=4, seed=3)) as fx:
        yield fx


def _front_url(fx: FakeServices) -> str:
    rel = next(
        r for r in fx.catalogue.releases.values() if r.front and not r.darkened and not r.bad_art
    )
    return f"{fx.coverart_url}/release/{rel.id}/front-250"


def test_a_trickling_body_stops_at_the_deadline_and_is_retried_once(
    fakes: FakeServices, tmp_path: Path
) -> None:
    fakes.faults.clear()
    rule = fakes.faults.add("archive", r"\.jpg$", "slow-body", times=None, chunk=16, interval=0.05)
    client = http_client(_settings(tmp_path, max_retries=5, request_deadline=0.4), "coverart")
    started = time.monotonic()
    try:
        with pytest.raises(RemoteError) as err:
            client.get_bytes(_front_url(fakes))
    finally:
        fakes.faults.clear()
    elapsed = time.monotonic() - started
    assert err.value.reason == "slow-body"
    assert "SLEEVE_REQUEST_DEADLINE" in str(err.value)
    assert rule.hits == 2  # the first try and one retry, not five
    assert elapsed < 2.5, f"{elapsed:.1f}s"


def test_a_body_within_the_deadline_still_arrives(fakes: FakeServices, tmp_path: Path) -> None:
    fakes.faults.clear()
    fakes.faults.add("archive", r"\.jpg$", "slow-body", times=1, chunk=4096, interval=0.02)
    client = http_client(_settings(tmp_path, request_deadline=5.0), "coverart")
    try:
        fetched = client.get_bytes(_front_url(fakes))
    finally:
        fakes.faults.clear()
    assert fetched.content.startswith(b"\xff\xd8")


def test_predict_with_a_small_deadline_returns_promptly(
    classifier, fakes: FakeServices, tmp_path: Path
) -> None:
    fakes.faults.clear()
    fakes.faults.add("archive", r"\.jpg$", "slow-body", times=None, chunk=16, interval=0.05)
    settings = _settings(tmp_path, max_retries=5, request_deadline=0.3, allow_private_urls=True)
    started = time.monotonic()
    try:
        [result] = predict_inputs(classifier, [_front_url(fakes)], 3, settings)
    finally:
        fakes.faults.clear()
    assert result.reason == "slow-body"
    assert time.monotonic() - started < 2.0


def test_a_trickling_cover_costs_a_harvest_two_deadlines_not_minutes(tmp_path: Path) -> None:
    from sleeve.collector.harvest_mb import harvest_musicbrainz
    from sleeve.core.catalog.db import open_catalog
    from sleeve.core.taxonomy import Taxonomy

    with FakeServices(FakeCatalogue.generate({"disco": 30}, seed=7)) as fx:
        rule = fx.faults.add("archive", r"\.jpg", "slow-body", times=2, chunk=16, interval=0.05)
        settings = fast_settings(
            tmp_path / "data",
            musicbrainz_url=fx.musicbrainz_url,
            coverart_url=fx.coverart_url,
            download_workers=1,  # the fault's two uses hit one cover: its try and its retry
            max_retries=5,
            request_deadline=0.5,
        )
        started = time.monotonic()
        summary = harvest_musicbrainz(
            open_catalog(settings.catalog_url),
            settings,
            Taxonomy.load(),
            "disco",
            8,
            progress=False,
        )
        elapsed = time.monotonic() - started
    assert rule.hits == 2
    assert (summary.new, summary.state) == (8, "completed")
    assert summary.failed == {"slow-body": 1}
    assert elapsed < 15, f"{elapsed:.1f}s"


def test_request_deadline_setting() -> None:
    assert load_settings({"SLEEVE_REQUEST_DEADLINE": "7.5"}, env_file=None).request_deadline == 7.5
    with pytest.raises(ConfigError, match="SLEEVE_REQUEST_DEADLINE"):
        load_settings({"SLEEVE_REQUEST_DEADLINE": "0"}, env_file=None)


# -- 9 and 17: the command -----------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    for var in list(os.environ):
        if var.startswith(("SLEEVE_", "SPOTIPY_")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


@pytest.mark.timeout(20)
def test_predict_refuses_a_fifo(
    tiny_run: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = cli_env / "cover.jpg"
    os.mkfifo(fifo)
    code = predict_cli.main([str(fifo), "--model", str(tiny_run), "--json"])
    [item] = json.loads(capsys.readouterr().out)
    assert code == 1
    assert item["error"].startswith("not-a-file:")


def test_security_a_newline_in_a_name_cannot_forge_a_row(
    tiny_run: Path, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = cli_env / "real.jpg"
    good.write_bytes(jpeg_bytes("jazz", 2))
    forged = cli_env / "x.jpg\nforged.jpg  rock 0.999"
    shutil.copyfile(good, forged)
    gone = cli_env / "gone\x1b[2J.jpg"
    code = predict_cli.main([str(forged), str(gone), "--model", str(tiny_run), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 3  # header + one row per input
    assert lines[1].startswith(str(cli_env / "x.jpg\\nforged.jpg"))
    assert "\x1b" not in out and "gone\\x1b[2J.jpg" in lines[2]


# -- 16: the Python API validates like the command ----------------------------------------------


def test_api_path_errors_are_typed_one_liners(classifier, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8\xff" + b"\x00" * 500)  # JPEG magic, no picture
    for source, reason in [
        (tmp_path / "missing.jpg", "missing-file"),
        (str(tmp_path / "missing.jpg"), "missing-file"),
        (garbage, "corrupt"),
        (tmp_path, "no-images"),
    ]:
        with pytest.raises(BadImageError) as err:
            classifier.predict(source)
        assert err.value.reason == reason, (source, err.value)
        assert "\n" not in str(err.value)


def test_api_refuses_a_bomb_path_before_decoding(classifier, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png(width=12000, height=12000))
    with pytest.raises(BadImageError) as err:
        classifier.predict(bomb)
    assert err.value.reason == "bomb"


def test_api_treats_urls_as_urls(tiny_run: Path, server: tuple[str, int], tmp_path: Path) -> None:
    from sleeve.inference.classifier import Classifier

    url = f"{server[0]}/cover.jpg"
    guarded = Classifier.load(tiny_run, settings=_settings(tmp_path))
    with pytest.raises(RemoteError) as err:
        guarded.predict(url)
    assert err.value.reason == "blocked-address"
    allowed = Classifier.load(tiny_run, settings=_settings(tmp_path, allow_private_urls=True))
    assert allowed.predict(url) == allowed.predict(_Handler.cover)
    with pytest.raises(BadImageError) as bad:
        allowed.predict("ftp://example.org/cover.jpg")
    assert bad.value.reason == "unsupported-url"


def test_api_accepts_numpy_arrays(classifier) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)
    expected = classifier.predict(Image.fromarray(rgb))
    assert classifier.predict(rgb) == expected
    assert classifier.predict(rgb.astype(np.float32) / 255.0)[0].genre == expected[0].genre
    grey = rgb[:, :, 0]
    assert classifier.predict(grey) == classifier.predict(Image.fromarray(grey))
    assert classifier.predict(rgb.astype(np.int64)) == expected
    bad_arrays = (
        np.zeros((4, 4, 7), np.uint8),
        np.zeros(10, np.uint8),
        np.zeros((0, 5, 3), np.uint8),
        np.full((8, 8), 2.0),
        np.full((8, 8), 300),
        np.zeros((8, 8), bool),
    )
    for bad in bad_arrays:
        with pytest.raises(BadImageError):
            classifier.predict(bad)
    with pytest.raises(SleeveError):
        classifier.predict(42)
