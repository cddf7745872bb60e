"""Cover attributes: images/s per extractor on the shared covers, one process.

Question: which extractors are cheap enough for build-dataset to run by default, and how long
does `sleeve attributes` take over all 4,115 shared covers on 2 cores?

Measured on an even sample of N shared covers (default 200), in this process with one thread:
decoding (load_view: JPEG draft decode to <= 512 px, then 256 px) and each extractor alone
on the decoded views. Images/s per extractor include the decode (what a run of that extractor
alone costs); the estimate for all covers divides by the worker count (2).

Run: .venv/bin/python benchmarks/attributes.py [--n 200]
Writes benchmarks/results/attributes.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COVERS = ROOT.parent / "shared" / "data" / "covers-5genre" / "Album_Covers"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    import torch
    from sleeve.dataset.attributes.decode import load_view
    from sleeve.dataset.attributes.registry import EXTRACTORS
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    torch.set_num_threads(1)
    files = sorted(COVERS.glob("*/*.jpg"))
    if not files:
        print(f"no covers under {COVERS}", file=sys.stderr)
        return 3
    step = max(1, len(files) // args.n)
    sample = files[::step][: args.n]
    t = time.perf_counter()
    views = [load_view(f) for f in sample]
    decode_s = (time.perf_counter() - t) / len(sample)
    out: dict[str, object] = {
        "covers": len(sample),
        "all_shared_covers": len(files),
        "decode_ms": round(decode_s * 1000, 2),
    }
    per: dict[str, dict[str, float]] = {}
    for name, ex in EXTRACTORS.items():
        ex.compute(views[0])  # load models outside the timing
        t = time.perf_counter()
        values = [ex.compute(v) for v in views]
        s = (time.perf_counter() - t) / len(views)
        per[name] = {
            "ms_per_cover": round(s * 1000, 2),
            "images_per_s_with_decode_1_process": round(1.0 / (s + decode_s), 1),
            "est_minutes_all_covers_2_workers": round(len(files) * (s + decode_s) / 2 / 60, 2),
        }
        if name.startswith("faces"):
            per[name]["share_with_face"] = round(
                sum(v["face_count"] > 0 for v in values) / len(values), 3
            )
        print(name, per[name], flush=True)
    out["extractors"] = per
    dest = ROOT / "benchmarks" / "results" / "attributes.json"
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
