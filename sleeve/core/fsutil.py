"""File-system helpers shared by everything that writes files atomically.

``tempfile.mkstemp``/``mkdtemp`` create ``0600``/``0700`` entries (right for a file being
written, wrong for the final one): a temporary that is renamed into place keeps that mode, so a
shared store or export would be unreadable to the group. :func:`widen_to_umask` gives it the
mode an ordinary ``open``/``mkdir`` would have. :func:`sweep_stale` removes temporaries left by
killed processes, recognised by the owner's pid that :func:`temp_prefix` puts in their name.
:func:`atomic_path` / :func:`atomic_write` are the one write-to-temp-then-rename in the project:
a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_UMASK_LOCK = threading.Lock()
# A temporary whose owner cannot be told (an old name without a pid) is stale after this long:
# every writer here touches its temporary far more often than that while it works.
STALE_AFTER_S = 15 * 60
# One whose owner pid is alive is still removed after a day: the pid has been reused.
REUSED_PID_AFTER_S = 24 * 3600


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (threads are running)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # elsewhere: set and restore at once (racy only against other umask calls)
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def widen_to_umask(target: Path | str | int, *, directory: bool = False) -> None:
    """Give a path (or an open file descriptor) the mode ``open``/``mkdir`` would have given it."""
    mode = (0o777 if directory else 0o666) & ~current_umask()
    if isinstance(target, int):
        os.fchmod(target, mode)
    else:
        os.chmod(target, mode)


def temp_prefix(stem: str) -> str:
    """``<stem><pid>-``: the owner's pid in a temporary's name tells a live one from a stale one."""
    return f"{stem}{os.getpid()}-"


@contextmanager
def atomic_path(
    final: Path | str, *, prefix: str | None = None, suffix: str = "", fsync: bool = False
) -> Iterator[Path]:
    """A fresh temporary path beside ``final`` to write to; renamed onto ``final`` when the block
    ends, removed if it raises. ``suffix`` keeps an extension a writer insists on (``np.save``
    appends ``.npy`` otherwise); the name holds the owner's pid (:func:`temp_prefix`), so
    :func:`sweep_stale` can tell a killed writer's leftover from a live one's.
    """
    final = Path(final)
    stem = prefix if prefix is not None else f".{final.name}.tmp-"
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=temp_prefix(stem), suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        widen_to_umask(tmp)  # mkstemp's 0600 would stay on the final file
        if fsync:
            with tmp.open("rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(
    final: Path | str,
    data: bytes | str,
    *,
    prefix: str | None = None,
    suffix: str = "",
    fsync: bool = False,
) -> None:
    """Write ``data`` (str as UTF-8) to ``final`` through :func:`atomic_path`."""
    with atomic_path(final, prefix=prefix, suffix=suffix, fsync=fsync) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (this one counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def is_stale(path: Path, marker: str, now: float | None = None) -> bool:
    """True when ``path`` (named ``...<marker><pid>-...``, or older names without a pid) was
    left behind: its owner process is gone, or it has no pid and is older than
    ``STALE_AFTER_S``, or it is older than ``REUSED_PID_AFTER_S``. Pids are only meaningful on
    this host: a data dir shared between hosts relies on the age rules.
    """
    try:
        age = (now or time.time()) - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    match = re.match(r"(\d+)(?:-|$)", path.name.rsplit(marker, 1)[-1])
    if match is None:
        return age > STALE_AFTER_S
    return not pid_alive(int(match.group(1))) or age > REUSED_PID_AFTER_S


def sweep_stale(paths: list[Path], marker: str) -> int:
    """Remove the stale temporaries among ``paths`` (files or trees); returns how many."""
    removed = 0
    for path in paths:
        if not is_stale(path, marker):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed


def write_pointer(pointer_dir: Path, target: Path) -> Path:
    """Point ``<pointer_dir>/LATEST`` at ``target`` (its absolute path), written atomically."""
    pointer_dir.mkdir(parents=True, exist_ok=True)
    latest = pointer_dir / "LATEST"
    atomic_write(latest, str(Path(target).resolve()) + "\n", prefix=".LATEST-")
    return latest


def read_pointer(pointer_dir: Path) -> Path | None:
    """The path a ``<pointer_dir>/LATEST`` file names (relative paths are tried against the
    pointer's folder, then the working directory), or None when there is no pointer."""
    pointer = pointer_dir / "LATEST"
    try:
        text = pointer.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not text:
        return None
    target = Path(text).expanduser()
    if not target.is_absolute() and not target.exists() and (pointer_dir / target).exists():
        target = pointer_dir / target
    return target
