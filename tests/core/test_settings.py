from pathlib import Path

import pytest

from sleeve.core.errors import ConfigError
from sleeve.core.settings import Secret, load_settings, normalise_database_url, redact_url


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
    with pytest.raises(ConfigError) as caught:
        open_catalog(url)
    message = str(caught.value)
    assert "hunter2" not in message and "hunter3" not in message
    assert "ann:***@127.0.0.1:9" in message
