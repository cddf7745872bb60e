"""Which engine a command runs its per-cover work on: ``--engine local|ray``.

Apart from sleeve/core/engine.py so that the seam imports no engine of its own, and the Ray
engine (which implements the seam) imports nothing that imports it back.
"""

from __future__ import annotations

import argparse
import os

from sleeve.core.engine import Engine, LocalEngine
from sleeve.core.engine_ray import RayEngine
from sleeve.core.errors import ConfigError, UsageError
from sleeve.core.settings import Settings

ENGINES = ("local", "ray")


def engine_from_settings(
    settings: Settings, name: str = "local", workers: int | None = None
) -> Engine:
    """The engine ``--engine NAME`` asks for: ``local`` (this machine, ``workers`` processes,
    default one per core) or ``ray`` (the cluster at ``SLEEVE_RAY_ADDRESS``)."""
    if name == "local":
        return LocalEngine(workers or os.cpu_count() or 1)
    if name == "ray":
        if not settings.ray_address:
            raise ConfigError(
                "--engine ray needs SLEEVE_RAY_ADDRESS (ray://HOST:10001, HOST:PORT or auto)"
            )
        return RayEngine(settings.ray_address)
    raise UsageError(f"--engine {name!r}: choose one of {', '.join(ENGINES)}")


def add_engine_option(p: argparse.ArgumentParser) -> None:
    """``--engine local|ray``, the same on every command with per-cover work."""
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="where per-cover work runs: local (this machine's cores, default) or ray (the "
        "cluster at SLEEVE_RAY_ADDRESS; pip install 'sleeve[ray]'; see docs/scale.md)",
    )
