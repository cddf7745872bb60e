"""Every setting in one place, read from the environment and an optional ``.env`` file.

Components never read the environment themselves: commands call :func:`load_settings` once and
pass the resulting :class:`Settings` (or plain values from it) down. Environment variables win
over ``.env``; ``.env.example`` documents each one.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from dotenv import dotenv_values

from sleeve.core.errors import ConfigError
from sleeve.core.vision.runtime import ENGINES as INFERENCE_ENGINES


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./sleeve-data")
    database_url: str = ""  # empty = SQLite file catalog.db inside data_dir
    taxonomy_path: Path | None = None  # a TOML file that extends/overrides the shipped taxonomy

    musicbrainz_url: str = "https://musicbrainz.org/ws/2"
    coverart_url: str = "https://coverartarchive.org"
    contact: str = "https://github.com/sleeve-project/sleeve"
    # MusicBrainz allows 1 request/s per IP on average (its Rate_Limiting page); the limiter is
    # process-wide and shared by every thread.
    mb_rate: float = 1.0
    cover_size: int = 500  # Cover Art Archive thumbnail: 250, 500 or 1200; 0 = original
    download_workers: int = 4  # concurrent cover downloads (CAA publishes no limit; be modest)

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    # One attempt's whole time, connect to last body byte: a trickling body is cut here (and
    # retried once), not after minutes. 30 s is ample for a 500 px cover.
    request_deadline: float = 30.0
    # predict/app/API URLs may point at loopback, link-local or private addresses (local use).
    allow_private_urls: bool = False
    max_json_bytes: int = 5 * 1024 * 1024
    max_image_bytes: int = 15 * 1024 * 1024
    max_retries: int = 5
    backoff_base: float = 1.0  # seconds: first retry waits about this long, then doubles
    backoff_cap: float = 60.0  # seconds: no single computed backoff sleep is longer
    # A service's Retry-After is honoured up to this; longer = stop cleanly and resume later.
    retry_after_cap: float = 300.0

    spotify_api_url: str = "https://api.spotify.com/v1"
    spotify_token_url: str = "https://accounts.spotify.com/api/token"
    spotify_client_id: str = ""
    spotify_client_secret: Secret = field(default_factory=lambda: Secret(""))
    # Spotify has been seen answering Retry-After of ~22 h: wait at most this long, then stop
    # the source cleanly with its resume point saved.
    spotify_retry_after_cap: float = 300.0
    spotify_image_max: int = 640
    # Covers on object storage: an fsspec URL (s3://bucket/prefix); empty = <data_dir>/images.
    # Credentials come from the backend's own chain (AWS_* variables, ~/.aws), never from here.
    store_url: str = ""
    store_endpoint: str = ""  # an S3-protocol server other than AWS (MinIO, a loopback test)
    # build-dataset's second duplicate stage (embedding candidates + geometric check)
    visual_dedup: bool = True
    # the attribute groups build-dataset computes and exports (its --attributes): on (every
    # group), off, or a list such as colour,texture,structure (the cheap build)
    build_attributes: str = "on"
    # how networks run on CPU: auto (the engine measured fastest here), onnxruntime or torch
    # (sleeve.core.vision.runtime; docs/performance.md)
    inference: str = "auto"
    # what runs the OCR's ONNX models: auto (OpenVINO when installed, else ONNX Runtime),
    # onnxruntime or openvino (sleeve.dataset.text.ocr_runtime; docs/performance.md)
    ocr_runtime: str = "auto"
    # the Ray cluster `--engine ray` runs per-cover stages on: ray://HOST:PORT (Ray Client),
    # HOST:PORT (the head's GCS) or auto (the cluster this machine belongs to)
    ray_address: str = ""

    def __post_init__(self) -> None:
        check_settings(self)  # every construction, from the environment or replace()

    @property
    def catalog_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'catalog.db').resolve()}"

    @property
    def user_agent(self) -> str:
        from sleeve.core import __version__

        return f"sleeve/{__version__} ( {self.contact} )"

    @property
    def datasets_dir(self) -> Path:
        return self.data_dir / "datasets"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    def public_dict(self) -> dict[str, object]:
        """Resolved settings safe to store or print: every value passes through :func:`redact`."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = redact(value)
        return out


_MASK = "***"
# query parameters that carry credentials in database/service URLs (libpq, SQLAlchemy, S3-style)
_SECRET_PARAMS = re.compile(r"pass|secret|token|key|sig|credential", re.IGNORECASE)


def redact(value: object) -> object:
    """The one redaction applied to every setting that is stored, printed or logged.

    ``Secret`` values become ``***``; a URL keeps its scheme, user, host and path but its
    password and credential-like query parameters become ``***``
    (``postgresql://ann:***@db/sleeve``); paths become strings; anything else is unchanged.
    """
    if isinstance(value, Secret):
        return _MASK if value else ""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    return value


def redact_url(url: str) -> str:
    """``url`` with its password and credential-like query values masked."""
    try:
        parts = urlparse(url)
        password = parts.password
    except ValueError:  # unparseable (e.g. a bad port): keep nothing after the scheme
        return url.split("://", 1)[0] + "://" + _MASK
    netloc = parts.netloc
    if password is not None or "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{_MASK}@{host}" if password is not None else netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [(k, _MASK if _SECRET_PARAMS.search(k) else v) for k, v in pairs]
        query = urlencode(masked, safe="*")
    if netloc == parts.netloc and query == parts.query:
        return url  # nothing to mask: keep it byte for byte (urlunparse drops sqlite's ////)
    return urlunparse(parts._replace(netloc=netloc, query=query))


# variable name -> (field name, parser)
_VARS: dict[str, str] = {
    "SLEEVE_DATA_DIR": "data_dir",
    "SLEEVE_DATABASE_URL": "database_url",
    "SLEEVE_TAXONOMY": "taxonomy_path",
    "MUSICBRAINZ_URL": "musicbrainz_url",
    "COVERART_URL": "coverart_url",
    "SLEEVE_CONTACT": "contact",
    "SLEEVE_MB_RATE": "mb_rate",
    "SLEEVE_COVER_SIZE": "cover_size",
    "SLEEVE_DOWNLOAD_WORKERS": "download_workers",
    "SLEEVE_CONNECT_TIMEOUT": "connect_timeout",
    "SLEEVE_READ_TIMEOUT": "read_timeout",
    "SLEEVE_REQUEST_DEADLINE": "request_deadline",
    "SLEEVE_ALLOW_PRIVATE_URLS": "allow_private_urls",
    "SLEEVE_MAX_IMAGE_BYTES": "max_image_bytes",
    "SLEEVE_MAX_RETRIES": "max_retries",
    "SLEEVE_BACKOFF_BASE": "backoff_base",
    "SLEEVE_BACKOFF_CAP": "backoff_cap",
    "SLEEVE_RETRY_AFTER_CAP": "retry_after_cap",
    "SPOTIFY_API_URL": "spotify_api_url",
    "SPOTIFY_TOKEN_URL": "spotify_token_url",
    "SPOTIPY_CLIENT_ID": "spotify_client_id",
    "SPOTIPY_CLIENT_SECRET": "spotify_client_secret",
    "SPOTIFY_RETRY_AFTER_CAP": "spotify_retry_after_cap",
    "SPOTIFY_IMAGE_MAX": "spotify_image_max",
    "SLEEVE_VISUAL_DEDUP": "visual_dedup",
    "SLEEVE_BUILD_ATTRIBUTES": "build_attributes",
    "SLEEVE_INFERENCE": "inference",
    "SLEEVE_OCR_RUNTIME": "ocr_runtime",
    "SLEEVE_RAY_ADDRESS": "ray_address",
    "SLEEVE_STORE_URL": "store_url",
    "SLEEVE_STORE_ENDPOINT": "store_endpoint",
}

_URL_FIELDS = {
    "musicbrainz_url",
    "coverart_url",
    "spotify_api_url",
    "spotify_token_url",
    "store_endpoint",
}


def normalise_database_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (the driver we install), not psycopg2."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


_DAY = 86_400.0
# field -> (lowest, highest, whether the lowest itself is allowed). Zero is refused where it
# would switch a guard off: a rate of 0 or NaN turned MusicBrainz pacing off, a timeout of 0
# fails every request.
_LIMITS: dict[str, tuple[float, float, bool]] = {
    "mb_rate": (0.0, 1000.0, False),  # requests/s; MusicBrainz asks for 1, fakes go faster
    "download_workers": (1, 64, True),
    "connect_timeout": (0.0, 600.0, False),
    "read_timeout": (0.0, 3600.0, False),
    "request_deadline": (0.0, 3600.0, False),
    "max_json_bytes": (1024, 2**31, True),
    "max_image_bytes": (1024, 2**31, True),
    "max_retries": (0, 100, True),
    "backoff_base": (0.0, 3600.0, True),
    "backoff_cap": (0.0, _DAY, True),
    "retry_after_cap": (0.0, 7 * _DAY, True),
    "spotify_retry_after_cap": (0.0, 7 * _DAY, True),
    "spotify_image_max": (1, 10_000, True),
}
# field -> the only values it takes
# what may run the OCR's ONNX models (sleeve.dataset.text.ocr_runtime)
OCR_RUNTIMES = ("auto", "onnxruntime", "openvino")
_CHOICES: dict[str, tuple[object, ...]] = {
    "cover_size": (0, 250, 500, 1200),
    "inference": INFERENCE_ENGINES,
    "ocr_runtime": OCR_RUNTIMES,
}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
# the catalogs sleeve can keep (SQLAlchemy dialect names, before the "+driver")
DATABASE_DIALECTS = ("sqlite", "postgresql")


def _variable(field_name: str) -> str:
    return next((var for var, f in _VARS.items() if f == field_name), field_name)


def check_settings(settings: Settings) -> None:
    """The one check of every setting's value: finite, in range, one of the allowed values.
    Raises ConfigError naming the environment variable to fix (exit 2)."""
    for field_name, (lo, hi, lo_ok) in _LIMITS.items():
        value = getattr(settings, field_name)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and math.isfinite(value) and (lo <= value if lo_ok else lo < value) and value <= hi
        if not ok:
            low = f">= {lo:g}" if lo_ok else f"> {lo:g}"
            raise ConfigError(
                f"{_variable(field_name)}={value!r} is out of range: a finite number {low} and "
                f"<= {hi:g}"
            )
    for field_name, choices in _CHOICES.items():
        value = getattr(settings, field_name)
        if value not in choices:
            shown = ", ".join(map(str, choices))
            raise ConfigError(f"{_variable(field_name)}={value!r} is not one of {shown}")
    if settings.database_url:
        check_database_url(settings.database_url)


def check_database_url(url: str) -> None:
    """A catalog URL SQLAlchemy can parse, of a dialect sleeve supports (password redacted)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    # without a scheme nothing in it can be told apart from a password: show none of it
    shown = redact_url(url) if "://" in url else "(not shown)"
    try:
        parsed = make_url(normalise_database_url(url))
        parsed.port  # noqa: B018 - a bad port only fails when read
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"SLEEVE_DATABASE_URL={shown} is not a database URL "
            "(e.g. postgresql://user@host/sleeve or sqlite:////path/catalog.db)"
        ) from None
    if parsed.get_backend_name() not in DATABASE_DIALECTS:
        raise ConfigError(
            f"SLEEVE_DATABASE_URL={shown}: {parsed.get_backend_name()!r} is not a catalog "
            f"sleeve supports ({', '.join(DATABASE_DIALECTS)})"
        )


def _parse(name: str, field_name: str, raw: str, default: object) -> object:
    raw = raw.strip()
    try:
        if isinstance(default, bool):
            if raw.lower() not in _TRUE | _FALSE:
                raise ConfigError(
                    f"{name}={raw!r} is not one of {', '.join(sorted(_TRUE | _FALSE))}"
                )
            return raw.lower() in _TRUE
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)  # range and finiteness: check_settings
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a valid number ({exc})") from None
    if field_name in {"data_dir", "taxonomy_path"}:
        return Path(raw).expanduser() if raw else None
    if field_name == "spotify_client_secret":
        return Secret(raw)
    if field_name == "ray_address":
        ray_host_port(raw)  # validated now: a typo is one line, not a minute of retries
        return raw
    if field_name == "store_url":
        if "://" not in raw or raw.startswith("file:"):
            raise ConfigError(
                f"{name} must be an object-store URL such as s3://bucket/prefix (a local store "
                "is SLEEVE_DATA_DIR: leave SLEEVE_STORE_URL empty)"
            )
        return raw.rstrip("/")
    if field_name in _URL_FIELDS:
        parsed = urlparse(raw)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise ConfigError(f"{name}={raw!r} is not an http(s) URL")
        return raw.rstrip("/")
    return raw


def ray_host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a Ray address ``ray://HOST:PORT`` or ``HOST:PORT``; None for ``auto``."""
    if address == "auto":
        return None
    parsed = urlparse(address if "://" in address else f"gcs://{address}")
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme not in {"ray", "gcs"} or not parsed.hostname or port is None:
        raise ConfigError(
            f"SLEEVE_RAY_ADDRESS={address!r} is not a Ray address (ray://HOST:PORT, HOST:PORT "
            "or auto)"
        )
    return parsed.hostname, port


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | str | None = ".env"
) -> Settings:
    """Settings from ``environ`` (default ``os.environ``) over ``env_file`` over defaults."""
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    defaults = Settings()
    values: dict[str, object] = {}
    for var, field_name in _VARS.items():
        if var in merged and merged[var].strip() != "":
            values[field_name] = _parse(var, field_name, merged[var], getattr(defaults, field_name))
    if values.get("data_dir") is None:
        values.pop("data_dir", None)
    # each value is parsed to its field's type (_parse); the checker sees only `object`
    settings = Settings(**values)  # type: ignore[arg-type]
    # the inference engine is process-wide, like torch's thread count: every command loads
    # its settings here first, so this is the one place that sets it
    from sleeve.core.vision import runtime

    runtime.configure(settings.inference)
    return settings
