import io
from pathlib import Path

import pytest
from PIL import Image

from sleeve.core.errors import BadImageError
from sleeve.core.images.intake import inspect_image, open_rgb
from sleeve.core.images.store import ImageStore
from tests.images import bomb_png, dead_pid, jpeg, png


def _broken_png() -> bytes:
    data = bytearray(png("L"))
    data[60:80] = b"\x00" * 20  # zero out part of the compressed stream
    return bytes(data)


def test_a_good_jpeg_is_described() -> None:
    data = jpeg()
    info = inspect_image(data)
    assert (info.width, info.height, info.format, info.ext) == (128, 128, "JPEG", "jpg")
    assert info.size_bytes == len(data) and len(info.sha256) == 64


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<!DOCTYPE html><html><body>Not Found</body></html>", "html"),
        (b'{"error": "Not Found"}', "json"),
        (b"", "empty"),
        (b"GIF8" + b"\x00" * 20, "not-an-image"),
        (jpeg()[:300], "truncated"),
        (b"\xff\xd8\xff\xe0" + b"garbage" * 50, "truncated"),  # a header, then nothing usable
        (_broken_png(), "corrupt"),
        (bomb_png(), "bomb"),
        (jpeg(size=16), "too-small"),
    ],
)
def test_bad_bytes_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(BadImageError) as err:
        inspect_image(data)
    assert err.value.reason == reason


def test_size_cap_is_checked_first() -> None:
    with pytest.raises(BadImageError, match="too-large"):
        inspect_image(jpeg(), max_bytes=100)


@pytest.mark.parametrize("mode", ["RGBA", "L", "LA", "P"])
def test_open_rgb_converts_rather_than_rejects(mode: str) -> None:
    img = open_rgb(png(mode))
    assert img.mode == "RGB" and img.size == (96, 96)


def test_open_rgb_flattens_alpha_on_white_and_takes_first_frame() -> None:
    frames = [Image.new("RGB", (80, 80), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    assert open_rgb(buf.getvalue()).getpixel((5, 5)) == (255, 0, 0)
    transparent = io.BytesIO()
    Image.new("RGBA", (80, 80), (0, 0, 0, 0)).save(transparent, "PNG")
    assert open_rgb(transparent.getvalue()).getpixel((5, 5)) == (255, 255, 255)
    cmyk = io.BytesIO()
    Image.new("CMYK", (80, 80), (0, 255, 255, 0)).save(cmyk, "JPEG")
    assert open_rgb(cmyk.getvalue()).mode == "RGB"


def test_open_rgb_on_a_missing_path_is_typed(tmp_path: Path) -> None:
    with pytest.raises(BadImageError, match="missing-file"):
        open_rgb(tmp_path / "nope.jpg")


def test_store_is_content_addressed_atomic_and_verifiable(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    data = jpeg()
    info = inspect_image(data)
    rel = store.put(data, info)
    assert rel == f"images/{info.sha256[:2]}/{info.sha256}.jpg"
    assert store.put(data, info) == rel  # idempotent
    assert store.verify(rel, info.sha256)
    assert not list((tmp_path / "images").rglob("*.part"))
    (tmp_path / rel).write_bytes(data[:-10])
    assert not store.verify(rel, info.sha256)
    leftover = tmp_path / "images" / info.sha256[:2] / f".tmp-{dead_pid()}-x.part"
    leftover.write_bytes(b"half")
    assert store.sweep_temporaries() == 1 and not leftover.exists()
