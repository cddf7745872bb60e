"""Generated test images (no real cover art in the repository)."""

from __future__ import annotations

import io

from PIL import Image

from sleeve.fakes.faults import bomb_png  # one generator of bombs: the fakes'

__all__ = ["bomb_png", "dead_pid", "jpeg", "png"]


def jpeg(color: tuple[int, int, int] = (200, 30, 30), size: int = 128, quality: int = 90) -> bytes:
    img = Image.new("RGB", (size, size), color)
    for i in range(0, size, 8):  # some structure so re-encodes differ from the original
        img.paste((color[2], color[0], color[1]), (i, i, i + 4, i + 4))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(mode: str = "RGBA", size: int = 96) -> bytes:
    fill = {"RGBA": (10, 200, 10, 128), "L": 128, "LA": (128, 100), "P": 3}[mode]
    buf = io.BytesIO()
    Image.new(mode, (size, size), fill).save(buf, "PNG")
    return buf.getvalue()


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped): its temporaries are stale."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
