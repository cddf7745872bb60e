from dataclasses import replace
from pathlib import Path

import pytest

from sleeve.core.cliutil import EXIT_USAGE
from sleeve.core.errors import ConfigError, StorageError
from sleeve.core.settings import (
    _VARS,
    Secret,
    Settings,
    load_settings,
    normalise_database_url,
    redact_url,
)


def test_defaults_point_at_the_real_services(tmp_path: Path) -> None:
    s = load_settings({}, env_file=None)
    assert s.musicbrainz_url == "https://musicbrainz.org/ws/2"
    assert s.coverart_url == "https://coverartarchive.org"
    assert s.mb_rate == 1.0
    assert s.data_dir == Path("./sleeve-data")
    assert s.catalog_url.endswith("sleeve-data/catalog.db")
    assert s.user_agent.startswith("sleeve/") and "( " in s.user_agent


def test_environment_overrides_dotenv_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SLEEVE_MB_RATE=0.5\nMUSICBRAINZ_URL=http://127.0.0.1:9/ws/2/\n")
    s = load_settings({"SLEEVE_MB_RATE": "2"}, env_file=env_file)
    assert s.mb_rate == 2.0
    assert s.musicbrainz_url == "http://127.0.0.1:9/ws/2"  # trailing slash trimmed


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("MUSICBRAINZ_URL", "ftp://x"),
        ("COVERART_URL", "not a url"),
        ("SLEEVE_MB_RATE", "fast"),
        ("SLEEVE_MB_RATE", "0"),
    ],
)
def test_bad_values_are_config_errors_naming_the_variable(var: str, value: str) -> None:
    with pytest.raises(ConfigError, match=var):
        load_settings({var: value}, env_file=None)


def test_secret_never_shows_itself() -> None:
    s = load_settings({"SPOTIPY_CLIENT_SECRET": "s3cr3t-value-123"}, env_file=None)
    assert s.spotify_client_secret.reveal() == "s3cr3t-value-123"
    for text in (repr(s), str(s), str(s.public_dict()), f"{s.spotify_client_secret}"):
        assert "s3cr3t-value-123" not in text
    assert not Secret("")


def test_postgres_urls_use_psycopg3() -> None:
    assert normalise_database_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://ann:pw@db:5432/sleeve", "postgresql://ann:***@db:5432/sleeve"),
        ("postgresql://ann:p%40ss@[::1]/sleeve", "postgresql://ann:***@[::1]/sleeve"),
        (
            "postgresql://db/s?user=ann&password=pw&sslmode=require",
            "postgresql://db/s?user=ann&password=***&sslmode=require",
        ),
        ("postgresql://ann@db/sleeve", "postgresql://ann@db/sleeve"),
        ("sqlite:////data/catalog.db", "sqlite:////data/catalog.db"),
    ],
)
def test_security_redact_url_masks_credentials_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_security_public_dict_masks_every_secret() -> None:
    s = load_settings(
        {
            "SLEEVE_DATABASE_URL": "postgresql://ann:hunter2@db/sleeve",
            "SPOTIPY_CLIENT_SECRET": "s3cr3t",
        },
        env_file=None,
    )
    shown = repr(s.public_dict())
    assert "hunter2" not in shown and "s3cr3t" not in shown
    assert s.public_dict()["database_url"] == "postgresql://ann:***@db/sleeve"
    assert s.catalog_url.endswith("ann:hunter2@db/sleeve")  # the engine still gets the real one


def test_security_catalog_errors_mask_credentials() -> None:
    from sleeve.core.catalog.db import open_catalog

    url = "postgresql://ann:hunter2@127.0.0.1:9/sleeve?password=hunter3&connect_timeout=1"
    with pytest.raises(StorageError) as caught:  # unreachable: the catalog, exit 4 (#21 item 13)
        open_catalog(url)
    message = str(caught.value)
    assert "hunter2" not in message and "hunter3" not in message
    assert "ann:***@127.0.0.1:9" in message


# -- issue 21 #10: every setting validated in one place ------------------------------------------

_NUMERIC = {
    var: field
    for var, field in _VARS.items()
    if isinstance(getattr(Settings(), field), int | float)
    and not isinstance(getattr(Settings(), field), bool)
}
_ZERO_OK = {"max_retries", "backoff_base", "backoff_cap", "retry_after_cap",
            "spotify_retry_after_cap", "cover_size"}  # fmt: skip
_HUGE = "1" + "0" * 30


def test_every_numeric_setting_is_in_the_table() -> None:
    assert len(_NUMERIC) == 13 and "SLEEVE_MB_RATE" in _NUMERIC


@pytest.mark.parametrize("var", sorted(_NUMERIC))
@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "-1", "0", _HUGE])
def test_every_numeric_setting_refuses_what_switches_a_guard_off(var: str, raw: str) -> None:
    field = _NUMERIC[var]
    if raw == "0" and field in _ZERO_OK:
        assert getattr(load_settings({var: raw}, env_file=None), field) == 0
        return
    with pytest.raises(ConfigError, match=f"^{var}=") as caught:
        load_settings({var: raw}, env_file=None)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("var", "raw"),
    [("SLEEVE_COVER_SIZE", "7"), ("SLEEVE_VISUAL_DEDUP", "maybe"),
     ("SLEEVE_ALLOW_PRIVATE_URLS", "yes please"), ("SLEEVE_DOWNLOAD_WORKERS", "1.5")],
)  # fmt: skip
def test_values_outside_the_allowed_ones_name_the_variable(var: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=f"^{var}="):
        load_settings({var: raw}, env_file=None)


def test_replace_is_validated_too(tmp_path: Path) -> None:
    base = load_settings({}, env_file=None)
    with pytest.raises(ConfigError, match="SLEEVE_MB_RATE"):
        replace(base, mb_rate=float("nan"))


@pytest.mark.parametrize(
    "raw", ["SLEEVE_MB_RATE=nan", "SLEEVE_REQUEST_DEADLINE=nan", "SLEEVE_READ_TIMEOUT=-1",
            "SLEEVE_CONNECT_TIMEOUT=nan", "SLEEVE_COVER_SIZE=7"],
)  # fmt: skip
def test_a_bad_setting_is_one_error_line_and_exit_2(
    raw: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sleeve.collector.cli import main as collect_main
    from sleeve.ui.catalog_cli import main as db_main

    var, value = raw.split("=")
    monkeypatch.setenv("SLEEVE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(var, value)
    for main, argv in ((collect_main, ["--genre", "pop", "--limit", "1", "--no-progress"]),
                       (db_main, ["current"])):  # fmt: skip
        assert main(argv) == EXIT_USAGE
        err = capsys.readouterr().err
        assert err.startswith(f"error: {var}=") and err.count("\n") == 1, err
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("address", ["auto", "ray://head:10001", "127.0.0.1:6380"])
def test_ray_address_accepted(address: str) -> None:
    assert load_settings({"SLEEVE_RAY_ADDRESS": address}, env_file=None).ray_address == address


@pytest.mark.parametrize("address", ["head", "ray://head", "http://head:10001", "head:99999"])
def test_ray_address_rejected_in_one_line(address: str) -> None:
    with pytest.raises(ConfigError, match=r"SLEEVE_RAY_ADDRESS=.* is not a Ray address"):
        load_settings({"SLEEVE_RAY_ADDRESS": address}, env_file=None)
