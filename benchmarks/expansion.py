"""Question: does the toolkit keep its promise end to end? Start from a third of the shared
covers, harvest the rest through the (loopback) catalogues, rebuild, retrain, review: does test
weighted F1 on one fixed set of covers that are never harvested go up?

1. Fixed test set. The shared covers (a copy of the cached catalog of all 4,115 files) are
   grouped as build-dataset groups them (sha256, pHash <= 10, the visual stage); 15 % of the
   groups filed under one genre, drawn per genre with ``--seed``, are the TEST set: one cover
   (the representative) per group, its folder's genre as the truth. No file of a test group is
   ever imported or served. Groups filed under several genres stay in the pool.
2. Starting dataset: a third of the pool's groups, copied to a class-per-folder tree and
   imported with ``collect --from-folder``.
3. Harvest: the other two thirds, plus a copy of ``--copies`` (default 25 %) of the starting
   third's files, are served by the loopback MusicBrainz / Cover Art Archive stand-ins
   (fakes/folder_catalogue.py: one release per file, tagged with its genre, the
   file's own bytes as the original image) and harvested with ``collect --genre G`` per genre
   (``--cover-size 0``: the original, as the archive stores it). The harvested copies of
   imported covers are stored once and carry both sources' labels.
4. ``build-dataset --balance --no-text --attributes off`` and ``train-and-evaluate --method svc``
   (Lite0 224 px; the fast recipe, embeddings from a copied cache) after each step.
5. Review: the after-expansion run's top ``--review`` suspects (label_issues.csv)
   get decisions recorded in the catalog (``sleeve.core.catalog.decisions.record_decision``, what
   ``sleeve review decide`` calls) by a stated policy, then rebuild and retrain:
   * ``eye``: the verdicts one engineer gave BY EYE to covers of the shared set
     (benchmarks/results/label_issues_review.json, contact sheets): "mistake" and
     "ambiguous" -> exclude, "correct" / "unclear" -> keep; suspects nobody judged: no decision;
   * ``auto`` (after ``eye``, on top of it): every top suspect not judged by eye is relabelled
     to the out-of-fold suggestion when its probability is >= 0.6, else excluded; no person
     looked at these.
   Each model is scored on the fixed test set from the cached Lite0 features through the
   shipped head (model.pt), the same numbers ``predict`` gives for those files.

All commands are the real CLIs in subprocesses with SLEEVE_DATA_DIR / MUSICBRAINZ_URL /
COVERART_URL pointed at the work dir and the stand-ins. The shared set's Electronic and Rock
are not study genres: a taxonomy file (SLEEVE_TAXONOMY) adds them with a tag each.

Writes benchmarks/results/expansion.json; skips (exit 0) when the covers are absent.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "covers-5genre" / "Album_Covers"
COVERS = Path(os.environ.get("SLEEVE_BENCH_COVERS", _SHARED))
# benchmarks/text.py's work dir (its --work default): catalog, exports, embedding cache
_TEXT_WORK = Path(tempfile.gettempdir()) / "sleeve-text-bench"
CACHE = Path(os.environ.get("SLEEVE_BENCH_CACHE", _TEXT_WORK))
LITE0 = "efficientnet_lite0-pretrained-efficientnet-lite0-57934424.pth-224px"
RESULTS = Path(__file__).parent / "results" / "expansion.json"
EYE = Path(__file__).parent / "results" / "label_issues_review.json"
BIN = Path(sys.executable).parent
FOLDERS = {
    "Country": "country",
    "Electronic": "electronic",
    "HipHop": "rap",
    "Pop": "pop",
    "Rock": "rock",
}
TAXONOMY = """\
# the shared set's two genres outside the study's taxonomy, one tag each; "electronic" is on
# the shipped never_map (wider than edm), so this file's never_map leaves it out
never_map = ["reggaeton", "dub techno", "ambient dub techno", "ragga jungle", "rap metal",
             "rap rock", "neo classical metal", "idm", "ambient", "soundtrack"]

[genres.electronic]
aliases = ["electronic"]
core = ["electronic"]
mb_query = 'tag:electronic'
spotify_search = ["electronic"]

[genres.rock]
aliases = ["rock"]
core = ["rock"]
mb_query = 'tag:rock'
spotify_search = ["rock"]
"""
AUTO_RELABEL_P = 0.6
BOOTSTRAP = 1000


def sha_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- 1. the fixed test set ---------------------------------------------------------------------
def full_groups(work: Path) -> dict[str, str]:
    """sha256 -> duplicate group id over ALL shared covers, grouped as build-dataset does."""
    from dataclasses import replace

    from sleeve.core.catalog.db import open_catalog
    from sleeve.core.settings import load_settings
    from sleeve.dataset.build import _present
    from sleeve.dataset.dedup.groups import group_duplicates
    from sleeve.dataset.dedup.hashing import ensure_hashes
    from sleeve.dataset.dedup.visual import find_visual_duplicates
    from sleeve.dataset.dedup.visual_settings import VisualDedup
    from sleeve.dataset.rows import load_rows

    saved = work / "groups.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    full = work / "full"
    if not (full / "catalog.db").is_file():  # the cached catalog of all covers, copied
        shutil.copytree(CACHE / "catalog", full, symlinks=True, ignore=_no_datasets)
        emb = full / "cache" / "embeddings"
        emb.mkdir(parents=True, exist_ok=True)
        shutil.copytree(CACHE / "data" / "cache" / "embeddings" / LITE0, emb / LITE0)
    settings = replace(load_settings({}, env_file=None), data_dir=full)
    catalog = open_catalog(settings.catalog_url)
    rows = load_rows(catalog)
    images, _, _ = _present(rows, full)
    hashes, _ = ensure_hashes(catalog, full, [(im.id, im.path) for im in images], progress=False)
    grouping = group_duplicates(images, hashes)
    found = find_visual_duplicates(images, full, grouping, VisualDedup(enabled=True), hashes=hashes)
    if found.pairs:
        grouping = group_duplicates(images, hashes, extra_pairs=found.edges)
    catalog.dispose()
    out = {im.sha256: grouping.group_of[im.id].id for im in images}
    saved.write_text(json.dumps(out))
    return out


def _no_datasets(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n in ("datasets", "runs")]


def plan(group_of: dict[str, str], seed: int, copies: float) -> dict:
    """Test / start / served files and test truth (see the module doc)."""
    files = [(p, FOLDERS[p.parent.name]) for p in sorted(COVERS.glob("*/*")) if p.is_file()]
    files = [(p, g) for p, g in files if p.parent.name in FOLDERS]
    sha = {p: sha_of(p) for p, _ in files}
    by_group: dict[str, list[tuple[Path, str]]] = defaultdict(list)
    for p, g in files:
        by_group[group_of[sha[p]]].append((p, g))
    rng = random.Random(seed)
    per_genre: dict[str, list[str]] = defaultdict(list)
    for gid in sorted(by_group):
        genres = {g for _, g in by_group[gid]}
        if len(genres) == 1:
            per_genre[genres.pop()].append(gid)
    test: set[str] = set()
    for genre in sorted(per_genre):
        gids = per_genre[genre]
        rng.shuffle(gids)
        test.update(gids[: round(0.15 * len(gids))])
    pool = sorted(set(by_group) - test)
    rng.shuffle(pool)
    start_groups = set(pool[: len(pool) // 3])
    start = [f for gid in sorted(start_groups) for f in by_group[gid]]
    served = [f for gid in pool if gid not in start_groups for f in by_group[gid]]
    copied = rng.sample(start, round(copies * len(start)))
    truth = {}
    for gid in sorted(test):
        p, g = min(by_group[gid])  # one cover per group
        truth[sha[p]] = g
    return {
        "test": truth,
        "start": start,
        "served": served + copied,
        "copied": copied,
        "multi_genre_groups": sum(1 for v in by_group.values() if len({g for _, g in v}) > 1),
        "files": len(files),
        "groups": len(by_group),
    }


# -- 2..5. the product's commands ----------------------------------------------------------------
class Steps:
    def __init__(self, work: Path, env: dict[str, str], log: Path) -> None:
        self.work, self.env, self.log = work, env, log
        self.seconds: dict[str, float] = {}

    def cli(self, name: str, *args: str, extra_env: dict[str, str] | None = None) -> str:
        """Run a sleeve command; its last stdout line (the printed path, for build/train)."""
        t0 = time.perf_counter()
        with self.log.open("a") as log:
            log.write(f"\n$ {name} {' '.join(args)}\n")
            log.flush()
            proc = subprocess.run(
                [str(BIN / name), *args],
                env={**self.env, **(extra_env or {})},
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                check=False,
            )
            log.write(proc.stdout)
        key = f"{name} {args[0] if args else ''}".strip()
        self.seconds[key] = round(self.seconds.get(key, 0.0) + time.perf_counter() - t0, 1)
        if proc.returncode != 0:
            raise SystemExit(f"{name} {' '.join(args)} exited {proc.returncode}; see {self.log}")
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        return lines[-1].strip() if lines else ""

    def build_and_train(self, tag: str) -> tuple[Path, Path]:
        export = Path(
            self.cli(
                "build-dataset", "--balance", "--no-text", "--attributes", "off", "--no-progress"
            )
        )
        run = self.work / "runs" / tag
        shutil.rmtree(run, ignore_errors=True)
        self.cli(
            "train-and-evaluate",
            "--dataset",
            str(export),
            "--method",
            "svc",
            "--out",
            str(run),
            "--no-progress",
        )
        return export, run


def score_fixed_test(run: Path, truth: dict[str, str], data_dir: Path) -> dict:
    """Weighted F1 of the run's shipped model on the fixed test covers (cached features)."""
    import numpy as np
    import torch
    from sklearn.metrics import f1_score

    from sleeve.core.vision.backbones import load_backbone
    from sleeve.core.vision.embeddings import cached_embeddings
    from sleeve.core.vision.samples import Sample
    from sleeve.inference.classifier import Classifier
    from sleeve.inference.heads_runtime import head_probabilities

    clf = Classifier.load(run)
    shas = sorted(truth)
    files = {sha_of(p): p for p in COVERS.glob("*/*") if p.is_file()}
    backbone = load_backbone(clf.payload["backbone"]["name"], "auto", torch.device("cpu"))
    samples = [Sample(files[s], s, truth[s], "test", 0) for s in shas]
    feats = cached_embeddings(
        samples,
        backbone,
        clf.recipe,
        torch.device("cpu"),
        data_dir / "cache" / "embeddings",
        progress=False,
    )
    probs = head_probabilities(clf.head, np.asarray(feats))
    pred = [clf.genres[i] for i in probs.argmax(1)]
    y = [truth[s] for s in shas]
    per = f1_score(y, pred, labels=sorted(set(y)), average=None, zero_division=0)
    return {
        "weighted_f1": round(float(f1_score(y, pred, average="weighted", zero_division=0)), 4),
        "per_genre_f1": {g: round(float(f), 3) for g, f in zip(sorted(set(y)), per, strict=True)},
        "covers": len(y),
        "predicted": dict(zip(shas, pred, strict=True)),
    }


def paired_bootstrap(truth: dict[str, str], a: dict[str, str], b: dict[str, str]) -> dict:
    """Weighted F1 of b minus a on the same resampled test covers: mean and 95 % interval."""
    import numpy as np
    from sklearn.metrics import f1_score

    shas = sorted(truth)
    y = np.array([truth[s] for s in shas])
    pa, pb = np.array([a[s] for s in shas]), np.array([b[s] for s in shas])
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(y), len(y))
        diffs.append(
            f1_score(y[i], pb[i], average="weighted", zero_division=0)
            - f1_score(y[i], pa[i], average="weighted", zero_division=0)
        )
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {"mean": round(float(np.mean(diffs)), 4), "interval": [round(lo, 4), round(hi, 4)]}


def card_facts(export: Path) -> dict:
    from sleeve.core.jsonrecord import plain
    from sleeve.dataset.export import read_export

    card = read_export(export).card
    return {
        "dataset_id": card.dataset_id,
        "counts": card.counts,
        "labels": card.labels,
        "duplicates": plain(card.duplicates),
        "review": plain(card.review),
    }


def run_metrics(run: Path) -> dict:
    from sleeve.inference.rundir import Run

    m = Run(run).metrics()
    svc = m.methods["svc"]
    return {
        "own_split_test_weighted_f1": round(svc.test["weighted_f1"], 4),
        "counts": {sp: sum(c.values()) for sp, c in m.counts.items()},
        "headline": m.headline,
    }


def decide(work: Path, settings_env: dict[str, str], run: Path, top: int, policy: str) -> dict:
    """Record review decisions for the run's top suspects by ``policy`` (module doc)."""
    from dataclasses import replace

    from sleeve.core.catalog.db import open_catalog
    from sleeve.core.catalog.decisions import record_decision
    from sleeve.core.settings import load_settings
    from sleeve.core.taxonomy import Taxonomy
    from sleeve.inference.rundir import Run

    suspects = Run(run).label_issues()[:top]
    eye: dict[str, dict] = {}
    data = json.loads(EYE.read_text())
    for key in ("first_pass_top100", "random40", "top100"):  # later passes win
        for item in data.get(key, []):
            eye[item["sha256"]] = item
    settings = replace(
        load_settings({}, env_file=None), data_dir=Path(settings_env["SLEEVE_DATA_DIR"])
    )
    catalog = open_catalog(settings.catalog_url)
    taxonomy = Taxonomy.load(Path(settings_env["SLEEVE_TAXONOMY"]))
    tally: Counter[str] = Counter()
    for s in suspects:
        verdict = eye.get(s["sha256"], {}).get("verdict")
        if policy == "eye":
            if verdict is None:
                tally["not judged by eye: no decision"] += 1
                continue
            decision = "exclude" if verdict in ("mistake", "ambiguous") else "keep"
            record_decision(
                catalog, taxonomy, s["sha256"], decision, who="bench-eye", note=f"eye: {verdict}"
            )
            tally[f"eye {verdict}: {decision}"] += 1
        else:
            if verdict is not None:
                tally["judged by eye: left as decided"] += 1
                continue
            p_suggested = float(s.get(f"p.{s['suggested_genre']}", 0.0))
            if p_suggested >= AUTO_RELABEL_P and s["suggested_genre"] != s["given_genre"]:
                record_decision(
                    catalog,
                    taxonomy,
                    s["sha256"],
                    "relabel",
                    s["suggested_genre"],
                    who="bench-auto",
                )
                tally["auto: relabel"] += 1
            else:
                record_decision(catalog, taxonomy, s["sha256"], "exclude", who="bench-auto")
                tally["auto: exclude"] += 1
    catalog.dispose()
    return dict(tally)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "sleeve-expansion-bench"
    )
    ap.add_argument("--seed", type=int, default=0, help="test set / start draw (default 0)")
    ap.add_argument("--copies", type=float, default=0.25, help="share of the start re-served")
    ap.add_argument("--review", type=int, default=100, help="top suspects reviewed (100)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="JSON written here")
    ap.add_argument("--mb-rate", default="20", help="MusicBrainz requests/s (loopback)")
    ap.add_argument(
        "--rescore",
        action="store_true",
        help="only rescore the runs already in --work on the fixed test set (rewrites --results)",
    )
    args = ap.parse_args(argv)
    if not COVERS.is_dir():
        print(f"skipped: {COVERS} is absent (set SLEEVE_BENCH_COVERS)")
        return 0
    if not (CACHE / "catalog" / "catalog.db").is_file() or not (CACHE / "data").is_dir():
        print(f"skipped: {CACHE} has no catalog / embedding cache yet (run benchmarks/text.py)")
        return 0
    started = time.perf_counter()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    group_of = full_groups(work)
    split = plan(group_of, args.seed, args.copies)
    if args.rescore:
        report = json.loads(args.results.read_text())
        for name, stage in report["stages"].items():
            stage["fixed_test"] = score_fixed_test(
                work / "runs" / name, split["test"], work / "data"
            )
        compare(report["stages"], split["test"])
        args.results.write_text(json.dumps(report, indent=2) + "\n")
        print_table(report)
        return 0
    grouping_s = round(time.perf_counter() - t0, 1)
    print(
        f"{split['files']} files, {split['groups']} groups; test {len(split['test'])}, "
        f"start {len(split['start'])} files, served {len(split['served'])} "
        f"({len(split['copied'])} copies of started covers)",
        file=sys.stderr,
        flush=True,
    )

    data = work / "data"
    for sub in ("data", "start", "runs"):
        shutil.rmtree(work / sub, ignore_errors=True)
    emb = data / "cache" / "embeddings"
    emb.mkdir(parents=True)
    shutil.copytree(CACHE / "data" / "cache" / "embeddings" / LITE0, emb / LITE0)
    for p, _ in split["start"]:
        dest = work / "start" / p.parent.name / p.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dest)
    (work / "taxonomy.toml").write_text(TAXONOMY)
    env = {
        **os.environ,
        "SLEEVE_DATA_DIR": str(data),
        "SLEEVE_TAXONOMY": str(work / "taxonomy.toml"),
        "SLEEVE_MB_RATE": args.mb_rate,
        "SLEEVE_COVER_SIZE": "0",
        "SLEEVE_CONTACT": "bench@sleeve.invalid",
    }
    steps = Steps(work, env, work / "commands.log")
    (work / "commands.log").write_text("")
    stages: dict[str, dict] = {}

    steps.cli("collect", "--from-folder", str(work / "start"), "--no-progress")
    export, run = steps.build_and_train("before")
    stages["before"] = {**card_facts(export), **run_metrics(run)}
    stages["before"]["fixed_test"] = score_fixed_test(run, split["test"], data)
    print(f"before: {stages['before']['fixed_test']}", file=sys.stderr, flush=True)

    from sleeve.core.taxonomy import Taxonomy
    from sleeve.fakes.folder_catalogue import folder_catalogue
    from sleeve.fakes.server import FakeServices

    taxonomy = Taxonomy.load(work / "taxonomy.toml")
    harvest: dict[str, str] = {}
    with FakeServices(folder_catalogue(split["served"], args.seed, taxonomy=taxonomy)) as fx:
        urls = fx.env()
        for genre in sorted(set(FOLDERS.values())):
            harvest[genre] = steps.cli(
                "collect", "--genre", genre, "--limit", "5000", "--no-progress", extra_env=urls
            )
    export, run = steps.build_and_train("expanded")
    stages["expanded"] = {**card_facts(export), **run_metrics(run)}
    stages["expanded"]["fixed_test"] = score_fixed_test(run, split["test"], data)
    print(f"expanded: {stages['expanded']['fixed_test']}", file=sys.stderr, flush=True)

    reviewed_run = run
    for policy in ("eye", "auto"):
        tally = decide(work, env, reviewed_run, args.review, policy)
        export, run = steps.build_and_train(f"review-{policy}")
        stages[f"review-{policy}"] = {**card_facts(export), **run_metrics(run), "decisions": tally}
        stages[f"review-{policy}"]["fixed_test"] = score_fixed_test(run, split["test"], data)
        print(
            f"review {policy}: {tally} {stages[f'review-{policy}']['fixed_test']}", file=sys.stderr
        )

    compare(stages, split["test"])
    report = {
        "question": "fixed-test weighted F1 before expansion, after harvesting the rest of the "
        "pool through the loopback catalogues, and after review",
        "recipe": "build-dataset --balance --no-text --attributes off; train-and-evaluate "
        "--method svc (efficientnet_lite0, 224 px)",
        "fixed_test": {
            "covers": len(split["test"]),
            "per_genre": dict(Counter(split["test"].values())),
            "how": "15 % of the single-genre duplicate groups of all shared covers per genre "
            f"(seed {args.seed}); never imported nor served",
        },
        "start_files": len(split["start"]),
        "served_files": len(split["served"]),
        "served_copies_of_started_covers": len(split["copied"]),
        "multi_genre_groups_in_pool": split["multi_genre_groups"],
        "harvest": harvest,
        "review_policies": {
            "eye": "top suspects with a by-eye verdict in label_issues_review.json: mistake/"
            "ambiguous -> exclude, correct/unclear -> keep; others no decision",
            "auto": f"top suspects without a by-eye verdict: relabel to the out-of-fold "
            f"suggestion when its probability >= {AUTO_RELABEL_P}, else exclude (no person)",
            "top": args.review,
        },
        "stages": stages,
        "seconds": {"grouping": grouping_s, **steps.seconds},
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    return 0


def compare(stages: dict, truth: dict[str, str]) -> None:
    """Each stage's gain over the previous ones (paired bootstrap); drops the per-cover lists."""
    names = list(stages)
    for k, name in enumerate(names):
        stages[name]["gain_over"] = {
            prev: paired_bootstrap(
                truth,
                stages[prev]["fixed_test"]["predicted"],
                stages[name]["fixed_test"]["predicted"],
            )
            for prev in names[:k]
        }
    for name in names:
        stages[name]["fixed_test"].pop("predicted", None)


def print_table(report: dict) -> None:
    print(f"fixed test: {report['fixed_test']['covers']} covers; {report['fixed_test']['how']}")
    print(
        f"{'stage':<12} {'train+val':>9} {'fixed test wF1':>15} {'own test wF1':>13} "
        f"{'gain over before (95 %)':>26}  dataset"
    )
    for name, st in report["stages"].items():
        counts = st["counts"]
        gain = st.get("gain_over", {}).get("before")
        cell = (
            f"{gain['mean']:+.3f} ({gain['interval'][0]:+.3f}..{gain['interval'][1]:+.3f})"
            if gain
            else ""
        )
        print(
            f"{name:<12} {counts.get('train', 0) + counts.get('val', 0):>9} "
            f"{st['fixed_test']['weighted_f1']:>15.3f} {st['own_split_test_weighted_f1']:>13.3f} "
            f"{cell:>26}  {st['dataset_id']}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
