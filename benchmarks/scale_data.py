"""Beyond one disk and one rate limit: what each data-scale path buys, measured in one run.

Four questions, each against a baseline measured in the same run on the same machine:

- dump: metadata ingestion from a MusicBrainz JSON dump (collect --from-dump's reader: stream
  the .tar.xz, parse each release, match the genre) in releases/s, against the WS/2 search path
  at MusicBrainz' 1 request/s (release groups/s through the real client and limiter, against
  the loopback fake) over the same generated catalogue. Both then fetch covers from the same
  CAA fake; the end-to-end covers/s of both harvests is reported too.
- store: ImageStore put and checked get, covers/s, local disk vs an S3-protocol server on
  loopback (moto_server, started and stopped here), on N shared covers.
- export: write and read speed (covers/s) and bytes on disk per format (imagefolder,
  webdataset, parquet) for N shared covers; reads are the owner's streaming read
  (iter_images) and the training path's random access (image_source per cover).
- harvesters: 3 collect processes vs 1 on one PostgreSQL catalog (SLEEVE_TEST_POSTGRES_URL),
  against fakes with latency (MB 0.1 s; covers 0.2 s, then 1 s as a slow archive.org) and
  MusicBrainz' 1 request/s enforced: covers/s and the request rate the fake saw.

Shared covers are read by path (never copied into the repo); without them generated covers
are used. Run: .venv/bin/python benchmarks/scale_data.py [--covers 300] [--parts a,b]
Writes benchmarks/results/scale_data.json.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.s3_support: the same loopback S3 server the tests use

from sleeve.collector.dump import read_dump  # noqa: E402
from sleeve.collector.harvest_dump import harvest_dump, wanted  # noqa: E402
from sleeve.collector.harvest_mb import harvest_musicbrainz  # noqa: E402
from sleeve.collector.http import http_client  # noqa: E402
from sleeve.collector.musicbrainz import MusicBrainzClient  # noqa: E402
from sleeve.collector.ratelimit import RateLimiter  # noqa: E402
from sleeve.core.catalog.db import open_catalog  # noqa: E402
from sleeve.core.images.intake import inspect_image  # noqa: E402
from sleeve.core.images.store import ImageStore  # noqa: E402
from sleeve.core.settings import load_settings  # noqa: E402
from sleeve.core.taxonomy import Taxonomy  # noqa: E402
from sleeve.dataset.export import DatasetCard, ManifestRow, read_export, write_export  # noqa: E402
from sleeve.fakes.catalogue import FakeCatalogue  # noqa: E402
from sleeve.fakes.mbdump import write_dump  # noqa: E402
from sleeve.fakes.server import FakeServices  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
COVERS = ROOT.parent / "shared" / "data" / "covers-5genre" / "Album_Covers"
PARTS = ("dump", "store", "export", "harvesters")
GENRES = {"Country": "country", "Electronic": "edm", "HipHop": "rap", "Pop": "pop", "Rock": "rock"}


def settings_for(workdir: Path, fx: FakeServices | None = None, **kw: object):  # type: ignore[no-untyped-def]
    base = replace(
        load_settings({}, env_file=None), data_dir=workdir, contact="bench@sleeve.invalid"
    )
    if fx is not None:
        base = replace(base, musicbrainz_url=fx.musicbrainz_url, coverart_url=fx.coverart_url)
    return replace(base, **kw)  # type: ignore[arg-type]


def rate(n: float, seconds: float) -> float:
    return round(n / seconds, 2) if seconds > 0 else float("inf")


def mb_seen(records: list) -> dict[str, object]:  # type: ignore[type-arg]
    mb = sorted((r for r in records if r.service == "musicbrainz"), key=lambda r: r.time)
    if len(mb) < 2:
        return {"mb_requests": len(mb)}
    span = mb[-1].time - mb[0].time
    return {
        "mb_requests": len(mb),
        "mb_requests_per_s": round((len(mb) - 1) / span, 3),
        "mb_min_gap_s": round(min(b.time - a.time for a, b in itertools.pairwise(mb)), 3),
        "mb_503": sum(1 for r in mb if r.status == 503),
    }


# -- dump vs WS/2 ------------------------------------------------------------------------------


def part_dump(work: Path, per_genre: int, covers: int) -> dict[str, object]:
    taxonomy = Taxonomy.load()
    genres = ["rap", "jazz", "pop", "country", "edm"]
    cat = FakeCatalogue.generate(dict.fromkeys(genres, per_genre), seed=5)
    dump = write_dump(cat, work / "dump", "release")
    start = time.perf_counter()
    lines = matched = 0
    for line in read_dump(dump):
        lines += 1
        if line.entity is not None and line.entity.front and wanted(line.entity, "jazz", taxonomy):
            matched += 1
    dump_s = time.perf_counter() - start

    with FakeServices(cat, enforce_rate=1.0) as fx:
        settings = settings_for(work / "ws2", fx)
        limiter = RateLimiter(settings.mb_rate)  # 1 request/s: what MusicBrainz allows
        mb = MusicBrainzClient(
            http_client(settings, "musicbrainz", limiter=limiter), fx.musicbrainz_url
        )
        query = taxonomy.get("jazz").mb_query
        start = time.perf_counter()
        offset = groups = 0
        while True:
            page = mb.search_release_groups(query, offset=offset)
            groups += len(page.items)
            offset += page.received
            if page.received == 0 or offset >= page.count:
                break
        ws2_s = time.perf_counter() - start
        ws2_requests = mb_seen(fx.requests.snapshot())

    end_to_end = {}
    for name in ("dump", "ws2"):
        with FakeServices(cat, enforce_rate=1.0, cover_latency=0.05) as fx:
            settings = settings_for(work / f"e2e-{name}", fx)
            catalog = open_catalog(settings.catalog_url)
            start = time.perf_counter()
            if name == "dump":
                summary = harvest_dump(
                    catalog, settings, taxonomy, "jazz", covers, dump, progress=False
                )
            else:
                summary = harvest_musicbrainz(
                    catalog, settings, taxonomy, "jazz", covers, progress=False
                )
            seconds = time.perf_counter() - start
            end_to_end[name] = {
                "covers": summary.new,
                "seconds": round(seconds, 2),
                "covers_per_s": rate(summary.new, seconds),
                **mb_seen(fx.requests.snapshot()),
            }
            catalog.dispose()
    return {
        "catalogue": {
            "genres": genres,
            "release_groups": len(cat.release_groups),
            "releases": len(cat.releases),
        },
        "dump_bytes": dump.stat().st_size,
        "dump_releases": lines,
        "dump_jazz_candidates": matched,
        "dump_seconds": round(dump_s, 3),
        "dump_releases_per_s": rate(lines, dump_s),
        "ws2_release_groups": groups,
        "ws2_seconds": round(ws2_s, 2),
        "ws2_release_groups_per_s": rate(groups, ws2_s),
        "ws2_requests": ws2_requests,
        "dump_jazz_candidates_per_s": rate(matched, dump_s),
        "ratio_dump_over_ws2": round(rate(lines, dump_s) / rate(groups, ws2_s), 1),
        "ratio_jazz_found_dump_over_ws2": round(rate(matched, dump_s) / rate(groups, ws2_s), 1),
        "end_to_end_jazz": end_to_end,
        "note": "WS/2 search returns 100 release groups per request (tags only); per-release data "
        "(cover-art-archive.front, release tags) would take one lookup per release at 1/s.",
    }


# -- covers: the local disk vs S3 on loopback ----------------------------------------------------


def sample_covers(n: int) -> list[tuple[str, bytes]]:
    """(genre, bytes) for n covers: an even sample of the shared covers, else generated ones."""
    if COVERS.is_dir():
        files = sorted(p for d in sorted(COVERS.iterdir()) if d.is_dir() for p in d.iterdir())
        step = max(1, len(files) // n)
        picked = files[::step][:n]
        return [(GENRES.get(p.parent.name, p.parent.name.lower()), p.read_bytes()) for p in picked]
    from tests.dataset_support import cover, jpeg

    return [(("rap", "jazz", "pop")[i % 3], jpeg(cover(i, 500))) for i in range(n)]


def part_store(work: Path, covers: list[tuple[str, bytes]]) -> dict[str, object]:
    from tests.s3_support import S3_ENV, moto_server

    infos = [(data, inspect_image(data)) for _, data in covers]
    out: dict[str, object] = {"covers": len(infos), "bytes": sum(len(d) for d, _ in infos)}
    speeds: dict[str, dict[str, float]] = {}
    os.environ.update(S3_ENV)
    with moto_server("bench") as s3:
        stores = {
            "local": ImageStore(work / "local"),
            "s3_loopback": ImageStore(work / "s3-cache", "s3://bench/covers", s3.endpoint),
        }
        for name, store in stores.items():
            start = time.perf_counter()
            rels = [store.put(data, info) for data, info in infos]
            put_s = time.perf_counter() - start
            start = time.perf_counter()
            for rel, (_, info) in zip(rels, infos, strict=True):
                store.read(rel, info.sha256)  # sha256 checked on every read
            get_s = time.perf_counter() - start
            speeds[name] = {
                "put_per_s": rate(len(rels), put_s),
                "get_per_s": rate(len(rels), get_s),
            }
    out.update(speeds)
    local, remote = speeds["local"], speeds["s3_loopback"]
    out["ratio_s3_over_local"] = {k: round(remote[k] / local[k], 3) for k in local}
    return out


# -- export formats ------------------------------------------------------------------------------


def part_export(work: Path, covers: list[tuple[str, bytes]]) -> dict[str, object]:
    import pyarrow.parquet  # noqa: F401  (imported before the clock starts: not per-cover cost)

    rows, sources = [], {}
    for i, (genre, data) in enumerate(covers):
        info = inspect_image(data)
        if info.sha256 in sources:
            continue
        split = ("train", "train", "train", "val", "test")[i % 5]
        sources[info.sha256] = data
        rows.append(
            ManifestRow(
                f"images/{split}/{genre}/{info.sha256}.{info.ext}",
                info.sha256,
                "",
                genre,
                split,
                "",
                "bench",
                info.sha256[:12],
                info.width,
                info.height,
            )
        )
    genres = sorted({r.genre for r in rows})
    card = DatasetCard("", genres, {}, {}, {}, created_with="benchmarks/scale_data.py")
    src_dir = work / "src"
    src_dir.mkdir()
    paths = {}
    for sha, data in sources.items():  # the catalog's files: what build-dataset exports from
        paths[sha] = src_dir / sha
        paths[sha].write_bytes(data)
    out: dict[str, object] = {
        "covers": len(rows),
        "image_bytes": sum(len(d) for d in sources.values()),
    }
    for fmt in ("imagefolder", "webdataset", "parquet"):
        dest = work / f"export-{fmt}"
        start = time.perf_counter()
        write_export(dest, rows, paths, card, lambda c: "", progress=False, fmt=fmt)
        write_s = time.perf_counter() - start
        export = read_export(dest)
        start = time.perf_counter()
        streamed = sum(len(data) for _, data in export.iter_images())
        stream_s = time.perf_counter() - start
        export = read_export(dest)  # fresh: the index build is part of the random-access cost
        start = time.perf_counter()
        for row in export.rows:
            source = export.image_source(row)
            data = source.read_bytes() if isinstance(source, Path) else source()
            assert hashlib.sha256(data).hexdigest() == row.sha256
        random_s = time.perf_counter() - start
        size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file() and not p.is_symlink())
        # the tree hard-links the catalog's files: count the bytes it would take as a copy
        out[fmt] = {
            "write_per_s": rate(len(rows), write_s),
            "stream_read_per_s": rate(len(rows), stream_s),
            "random_read_per_s": rate(len(rows), random_s),
            "bytes_on_disk": size,
            "files": sum(1 for p in dest.rglob("*") if p.is_file()),
            "streamed_bytes": streamed,
        }
    return out


# -- 3 harvesters vs 1 on PostgreSQL -------------------------------------------------------------


def part_harvesters(work: Path, per_process: int, cover_latency: float) -> dict[str, object]:
    url = os.environ.get("SLEEVE_TEST_POSTGRES_URL", "")
    if not url:
        return {"skipped": "SLEEVE_TEST_POSTGRES_URL is not set"}
    from tests.conftest import _postgres_database

    cat = FakeCatalogue.generate({"rap": 400, "jazz": 400, "pop": 400}, seed=8)
    out: dict[str, object] = {"covers_per_process": per_process, "cover_latency_s": cover_latency}
    runs: dict[str, dict[str, object]] = {}
    for label, jobs in (
        ("one", [("rap", 3 * per_process)]),
        ("three", [("rap", per_process), ("jazz", per_process), ("pop", per_process)]),
    ):
        gen: Generator[str, None, None] = _postgres_database()  # type: ignore[assignment]
        db = next(gen)
        try:
            open_catalog(db).dispose()  # migrate once before the processes start
            with FakeServices(
                cat, enforce_rate=1.0, mb_latency=0.1, cover_latency=cover_latency
            ) as fx:
                env = {
                    **os.environ,
                    **fx.env(),
                    "SLEEVE_DATA_DIR": str(work / f"pg-{label}-{cover_latency}"),
                    "SLEEVE_DATABASE_URL": db,
                    "SLEEVE_CONTACT": "bench@sleeve.invalid",
                }
                cmd = [sys.executable, "-m", "sleeve.collector.cli", "--no-progress"]
                start = time.perf_counter()
                procs = [
                    subprocess.Popen(
                        [*cmd, "--genre", g, "--limit", str(n)],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                    )
                    for g, n in jobs
                ]
                codes = [p.wait(timeout=600) for p in procs]
                seconds = time.perf_counter() - start
                seen = mb_seen(fx.requests.snapshot())
            catalog = open_catalog(db)
            from sqlalchemy import func, select

            from sleeve.core.catalog.models import CoverImage

            with catalog.session() as s:
                stored = s.scalar(select(func.count()).select_from(CoverImage)) or 0
            catalog.dispose()
        finally:
            gen.close()
        runs[label] = {
            "processes": len(jobs),
            "exit_codes": codes,
            "covers": stored,
            "seconds": round(seconds, 2),
            "covers_per_s": rate(stored, seconds),
            **seen,
        }
    out.update(runs)
    out["ratio_three_over_one"] = round(rate_of(runs["three"]) / rate_of(runs["one"]), 2)
    return out


def rate_of(run: dict[str, object]) -> float:
    value = run["covers_per_s"]
    return float(value) if isinstance(value, int | float) else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--covers", type=int, default=300, help="shared covers for store/export")
    ap.add_argument("--per-genre", type=int, default=400, help="dump part: release groups/genre")
    ap.add_argument("--harvest", type=int, default=60, help="covers per harvester process")
    ap.add_argument("--parts", default=",".join(PARTS))
    args = ap.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    path = RESULTS / "scale_data.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    results["machine"] = {"cpus": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 1)}
    work = Path(tempfile.mkdtemp(prefix="scale-data-"))
    try:
        covers = sample_covers(args.covers) if {"store", "export"} & set(parts) else []
        for part in parts:
            start = time.perf_counter()
            sub = work / part
            sub.mkdir()
            if part == "dump":
                results[part] = part_dump(sub, args.per_genre, 100)
            elif part == "store":
                results[part] = part_store(sub, covers)
            elif part == "export":
                results[part] = part_export(sub, covers)
            elif part == "harvesters":
                results[part] = {
                    f"cover_latency_{lat}s": part_harvesters(sub, args.harvest, lat)
                    for lat in (0.2, 1.0)
                }
            print(f"{part}: {time.perf_counter() - start:.1f}s", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    return 0


def print_table(r: dict) -> None:  # type: ignore[type-arg]
    rows = []
    if "dump" in r:
        d = r["dump"]
        rows.append(("dump: releases/s (stream+parse+match)", d["dump_releases_per_s"]))
        rows.append(("WS/2 search at 1 req/s: release groups/s", d["ws2_release_groups_per_s"]))
        rows.append(("  ratio dump / WS/2", d["ratio_dump_over_ws2"]))
        rows.append(("dump: jazz candidates found/s (of all)", d["dump_jazz_candidates_per_s"]))
        rows.append(("  ratio jazz found, dump / WS/2", d["ratio_jazz_found_dump_over_ws2"]))
        for k, v in d["end_to_end_jazz"].items():
            rows.append((f"  {k} harvest, 100 jazz covers: covers/s", v["covers_per_s"]))
    if "store" in r:
        s = r["store"]
        for k in ("local", "s3_loopback"):
            rows.append(
                (f"store {k}: put / get covers/s", f"{s[k]['put_per_s']} / {s[k]['get_per_s']}")
            )
    if "export" in r:
        e = r["export"]
        for fmt in ("imagefolder", "webdataset", "parquet"):
            x = e[fmt]
            rows.append(
                (
                    f"export {fmt}: write / stream / random covers/s",
                    f"{x['write_per_s']} / {x['stream_read_per_s']} / {x['random_read_per_s']}",
                )
            )
            rows.append((f"  {fmt}: bytes on disk, files", f"{x['bytes_on_disk']}, {x['files']}"))
    for variant, h in r.get("harvesters", {}).items():
        if "one" not in h:
            continue
        for k in ("one", "three"):
            rows.append(
                (
                    f"{k} harvester(s), {variant}: covers/s, MB req/s",
                    f"{h[k]['covers_per_s']}, {h[k].get('mb_requests_per_s')}",
                )
            )
        rows.append(("  ratio three / one", h["ratio_three_over_one"]))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    raise SystemExit(main())
