"""How fast does `collect` harvest, and does it stay polite?

Harvest N covers from the loopback MusicBrainz + Cover Art Archive fakes with realistic latency
(about 100 ms per MusicBrainz call, 200 ms per cover), once with sleeve's harvester and once
with a naive sequential harvester (musicbrainzngs for the search, at its built-in 1 request/s,
then one `requests.get` per cover, one after another), in the same run against the same
servers. Reports covers/s for both, the ratio, and the MusicBrainz request rate each produced
(which must stay at or below 1 request/s: the fake also enforces it and would answer 503).

    python benchmarks/collect_throughput.py [--covers 500] [--mb-latency 0.1] [--cover-latency 0.2]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import requests

from sleeve.collector.harvest_mb import harvest_musicbrainz
from sleeve.core.catalog.db import open_catalog
from sleeve.core.images.intake import inspect_image
from sleeve.core.settings import load_settings
from sleeve.core.taxonomy import Taxonomy
from sleeve.fakes.catalogue import FakeCatalogue
from sleeve.fakes.server import FakeServices

RESULTS = Path(__file__).resolve().parent / "results"


def mb_rate(records: list) -> dict[str, float]:
    mb = [r for r in records if r.service == "musicbrainz"]
    if len(mb) < 2:
        return {"requests": len(mb), "min_gap_s": float("nan"), "mean_rate_per_s": 0.0}
    gaps = [b.time - a.time for a, b in itertools.pairwise(mb)]
    span = mb[-1].time - mb[0].time
    return {
        "requests": len(mb),
        "min_gap_s": round(min(gaps), 3),
        "mean_rate_per_s": round((len(mb) - 1) / span, 3),
        "throttled_503": sum(1 for r in mb if r.status == 503),
    }


def run_sleeve(fx: FakeServices, workdir: Path, genre: str, n: int) -> dict[str, object]:
    settings = replace(
        load_settings({}, env_file=None),
        data_dir=workdir / "sleeve",
        musicbrainz_url=fx.musicbrainz_url,
        coverart_url=fx.coverart_url,
        contact="benchmark@sleeve.invalid",
    )  # defaults otherwise: 1 MusicBrainz request/s, 4 cover downloads at a time
    catalog = open_catalog(settings.catalog_url)
    fx.requests.clear()
    start = time.perf_counter()
    summary = harvest_musicbrainz(catalog, settings, Taxonomy.load(), genre, n, progress=False)
    elapsed = time.perf_counter() - start
    return {
        "covers": summary.new,
        "seconds": round(elapsed, 2),
        "covers_per_s": round(summary.new / elapsed, 2),
        **mb_rate(fx.requests.snapshot()),
    }


def run_naive(fx: FakeServices, workdir: Path, genre: str, n: int) -> dict[str, object]:
    """musicbrainzngs search pages, then each cover fetched and saved in turn."""
    import musicbrainzngs

    host = fx.musicbrainz_url.split("//", 1)[1].rsplit("/ws/2", 1)[0]
    musicbrainzngs.set_hostname(host, use_https=False)
    musicbrainzngs.set_useragent("naive-benchmark", "0", "benchmark@sleeve.invalid")
    musicbrainzngs.set_format("json")
    musicbrainzngs.set_rate_limit(1.0, 1)  # its default: 1 request per second
    query = Taxonomy.load().get(genre).mb_query
    out = workdir / "naive"
    out.mkdir(parents=True)
    seen: set[str] = set()
    session = requests.Session()
    session.headers["User-Agent"] = "naive-benchmark/0 ( benchmark@sleeve.invalid )"
    fx.requests.clear()
    start = time.perf_counter()
    offset = 0
    while len(seen) < n:
        page = musicbrainzngs.search_release_groups(query, limit=100, offset=offset)
        groups = page.get("release-groups", [])
        if not groups:
            break
        offset += len(groups)
        for rg in groups:
            resp = session.get(f"{fx.coverart_url}/release-group/{rg['id']}/front-500", timeout=30)
            if resp.status_code != 200:
                continue
            try:
                inspect_image(resp.content)
            except Exception:
                continue
            sha = hashlib.sha256(resp.content).hexdigest()
            if sha not in seen:
                (out / f"{sha}.jpg").write_bytes(resp.content)
                seen.add(sha)
            if len(seen) >= n:
                break
    elapsed = time.perf_counter() - start
    return {
        "covers": len(seen),
        "seconds": round(elapsed, 2),
        "covers_per_s": round(len(seen) / elapsed, 2),
        **mb_rate(fx.requests.snapshot()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--covers", type=int, default=500)
    p.add_argument("--mb-latency", type=float, default=0.1)
    p.add_argument("--cover-latency", type=float, default=0.2)
    args = p.parse_args(argv)
    # ~20 % of the fake's release groups have no art or are duplicates: generate enough.
    catalogue = FakeCatalogue.generate({"rap": int(args.covers * 1.6) + 20}, seed=42)
    results: dict[str, object] = {
        "covers_requested": args.covers,
        "mb_latency_s": args.mb_latency,
        "cover_latency_s": args.cover_latency,
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeServices(
            catalogue,
            mb_latency=args.mb_latency,
            cover_latency=args.cover_latency,
            enforce_rate=1.0,
        ) as fx,
    ):
        results["naive"] = run_naive(fx, Path(tmp), "rap", args.covers)
        time.sleep(1.1)  # let the fake's per-client rate window pass between the two runs
        results["sleeve"] = run_sleeve(fx, Path(tmp), "rap", args.covers)
    sleeve, naive = results["sleeve"], results["naive"]
    # each result is a dict of numbers; typed as object
    results["speedup"] = round(sleeve["covers_per_s"] / naive["covers_per_s"], 2)  # type: ignore[index]
    rows = [
        (
            "harvester",
            "covers",
            "seconds",
            "covers/s",
            "MB requests",
            "MB min gap s",
            "MB mean req/s",
            "MB 503s",
        )
    ]
    for name in ("naive", "sleeve"):
        r = results[name]
        rows.append(
            (
                name,
                r["covers"],
                r["seconds"],
                r["covers_per_s"],
                # each result is a dict of numbers; typed as object
                r["requests"],  # type: ignore[index]
                r["min_gap_s"],
                r["mean_rate_per_s"],
                r["throttled_503"],
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    print(f"speedup (sleeve / naive covers per second): {results['speedup']}x")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "collect_throughput.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
