"""Builders shared by the predict and app tests (no tests here).

A tiny dataset export written to the contract (images + manifest.csv + card.json), odd and bad
image files made with Pillow, a tiny catalog, and a loopback HTTP server for URL inputs.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from sleeve.core.settings import Settings
from sleeve.dataset.export import (
    DatasetCard,
    ManifestRow,
    split_counts,
    write_export,
    write_latest,
)
from sleeve.fakes.covers import cover_jpeg, render_cover
from tests.images import bomb_png

GENRES = ("jazz", "metal", "rap")
PER_SPLIT = {"train": 8, "val": 3, "test": 3}


def write_tiny_export(root: Path, size: int = 96) -> Path:
    """A contract-shaped export of drawn covers (written by the export's owner, as
    build-dataset writes one); one near-duplicate pair shares a group_id."""
    export = root / "datasets" / "tiny"
    rows: list[ManifestRow] = []
    blobs: dict[str, bytes] = {}
    seed = 0
    for split, n in PER_SPLIT.items():
        for genre in GENRES:
            for i in range(n):
                seed += 1
                covers = [cover_jpeg(genre, seed, size)]
                if split == "train" and i == 0:  # a recompressed twin in the same group
                    covers.append(render_cover(genre, seed, "recompressed", size))
                for blob in covers:
                    sha = hashlib.sha256(blob).hexdigest()
                    blobs[sha] = blob
                    rows.append(
                        ManifestRow(
                            path=f"images/{split}/{genre}/{sha}.jpg",
                            sha256=sha,
                            phash="0" * 16,
                            genre=genre,
                            split=split,
                            artist=f"artist {seed % 5}",
                            source="musicbrainz" if seed % 2 else "spotify",
                            group_id=f"g{seed:04d}",
                            width=size,
                            height=size,
                        )
                    )
    card = DatasetCard(
        dataset_id="",  # set from the manifest by write_export
        genres=sorted(GENRES),
        counts=split_counts(rows, sorted(GENRES)),
        class_weights=dict.fromkeys(GENRES, 1.0),
        oversample=dict.fromkeys(GENRES, 1.0),
        created_with="sleeve tests",
    )
    write_export(export, rows, blobs, card, lambda _card: "# tiny test export\n", progress=False)
    write_latest(root / "datasets", export)
    return export


def jpeg_bytes(genre: str = "jazz", seed: int = 1, size: int = 96) -> bytes:
    return cover_jpeg(genre, seed, size)


HTML_PAGE = b"<!DOCTYPE html><html><head><title>Not found</title></head><body>gone</body></html>"


def write_odd_images(folder: Path) -> dict[str, Path]:
    """Good-but-unusual images (must be converted) and bad inputs (must be refused)."""
    folder.mkdir(parents=True, exist_ok=True)
    cover = Image.open(io.BytesIO(jpeg_bytes("metal", 7)))
    files = {name: folder / name for name in ("cmyk.jpg", "gray.png", "rgba.png", "anim.gif")}
    cover.convert("CMYK").save(files["cmyk.jpg"], "JPEG")
    cover.convert("L").save(files["gray.png"])
    rgba = cover.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(files["rgba.png"])
    frames = [cover.convert("P"), Image.new("P", cover.size, 3), Image.new("P", cover.size, 9)]
    frames[0].save(files["anim.gif"], save_all=True, append_images=frames[1:], duration=100)
    files["html.jpg"] = folder / "html.jpg"
    files["html.jpg"].write_bytes(HTML_PAGE)
    files["bomb.png"] = folder / "bomb.png"
    files["bomb.png"].write_bytes(bomb_png())
    files["text.jpg"] = folder / "text.jpg"
    files["text.jpg"].write_bytes(b"just some text, not a picture\n")
    files["truncated.jpg"] = folder / "truncated.jpg"
    files["truncated.jpg"].write_bytes(jpeg_bytes("rap", 3)[:700])
    return files


# -- loopback HTTP server ----------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    cover = b""
    slow_seconds = 3.0

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/cover.jpg":
            self._send(200, "image/jpeg", self.cover)
        elif self.path == "/html-as.jpg":
            self._send(200, "image/jpeg", HTML_PAGE)
        elif self.path == "/slow.jpg":
            time.sleep(self.slow_seconds)  # longer than the test's read timeout
            self._send(200, "image/jpeg", self.cover)
        elif self.path == "/error.jpg":
            self._send(503, "text/plain", b"down for maintenance")
        elif self.path == "/big.jpg":
            self._send(200, "image/jpeg", self.cover + b"\0" * 200_000)
        else:
            self._send(404, "text/html", HTML_PAGE)


@contextmanager
def serve_covers() -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 with a free port; yields its base URL."""
    handler = type("Handler", (_Handler,), {"cover": jpeg_bytes("rap", 11)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def write_tiny_catalog(settings: Settings) -> dict[str, int]:
    """A catalog written with the real record writers: 4 releases, 3 covers, 1 failure."""
    from sleeve.collector import records
    from sleeve.core.catalog.db import open_catalog
    from sleeve.core.images.intake import inspect_image
    from sleeve.core.images.store import ImageStore
    from sleeve.core.taxonomy import Taxonomy

    catalog = open_catalog(settings.catalog_url)
    store, taxonomy = ImageStore(settings.data_dir), Taxonomy.load()
    releases = [  # (source, id, tags, cover seed)
        ("musicbrainz", "rg-1", [("jazz", 3)], 1),
        ("musicbrainz", "rg-2", [("heavy metal", 2)], 2),
        ("spotify", "sp-1", [("rap", 1)], 3),
        ("spotify", "sp-2", [("jazz", 1), ("hip hop", 2)], 3),  # shares rg's cover bytes
    ]
    try:
        with catalog.session() as s:
            for source, ext_id, tags, seed in releases:
                artist = records.get_or_create_artist(s, source, f"a-{ext_id}", f"Artist {ext_id}")
                kind = "release-group" if source == "musicbrainz" else "album"
                release, _ = records.upsert_release(
                    s, source=source, ids={kind: ext_id}, title=f"Album {ext_id}", artist=artist
                )
                evidence = [records.Evidence("rg-tag", name, votes) for name, votes in tags]
                records.add_evidence(s, release, source, evidence, taxonomy)
                data = jpeg_bytes(GENRES[seed % 3], seed)
                records.attach_cover(
                    s, store, release, data, inspect_image(data), source=source, source_url=ext_id
                )
            records.record_failure(s, url="http://caa/rg-9", reason="html", source="musicbrainz")
    finally:
        catalog.dispose()
    return {"releases": 4, "covers": 3}


# -- a real tiny trained run, built once per test session ---------------------------------------

_CACHE: dict[str, Path] = {}


def shared_tiny_export(factory: pytest.TempPathFactory) -> Path:
    """The tiny export, written once per session (test modules share it through this cache)."""
    if "export" not in _CACHE:
        _CACHE["export"] = write_tiny_export(factory.mktemp("tiny-data"))
    return _CACHE["export"]


def shared_tiny_run(factory: pytest.TempPathFactory) -> Path:
    """A real run trained on the tiny export with a fast method, once per session."""
    if "run" not in _CACHE:
        _CACHE["run"] = train_tiny_run(shared_tiny_export(factory), factory.mktemp("tiny-runs"))
    return _CACHE["run"]


def train_tiny_run(export: Path, runs_dir: Path) -> Path:
    """train-and-evaluate's own API with the two fastest methods at a small input size."""
    from sleeve.training.run import TrainConfig, train_and_evaluate

    config = TrainConfig(methods=("knn", "logreg"), device="cpu", image_size=96, progress=False)
    return train_and_evaluate(export, runs_dir / "tiny", config).run_dir
