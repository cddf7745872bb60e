from pathlib import Path

import pytest

from sleeve.core.errors import ConfigError, UnknownGenreError
from sleeve.core.taxonomy import Taxonomy


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy.load()


def test_default_targets_are_the_studys_ten(taxonomy: Taxonomy) -> None:
    assert taxonomy.genres == [
        "anime",
        "black_metal",
        "classical",
        "country",
        "disco",
        "edm",
        "jazz",
        "pop",
        "rap",
        "reggae",
    ]


@pytest.mark.parametrize(
    ("name", "genre"),
    [
        ("reggae", "reggae"),
        ("Hip-Hop", "rap"),
        ("hip hop", "rap"),
        ("dance pop", "pop"),
        ("Black Metal", "black_metal"),
        ("rock steady", "reggae"),
        ("german hip hop", "rap"),
        ("swedish pop", "pop"),
    ],
)
def test_whole_string_matches(taxonomy: Taxonomy, name: str, genre: str) -> None:
    assert genre in [m.genre for m in taxonomy.match(name)]


@pytest.mark.parametrize(
    "name", ["reggaeton", "classic rock", "electronic", "soundtrack", "rap metal", "classics", ""]
)
def test_substrings_and_never_map_do_not_match(taxonomy: Taxonomy, name: str) -> None:
    assert taxonomy.match(name) == []


def test_dubstep_is_edm_not_reggae(taxonomy: Taxonomy) -> None:
    assert [m.genre for m in taxonomy.match("dubstep")] == ["edm"]
    assert [m.genre for m in taxonomy.match("dub")] == ["reggae"]


def test_ambiguous_strings_name_every_genre(taxonomy: Taxonomy) -> None:
    assert {m.genre for m in taxonomy.match("j-pop")} == {"anime", "pop"}
    assert all(m.strength == "weak" for m in taxonomy.match("j-pop"))


def test_unknown_genre_lists_valid_ones(taxonomy: Taxonomy) -> None:
    with pytest.raises(UnknownGenreError) as err:
        taxonomy.get("polka")
    assert "valid genres: anime, black_metal" in str(err.value)


def test_folder_names_map_through_aliases(taxonomy: Taxonomy) -> None:
    assert taxonomy.genre_for_folder("HipHop") == "rap"
    assert taxonomy.genre_for_folder("Country") == "country"
    assert taxonomy.genre_for_folder("Electronic") is None  # wider than edm: never silently


def test_user_file_extends_and_overrides(tmp_path: Path) -> None:
    user = tmp_path / "mine.toml"
    user.write_text(
        '[genres.polka]\ncore = ["polka"]\nmb_query = "tag:polka"\n'
        '[genres.rap]\ncore = ["rap"]\nmb_query = "tag:rap"\n'
    )
    t = Taxonomy.load(user)
    assert "polka" in t.genres and t.get("polka").mb_query == "tag:polka"
    assert [m.genre for m in t.match("hip hop")] == []  # rap was replaced by the user's list
    assert len(t.genres) == 11


def test_bad_user_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[genres.x]\nnonsense_key = 1\n")
    with pytest.raises(ConfigError, match="nonsense_key"):
        Taxonomy.load(bad)
    with pytest.raises(ConfigError):
        Taxonomy.load(tmp_path / "absent.toml")


def test_add_genre_for_foreign_datasets(taxonomy: Taxonomy) -> None:
    t = Taxonomy.load()
    t.add_genre("rock")
    assert "rock" in t.genres and t.genre_for_folder("Rock") == "rock"
    assert [m.genre for m in t.match("rock")] == ["rock"]
