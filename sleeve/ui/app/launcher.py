"""Start the Streamlit app in a child process (what `sleeve app` runs)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sleeve.core.errors import UsageError
from sleeve.core.procs import die_with_parent
from sleeve.core.settings import Settings

APP_FILE = Path(__file__).with_name("main.py")


def upload_cap_mb(settings: Settings) -> int:
    """The intake's byte cap (``SLEEVE_MAX_IMAGE_BYTES``) in Streamlit's upload unit (MiB),
    rounded up: an upload the intake would accept is never cut off, and a larger one is
    refused by Streamlit before it is held in the server's memory."""
    return max(1, -(-settings.max_image_bytes // 2**20))


def app_command(
    port: int, headless: bool, *, settings: Settings, address: str = "127.0.0.1"
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_FILE),
        "--server.headless",
        "true" if headless else "false",
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",  # no "Deploy" button: this is a local tool
        # no file watcher: the installed app does not change while it runs
        "--server.fileWatcherType",
        "none",
        # Streamlit holds an upload in memory before the page sees it: cap it at the intake's
        "--server.maxUploadSize",
        str(upload_cap_mb(settings)),
    ]


def app_environment(settings: Settings) -> dict[str, str]:
    """The child re-reads settings itself; pass on the ones the caller may have overridden."""
    env = dict(os.environ)
    env["SLEEVE_DATA_DIR"] = str(settings.data_dir.expanduser().resolve())
    if settings.database_url:
        env["SLEEVE_DATABASE_URL"] = settings.database_url
    if settings.taxonomy_path is not None:
        env["SLEEVE_TAXONOMY"] = str(settings.taxonomy_path)
    return env


def run_app(settings: Settings, port: int = 8501, headless: bool = True) -> int:
    """Run ``streamlit run sleeve/ui/app/main.py`` until it exits or is stopped; its exit status."""
    if importlib.util.find_spec("streamlit") is None:
        raise UsageError("the app needs Streamlit: pip install 'sleeve[app]'")
    if not 0 < port < 65536:
        raise UsageError(f"--port must be between 1 and 65535 (got {port})")
    return run_child(app_command(port, headless, settings=settings), app_environment(settings))


# What stops the launcher stops the app: a service manager's SIGTERM, Ctrl-C, a closed terminal.
FORWARDED = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name)
)
STOP_GRACE_SECONDS = 10.0


def run_child(command: list[str], env: dict[str, str]) -> int:
    """Run ``command`` until it exits; stop signals sent to this process are passed on to it.

    The child gets its own process group, so a Ctrl-C in the terminal reaches it once, through
    us, rather than twice. It is stopped with SIGTERM if we die without a word (``kill -9``),
    and killed if it ignores a forwarded signal for ``STOP_GRACE_SECONDS``. Returns its status,
    or 128 + the signal that stopped it (130 for Ctrl-C, 143 for SIGTERM).
    """
    parent = os.getpid()
    proc = subprocess.Popen(
        command,
        env=env,
        process_group=0 if os.name == "posix" else None,
        # Linux only: the fallback elsewhere is a thread, which cannot live between fork and exec
        preexec_fn=(
            (lambda: die_with_parent(parent, signal.SIGTERM)) if sys.platform == "linux" else None
        ),
    )
    received: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        if proc.poll() is None:
            proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        deadline: float | None = None
        while True:
            try:
                code = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if received and deadline is None:
                    deadline = time.monotonic() + STOP_GRACE_SECONDS
                if deadline is not None and time.monotonic() > deadline:
                    proc.kill()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        return 128 + received[0]
    return code if code >= 0 else 128 - code
