"""Local files as untrusted input: links out of an imported folder, huge and special files,
16-bit images and names that carry control characters (issue 11: cases 4, 8, 9, 15, 17)."""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from sleeve.collector.folder_import import import_folder
from sleeve.core.catalog.models import Failure, ReleaseSource
from sleeve.core.cliutil import print_table, printable
from sleeve.core.errors import BadImageError
from sleeve.core.images.intake import open_rgb
from sleeve.core.taxonomy import Taxonomy
from sleeve.dataset.dedup.hashing import hash_image
from sleeve.inference.inputs import read_image_file
from tests.dataset_support import cover, jpeg, write_tree

SECRET = b"SECRET-CONTENT-0123456789 root:x:0:0\n"


# -- 4: folder import stays inside the folder and stores no file bytes -------------------------


def test_security_folder_import_does_not_follow_links_out_of_the_folder(
    sqlite_catalog, settings, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(jpeg(cover(7)))  # a valid image: it would be imported
    (outside / "shadow").write_bytes(SECRET)
    tree = write_tree(tmp_path / "covers", {"Pop": {"a.jpg": jpeg(cover(1))}})
    (tree / "Pop" / "stolen.jpg").symlink_to(outside / "secret.jpg")
    (tree / "Pop" / "shadow.jpg").symlink_to(outside / "shadow")
    (tree / "Pop" / "inside.jpg").symlink_to(tree / "Pop" / "a.jpg")  # stays inside: fine
    (tree / "Jazz").symlink_to(outside, target_is_directory=True)  # a class folder leaving it

    summary = import_folder(sqlite_catalog, settings, Taxonomy.load(), tree, progress=False)

    assert summary.skipped["link-outside-folder"] == 3  # two files and the Jazz folder
    assert summary.mapping == {"Pop": "pop"}  # the linked-out class folder is not a class
    with sqlite_catalog.session() as s:
        ids = set(s.scalars(select(ReleaseSource.external_id)))
        details = list(s.scalars(select(Failure.detail)))
    assert ids == {"Pop/a.jpg", "Pop/inside.jpg"}
    assert not any("SECRET" in (d or "") for d in details)


def test_security_failure_details_never_hold_file_bytes(
    sqlite_catalog, settings, tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "covers", {"Pop": {"a.jpg": jpeg(cover(1)), "b.jpg": SECRET}})
    summary = import_folder(sqlite_catalog, settings, Taxonomy.load(), tree, progress=False)
    assert summary.skipped == {"not-an-image": 1}
    with sqlite_catalog.session() as s:
        [detail] = s.scalars(select(Failure.detail))
    assert "SECRET" not in detail and "root" not in detail


def test_unknown_signature_message_names_no_content() -> None:
    with pytest.raises(BadImageError) as err:
        open_rgb(b"ADMIN-TOKEN=hunter2")
    assert err.value.reason == "not-an-image"
    assert "ADMIN" not in str(err.value) and "hunter" not in str(err.value)


# -- 8: the size is checked before a byte is read --------------------------------------------


def _sparse_png(path: Path, size: int) -> Path:
    """A PNG signature followed by a hole: ``size`` bytes on paper, almost nothing on disk."""
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    os.truncate(path, size)
    return path


def test_folder_import_refuses_a_huge_file_without_reading_it(
    sqlite_catalog, settings, tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "covers", {"Pop": {"a.jpg": jpeg(cover(1))}})
    _sparse_png(tree / "Pop" / "huge.png", 512 * 1024 * 1024)
    tracemalloc.start()
    try:
        summary = import_folder(sqlite_catalog, settings, Taxonomy.load(), tree, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.skipped == {"too-large": 1}
    assert summary.new_releases == 1
    assert peak < 64 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB: the file was read"


def test_paths_are_size_checked_before_reading(tmp_path: Path) -> None:
    from sleeve.core.images.intake import read_image_bytes

    huge = _sparse_png(tmp_path / "huge.png", 2 * 1024**3)  # 2 GiB, sparse
    with pytest.raises(BadImageError) as err:
        read_image_bytes(huge, max_bytes=15 * 1024 * 1024)
    assert err.value.reason == "too-large"
    with pytest.raises(BadImageError) as err:
        open_rgb(huge)  # no explicit cap: the default one still holds
    assert err.value.reason == "too-large"


def test_a_lazily_opened_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    from tests.images import bomb_png

    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(width=12000, height=12000))  # under Pillow's own refusal
    with pytest.warns(Image.DecompressionBombWarning):  # Pillow only warns at this size
        img = Image.open(path)
    with pytest.raises(BadImageError) as err:
        open_rgb(img)
    assert err.value.reason == "bomb"


# -- 9: FIFOs and devices are not files --------------------------------------------------------


@pytest.mark.timeout(10)
def test_a_fifo_is_refused_not_waited_on(tmp_path: Path, settings) -> None:
    fifo = tmp_path / "cover.jpg"
    os.mkfifo(fifo)
    with pytest.raises(BadImageError) as err:
        read_image_file(fifo, settings)
    assert err.value.reason == "not-a-file"


@pytest.mark.timeout(10)
def test_a_device_is_refused(settings) -> None:
    from sleeve.core.images.intake import read_image_bytes

    with pytest.raises(BadImageError) as err:
        read_image_bytes(Path("/dev/zero"), max_bytes=settings.max_image_bytes)
    assert err.value.reason == "not-a-file"


# -- 15: 16-bit images are scaled, not clipped -------------------------------------------------


def _gradients() -> tuple[bytes, bytes]:
    """The same grey gradient as a 16-bit PNG and as its 8-bit version."""
    wide = np.tile(np.linspace(0, 65535, 256).round().astype(np.uint16), (96, 1))
    narrow = ((wide.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    out16, out8 = io.BytesIO(), io.BytesIO()
    Image.fromarray(wide).save(out16, "PNG")
    Image.fromarray(narrow).save(out8, "PNG")
    assert Image.open(io.BytesIO(out16.getvalue())).mode.startswith("I")  # really 16-bit
    return out16.getvalue(), out8.getvalue()


def test_16_bit_grey_converts_like_its_8_bit_version(tmp_path: Path) -> None:
    sixteen, eight = _gradients()
    a = np.asarray(open_rgb(sixteen), dtype=np.int16)
    b = np.asarray(open_rgb(eight), dtype=np.int16)
    assert a.shape == b.shape == (96, 256, 3)
    assert np.abs(a - b).max() <= 1
    # the dataset builder's perceptual hash sees the same picture too
    (tmp_path / "16.png").write_bytes(sixteen)
    (tmp_path / "8.png").write_bytes(eight)
    assert hash_image(tmp_path / "16.png") == hash_image(tmp_path / "8.png")


# -- 17: control characters never reach the terminal raw -------------------------------------


def test_security_printable_escapes_control_characters() -> None:
    assert printable("a.jpg\nrock 0.999") == "a.jpg\\nrock 0.999"
    assert printable("\x1b[2Jx\u202ey\r") == "\\x1b[2Jx\\u202ey\\r"
    assert printable("Ça va: Sigur Rós\u3000ok") == "Ça va: Sigur Rós\u3000ok"


def test_security_print_table_escapes_keys_and_values(capsys: pytest.CaptureFixture[str]) -> None:
    print_table([("new in x\nforged", 1), ("note", "a\rb")], "title\x1b[2J")
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 3
    assert "\x1b" not in out and "\r" not in out


def test_security_folder_import_report_escapes_names(
    sqlite_catalog, settings, tmp_path: Path
) -> None:
    tree = write_tree(tmp_path / "covers", {"Rock\nforged": {"a.jpg": jpeg(cover(1))}})
    summary = import_folder(
        sqlite_catalog, settings, Taxonomy.load(), tree, {"Rock\nforged": "rock"}, progress=False
    )
    report = summary.report()
    assert "Rock\\nforged=rock" in report
    assert not any(line.startswith("forged") for line in report.splitlines())


def test_security_command_errors_escape_control_characters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sleeve.core.cliutil import run_command
    from sleeve.core.errors import UsageError

    def body() -> int:
        raise UsageError("--from-folder /tmp/x\nerror: forged: no such directory")

    assert run_command(body) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "x\\nerror: forged" in err


def test_security_decoder_messages_lose_quoted_file_content() -> None:
    from sleeve.core.images.intake import _without_bytes

    assert _without_bytes("broken PNG file (chunk b'ADMI')") == "broken PNG file (chunk <bytes>)"
    assert "SECRET" not in _without_bytes("""bad b"SEC\\"RET" and b'x'""")
