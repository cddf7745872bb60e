"""Start the Streamlit app in a child process (what `sleeve app` runs)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from sleeve.errors import UsageError
from sleeve.settings import Settings

APP_FILE = Path(__file__).with_name("main.py")


def app_command(port: int, headless: bool, address: str = "127.0.0.1") -> list[str]:
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
    """Run ``streamlit run sleeve/app/main.py`` until it exits or Ctrl-C; its exit status."""
    if importlib.util.find_spec("streamlit") is None:
        raise UsageError("the app needs Streamlit: pip install 'sleeve[app]'")
    if not 0 < port < 65536:
        raise UsageError(f"--port must be between 1 and 65535 (got {port})")
    proc = subprocess.Popen(app_command(port, headless), env=app_environment(settings))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # Ctrl-C reaches the child too; give it a moment to shut its server down cleanly.
        try:
            return proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait()
        raise
