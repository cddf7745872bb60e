"""The fake Cover Art Archive redirect service and the fake archive.org file host behind it.

CAA (shared/docs/coverartarchive.md §2): every hit is a ``307`` with a ``text/plain``
``See: <location>`` body pointing at the archive host; misses are Werkzeug-style HTML errors;
MBIDs must be lower-case; merged MBIDs are silently mapped to the current one; every response
carries ``Access-Control-Allow-Origin: *``.

Archive host (§2.2, §3): ``/download/mbid-<m>/index.json`` and ``/download/mbid-<m>/<file>``.
Releases marked ``second_hop`` first answer ``302`` to ``/node/ia8NNNN/items/mbid-<m>/<file>``
(the storage-node hop); ``octet_index`` releases serve index.json as
``application/octet-stream``; ``legacy_index`` releases have the old indexer's shape (string
ids, ``http://musicbrainz.org`` release URL, no ``1200`` thumbnail (and no such file), and for
some only ``small``/``large``). Originals are 600 px, thumbnails 250/500/1200 px JPEGs.
Releases with ``bad_art`` serve that fault's payload for every image file.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass

from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.faults import FaultRule, pre_response
from sleeve.fakes.http import Request, Response
from sleeve.fakes.records import FakeRelease

ORIGINAL_SIZE = 600
THUMB_SIZES = (250, 500, 1200)
_CAA_MBID = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")
_FILE = re.compile(r"^(?P<name>front|back|\d+)(?:-(?P<size>[^.]*))?(?:\.jpg)?$")
_TITLES = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
    429: "Too Many Requests",
}
CORS = {"Access-Control-Allow-Origin": "*"}


def werkzeug_page(status: int, message: str) -> Response:
    title = _TITLES.get(status, "Error")
    body = (
        f"<!doctype html>\n<html lang=en>\n<title>{status} {title}</title>\n"
        f"<h1>{title}</h1>\n<p>{html.escape(message)}</p>\n"
    )
    return Response(status, body.encode(), {"Content-Type": "text/html; charset=utf-8"})


def _redirect(status: int, location: str) -> Response:
    return Response(
        status,
        f"See: {location}\n".encode(),
        {"Location": location, "Content-Type": "text/plain; charset=utf-8"},
    )


@dataclass
class CoverArtOptions:
    cover_latency: float = 0.0  # seconds added to every image response of the archive host


class CoverArtApp:
    service = "coverart"

    def __init__(self, catalogue: FakeCatalogue, options: CoverArtOptions) -> None:
        self.cat = catalogue
        self.opt = options
        self.archive_url = ""  # set by FakeServices once the archive host has its port

    def gate(self, req: Request) -> Response | None:
        return None

    def latency(self, req: Request, resp: Response) -> float:
        return 0.0

    def error(self, req: Request, status: int, message: str) -> Response:
        resp = werkzeug_page(status, message)
        resp.headers.update(CORS)
        return resp

    def handle(self, req: Request) -> Response:
        resp = self._route(req)
        resp.headers.update(CORS)
        return resp

    def _file_url(self, mbid: str, image_id: int, size: int | None) -> str:
        base = f"{self.archive_url}/download/mbid-{mbid}/mbid-{mbid}-{image_id}"
        return f"{base}_thumb{size}.jpg" if size else f"{base}.jpg"

    def _route(self, req: Request) -> Response:
        if req.method == "OPTIONS":
            return Response(200, b"", {"Allow": "GET, HEAD, OPTIONS"})
        if req.method not in ("GET", "HEAD"):
            return werkzeug_page(405, "The method is not allowed for the requested URL.")
        parts = [p for p in req.path.split("/") if p]
        if not parts:
            return werkzeug_page(400, "no MBID specified")
        entity = parts[0]
        if entity not in ("release", "release-group"):
            return werkzeug_page(
                400, "Only the following entities are supported: release, release-group"
            )
        if len(parts) < 2:
            return werkzeug_page(400, "no MBID specified")
        mbid = parts[1]
        if not _CAA_MBID.match(mbid) or len(parts) > 3:
            return werkzeug_page(400, "invalid MBID specified")
        mbid = self.cat.resolve(mbid)
        file = parts[2] if len(parts) == 3 else None
        if entity == "release-group":
            return self._release_group(mbid, file)
        rel = self.cat.releases.get(mbid)
        if rel is None or not rel.has_art:
            return werkzeug_page(404, f"No cover art found for release {mbid}")
        if file is None:
            return _redirect(307, f"{self.archive_url}/download/mbid-{mbid}/index.json")
        return self._release_file(rel, file)

    def _release_file(self, rel: FakeRelease, file: str) -> Response:
        m = _FILE.match(file)
        if not m:
            return werkzeug_page(400, f"{file} does not not contain a valid cover image id")
        name, size_word = m.group("name"), m.group("size")
        # Only 250/500/1200 are sizes; anything else ("small") falls back to the original.
        size = int(size_word) if size_word in ("250", "500", "1200") else None
        if name == "front":
            if rel.front is None:
                return werkzeug_page(
                    404, f"No front cover image found for release with identifier {rel.id}"
                )
            image_id = rel.image_id
        elif name == "back":
            if rel.back is None:
                return werkzeug_page(
                    404, f"No back cover image found for release with identifier {rel.id}"
                )
            image_id = rel.image_id + 1
        else:
            image_id = int(name)
            ids = {rel.image_id} if rel.front else set()
            if rel.back is not None:
                ids.add(rel.image_id + 1)
            if image_id not in ids:
                return werkzeug_page(404, f"cover image with id {image_id} not found")
        return _redirect(307, self._file_url(rel.id, image_id, size))

    def _release_group(self, mbid: str, file: str | None) -> Response:
        if mbid not in self.cat.release_groups:
            return werkzeug_page(404, f"No cover art found for release group {mbid}")
        rel = self.cat.cover_release(mbid)
        if rel is None:
            return werkzeug_page(404, f"No cover art found for release group {mbid}")
        if file is None:
            return _redirect(307, f"{self.archive_url}/download/mbid-{rel.id}/index.json")
        m = _FILE.match(file)
        if not m or m.group("name") != "front":
            word = m.group("name") if m else file
            return Response(
                400,
                f"{word} not supported for release groups.".encode(),
                {"Content-Type": "text/plain; charset=utf-8"},
            )
        return self._release_file(rel, file)


_ARCHIVE_PATH = re.compile(
    r"^/(?:download|node/(?P<node>ia\d+)/items)/mbid-(?P<mbid>[0-9a-f-]{36})/(?P<file>[^/]+)$"
)
_ARCHIVE_FILE = re.compile(
    r"^mbid-(?P<mbid>[0-9a-f-]{36})-(?P<id>\d+)(?:_thumb(?P<size>\d+))?"
    r"\.jpg$"
)


class ArchiveApp:
    """The archive.org stand-in: index.json and image files, with the optional node hop."""

    service = "archive"

    def __init__(self, catalogue: FakeCatalogue, options: CoverArtOptions) -> None:
        self.cat = catalogue
        self.opt = options
        self.coverart_url = ""  # set by FakeServices

    def gate(self, req: Request) -> Response | None:
        return None

    def error(self, req: Request, status: int, message: str) -> Response:
        return werkzeug_page(status, message)

    def latency(self, req: Request, resp: Response) -> float:
        is_image = resp.headers.get("Content-Type", "").startswith("image/")
        return self.opt.cover_latency if is_image else 0.0

    def handle(self, req: Request) -> Response:
        if req.method not in ("GET", "HEAD"):
            return werkzeug_page(405, "Method Not Allowed")
        m = _ARCHIVE_PATH.match(req.path)
        rel = self.cat.releases.get(m.group("mbid")) if m else None
        if m is None or rel is None or not rel.has_art:
            return werkzeug_page(404, "Item not found")
        if rel.second_hop and m.group("node") is None:
            node = f"ia8{int(rel.id[:4], 16) % 10000:04d}"
            return Response(
                302,
                b"",
                {"Location": f"{req.base_url}/node/{node}/items/mbid-{rel.id}/{m.group('file')}"},
            )
        file = m.group("file")
        if file == "index.json":
            ctype = "application/octet-stream" if rel.octet_index else "application/json"
            body = json.dumps(self.index(rel), sort_keys=True).encode()
            return Response(200, body, {"Content-Type": ctype})
        f = _ARCHIVE_FILE.match(file)
        if f is None or f.group("mbid") != rel.id:
            return werkzeug_page(404, "File not found")
        image_id, size = int(f.group("id")), f.group("size")
        cover = (
            rel.front
            if image_id == rel.image_id
            else rel.back
            if image_id == rel.image_id + 1
            else None
        )
        px = int(size) if size else ORIGINAL_SIZE
        if cover is None or (size and px not in THUMB_SIZES):
            return werkzeug_page(404, "File not found")
        if rel.legacy_index and px == 1200:
            return werkzeug_page(404, "File not found")  # old items never got a 1200 thumbnail
        if rel.bad_art:
            rule = FaultRule("archive", re.compile(""), rel.bad_art, None)
            bad = pre_response(rule, req, self.error)
            if bad is not None:
                return bad
        return Response(200, cover.jpeg(px), {"Content-Type": "image/jpeg"})

    def index(self, rel: FakeRelease) -> dict:
        """The index.json document for ``rel`` (current or legacy shape)."""
        caa = f"{self.coverart_url}/release/{rel.id}"
        images = []
        for image_id, is_front in ((rel.image_id, True), (rel.image_id + 1, False)):
            if (rel.front if is_front else rel.back) is None:
                continue
            thumbs = {
                "250": f"{caa}/{image_id}-250.jpg",
                "500": f"{caa}/{image_id}-500.jpg",
                "1200": f"{caa}/{image_id}-1200.jpg",
                "small": f"{caa}/{image_id}-250.jpg",
                "large": f"{caa}/{image_id}-500.jpg",
            }
            if rel.legacy_index:
                del thumbs["1200"]
                if image_id % 4 == 0:
                    thumbs = {"small": thumbs["small"], "large": thumbs["large"]}
            images.append(
                {
                    "approved": True,
                    "back": not is_front,
                    "comment": "",
                    "edit": 20_000_000 + image_id % 10_000_000,
                    "front": is_front,
                    "id": str(image_id) if rel.legacy_index else image_id,
                    "image": f"{caa}/{image_id}.jpg",
                    "thumbnails": thumbs,
                    "types": ["Front"] if is_front else ["Back"],
                }
            )
        scheme = "http" if rel.legacy_index else "https"
        return {"images": images, "release": f"{scheme}://musicbrainz.org/release/{rel.id}"}
