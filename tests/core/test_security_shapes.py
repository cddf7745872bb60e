"""Hostile image shapes (issue 21, cases 1, 4 and 5): tiny PNGs whose header declares a strip
of 20000x1 to 49,000,000x1 px, or 780000x64 (within the pixel cap). Every reader of images
refuses them from the header with the one reason ``bad-shape``, before a pixel is decoded, so
neither memory nor an engine's own limits are ever reached.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sleeve.core.errors import BadImageError
from sleeve.core.images.intake import (
    DEFAULT_MAX_ASPECT,
    DEFAULT_MAX_SIDE,
    inspect_image,
    open_rgb,
)
from sleeve.core.vision.augment import LimitAspect
from sleeve.core.vision.backbones import eval_transform
from sleeve.core.vision.samples import Sample, decode, drop_unreadable
from sleeve.dataset.attributes.decode import load_view, view_of
from sleeve.dataset.attributes.texture import compute as texture
from sleeve.dataset.dedup.geometry import verify_pairs
from sleeve.dataset.dedup.hashing import hash_files
from tests.conftest import fast_settings
from tests.images import bomb_png
from tests.predict_support import jpeg_bytes, shared_tiny_export, shared_tiny_run

# (width, height): the shapes the issue measured, each a PNG of a few hundred bytes to 145 KB
HOSTILE = [(20000, 1), (100000, 1), (49_000_000, 1), (780000, 64)]
_IDS = [f"{w}x{h}" for w, h in HOSTILE]


@pytest.fixture(scope="module")
def strips(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, int], Path]:
    folder = tmp_path_factory.mktemp("strips")
    out = {}
    for w, h in HOSTILE:
        out[(w, h)] = folder / f"strip-{w}x{h}.png"
        out[(w, h)].write_bytes(bomb_png(width=w, height=h))
    return out


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared_tiny_export(tmp_path_factory)
    return shared_tiny_run(tmp_path_factory)


def _refused(read: Callable[[], object]) -> str:
    with pytest.raises(BadImageError) as err:
        read()
    assert "\n" not in str(err.value)
    return err.value.reason


@pytest.mark.parametrize("shape", HOSTILE, ids=_IDS)
def test_security_every_image_reader_refuses_a_hostile_shape_from_its_header(
    strips: dict[tuple[int, int], Path], shape: tuple[int, int]
) -> None:
    path = strips[shape]
    data = path.read_bytes()
    assert len(data) < 200_000  # tiny files: the danger is what they declare
    sample = Sample(path, "0" * 64, "rock", "train", 0)
    readers: dict[str, Callable[[], object]] = {
        "intake": lambda: inspect_image(data, min_side=1),
        "open_rgb bytes": lambda: open_rgb(data),
        "open_rgb path": lambda: open_rgb(path),
        "training decode": lambda: decode(path, 224),
        "attributes": lambda: load_view(path),
    }
    for name, read in readers.items():
        assert _refused(read) == "bad-shape", name
    assert drop_unreadable([sample])[1] == {"bad-shape": 1}
    assert hash_files([path], workers=1, progress=False) == [(None, "bad-shape")]
    hostile = ("0" * 64, str(path))
    assert verify_pairs([(0, 1)], [hostile, hostile])[(0, 1)].inliers == 0


@pytest.mark.parametrize("shape", HOSTILE, ids=_IDS)
def test_security_ocr_counts_a_hostile_shape_as_a_failure(
    strips: dict[tuple[int, int], Path], shape: tuple[int, int]
) -> None:
    from sleeve.dataset.text.ocr import _read_job

    assert _read_job(str(strips[shape])) == (None, "bad-shape")


class _FailingEngine:
    """The engine failing on a cover as rapidocr does on a strip it cannot resize."""

    def __call__(self, image: np.ndarray) -> object:
        from rapidocr_onnxruntime.utils.process_img import ResizeImgError

        raise ResizeImgError()


def test_ocr_counts_every_engine_error_as_a_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sleeve.dataset.text import ocr

    cover = tmp_path / "cover.jpg"
    cover.write_bytes(jpeg_bytes("jazz", 4))
    monkeypatch.setattr(ocr, "_engine", _FailingEngine())
    assert (
        list(ocr.read_files([cover, cover], workers=1, progress=False))
        == [(None, "ocr-engine-error")] * 2
    )


def test_security_the_shape_rule_states_its_limits() -> None:
    wide, tall = (DEFAULT_MAX_ASPECT * 100, 100), (100, DEFAULT_MAX_ASPECT * 100 + 1)
    assert open_rgb(Image.new("RGB", wide)).size == wide  # the limit itself is a cover
    assert _refused(lambda: open_rgb(Image.new("RGB", tall))) == "bad-shape"
    side = DEFAULT_MAX_SIDE + 1
    assert _refused(lambda: inspect_image(bomb_png(side, side // 4), min_side=1)) in {
        "bad-shape",
        "bomb",
    }
    assert _refused(lambda: inspect_image(bomb_png(side, 2000), min_side=1)) == "bad-shape"


def test_security_python_api_and_app_loader_refuse_hostile_shapes(
    tiny_run: Path, strips: dict[tuple[int, int], Path]
) -> None:
    from sleeve.inference.predict import load_classifier

    classifier = load_classifier(tiny_run, fast_settings(tiny_run))
    path = strips[(20000, 1)]
    for source in (
        path,
        str(path),
        path.read_bytes(),
        Image.new("L", (20000, 1)),
        np.zeros((1, 20000), np.uint8),
        np.zeros((100000, 1, 3), np.uint8),
    ):
        assert _refused(lambda s=source: classifier.predict(s)) == "bad-shape"


def test_security_transforms_bound_an_extreme_aspect() -> None:
    """A picture within the shape rule, or one handed straight to a transform, still becomes a
    bounded tensor: the long side is cropped to the aspect limit before the resize."""
    transform = eval_transform(64, (0.5, 0.5, 0.5), (0.2, 0.2, 0.2))
    for size in [(DEFAULT_MAX_ASPECT * 70, 70), (20000, 1), (1, 5000)]:
        assert transform(Image.new("RGB", size)).shape == (3, 64, 64)
    w, h = LimitAspect()(Image.new("RGB", (20000, 3))).size
    assert (w, h) == (DEFAULT_MAX_ASPECT * 3, 3)


@pytest.mark.parametrize("shape", [(DEFAULT_MAX_ASPECT * 64, 64), (4000, 64), (96, 96)])
def test_texture_features_of_narrow_and_flat_covers_are_finite(shape: tuple[int, int]) -> None:
    """The narrowest cover the rule admits, a thinner one handed to the extractor directly
    (its 256-px view is 4 px high) and a flat one: finite values, no divide warning."""
    for img in (Image.new("RGB", shape, (90, 20, 20)), Image.new("RGB", shape, (250, 250, 250))):
        img.paste((10, 10, 200), (0, 0, shape[0] // 3, shape[1] // 2))
        flat = Image.new("RGB", shape, (90, 20, 20))
        for cover in (img, flat):
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a divide warning fails the test
                values = texture(view_of(cover))
            assert all(np.isfinite(float(v)) for v in values.values()), (shape, values)


# -- memory: the command, measured in a child process ------------------------------------------

_PEAK = """
import json, resource, subprocess, sys
out = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, the child's peak
print(json.dumps([out.returncode, peak // 1024, out.stdout, out.stderr]))
"""


def peak_rss_mb(argv: list[str]) -> tuple[int, int, str, str]:
    """(exit code, peak resident MiB, stdout, stderr) of ``argv`` run under a fresh parent."""
    out = subprocess.run([sys.executable, "-c", _PEAK, *argv], capture_output=True, text=True)
    code, peak, stdout, stderr = json.loads(out.stdout)
    return code, peak, stdout, stderr


# headroom over a normal cover's run: allocator noise, not a decoded strip (20000x1 was 6.2 GB)
PEAK_HEADROOM_MB = 150


@pytest.mark.timeout(600)  # two runs of the command, each loading torch and the model
def test_security_predict_refuses_hostile_shapes_within_bounded_memory(
    tiny_run: Path, strips: dict[tuple[int, int], Path], tmp_path: Path
) -> None:
    cover = tmp_path / "cover.jpg"
    cover.write_bytes(jpeg_bytes("jazz", 3))
    sleeve = [sys.executable, "-m", "sleeve.ui.cli", "predict", "--model", str(tiny_run)]
    code, baseline, _, _ = peak_rss_mb([*sleeve, str(cover), "--no-progress"])
    assert code == 0
    hostile = [str(p) for p in strips.values()]
    code, peak, stdout, stderr = peak_rss_mb([*sleeve, *hostile, "--no-progress"])
    assert code == 1 and "Traceback" not in stderr
    assert stdout.count("bad-shape") == len(hostile)
    assert peak <= baseline + PEAK_HEADROOM_MB, (peak, baseline)


# -- 5: a strip stored before the shape rule existed ---------------------------------------------


def test_a_strip_already_in_the_catalog_is_skipped_by_every_build_stage(
    sqlite_catalog, settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A 780000x64 PNG imported before the rule (it passed the pixel cap) made OCR raise and
    every build fail; now hashing, OCR, attributes and the export count it and go on."""
    import hashlib

    from sleeve.collector import records
    from sleeve.collector.records import Evidence
    from sleeve.core.images.intake import ImageInfo
    from sleeve.core.images.store import ImageStore
    from sleeve.core.taxonomy import Taxonomy
    from sleeve.dataset.build import build_dataset
    from tests.dataset_support import add_release, cover, jpeg

    tax = Taxonomy.load()
    for i in range(16):
        tag = "hip hop" if i % 2 else "pop"
        image = jpeg(cover(300 + i))
        add_release(
            sqlite_catalog, settings, tax, key=f"r{i}", artist=f"A{i}", image=image,
            evidence=[Evidence("rg-genre", tag)],
        )  # fmt: skip
    strip = bomb_png(780000, 64)
    info = ImageInfo(hashlib.sha256(strip).hexdigest(), 780000, 64, "PNG", len(strip))
    with sqlite_catalog.session() as s:
        release, _ = records.upsert_release(
            s, source="musicbrainz", ids={"release-group": "strip"}, title="Strip", artist=None,
            merge_across_sources=False,
        )  # fmt: skip
        records.add_evidence(s, release, "musicbrainz", [Evidence("rg-genre", "pop")], tax)
        records.attach_cover(
            s, ImageStore(settings.data_dir), release, strip, info, source="musicbrainz",
            source_url="http://example.invalid/strip",
        )  # fmt: skip
    out = tmp_path / "ds"
    # every stage that reads the file; the strip never reaches an extractor (refused when the
    # pass opens it), so the cheap three stand for all five without loading two networks
    result = build_dataset(
        sqlite_catalog, settings, tax, out=out, progress=False, read_text=True,
        attributes="colour,texture,structure",
    )  # fmt: skip
    assert result.card.skipped == {"unhashable:bad-shape": 1}
    assert info.sha256 not in (out / "manifest.csv").read_text()
