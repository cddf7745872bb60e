"""Vocabulary for the generated catalogue: artist names, album titles, noise tags, odd titles.

Nothing here is real data; the lists only make the fake catalogue read like a music catalogue
and put the awkward strings a harvester must survive (unicode, quotes, path separators, a very
long title) into it at a known rate.
"""

from __future__ import annotations

import random

_SYLLABLES = (
    "ka",
    "lo",
    "mi",
    "ren",
    "sha",
    "vo",
    "dru",
    "el",
    "tan",
    "zi",
    "mar",
    "os",
    "ul",
    "bri",
    "nek",
    "ta",
    "ro",
    "fy",
    "gan",
    "ix",
)

_ARTIST_FORMS: dict[str, tuple[str, ...]] = {
    "anime": ("{N} Project", "Team {N}", "{N}☆{N}", "{N} Sisters", "{N}"),
    "black_metal": ("{N}gorth", "Nocturnal {W}", "{W} of {N}", "Ván{n}", "{N}"),
    "classical": ("{N} Quartet", "{N} Philharmonic", "{N} Ensemble", "{N} {N}", "Orchestre {N}"),
    "country": ("{N} {N}", "The {N} Brothers", "{N} & the {W}s", "Hank {N}", "{N}"),
    "disco": ("{N} Connection", "The {N} Sound", "{N} Machine", "Sister {N}", "{N}"),
    "edm": ("DJ {N}", "{N}x", "{N} & {N}", "{W}{n}", "{N}"),
    "jazz": ("{N} Trio", "The {N} Quintet", "{N} {N}", "{N} Big Band", "{N}"),
    "pop": ("{N}", "{N} {N}", "The {W}s", "{N} Girls", "{N}"),
    "rap": ("Lil {N}", "MC {N}", "{N} the {W}", "Young {N}", "{N} Gang"),
    "reggae": ("{N} & the {W}s", "{N} Sound System", "King {N}", "{N} {N}", "{N}"),
}
_UNICODE_ARTISTS = (
    "Sólstafir-ish",
    "Ørkenvind",
    "Ünsichtbar",
    "Ångström Kvintett",
    "東方 Ensemble",
    "Мёртвый Лес",
    "Ça Va Band",
    "Zoë & Chloë",
)

_WORDS: dict[str, tuple[str, ...]] = {
    "anime": ("Sky", "Dream", "Heart", "Star", "Sakura", "Blue", "Wings", "Memory", "Hero"),
    "black_metal": ("Frost", "Darkness", "Grave", "Throne", "Winter", "Void", "Ashes", "Wolf"),
    "classical": ("Sonata", "Requiem", "Concerto", "Nocturne", "Variations", "Suite", "Mass"),
    "country": ("Road", "Whiskey", "Home", "River", "Heart", "Dust", "Highway", "Porch"),
    "disco": ("Night", "Fever", "Boogie", "Love", "Mirror", "Dance", "Funk", "Lights"),
    "edm": ("Pulse", "Drop", "Signal", "Neon", "Circuit", "Bass", "Rush", "Echo"),
    "jazz": ("Blue", "Moods", "Session", "Swing", "Midnight", "Standards", "Cool", "Groove"),
    "pop": ("Sugar", "Summer", "Kiss", "Radio", "Forever", "Girl", "Sweet", "Young"),
    "rap": ("Streets", "Hustle", "Crown", "Money", "Block", "Legacy", "Trap", "Gold"),
    "reggae": ("Roots", "Zion", "Rebel", "Sunshine", "Dub", "Island", "Jah", "Riddim"),
}
_GENERIC_WORDS = ("Songs", "Stories", "Light", "Shadows", "Time", "World", "Fire", "Rain", "Sound")
_TITLE_FORMS = (
    "{W} {W}",
    "The {W}",
    "{W} of {W}",
    "{W}",
    "{W} {n}",
    "{W} & {W}",
    "Vol. {n}",
    "{W}s",
    "Greatest {W}s",
    "{W} (Deluxe Edition)",
)

# Titles that break naive code: path separators, quotes, unicode, control-ish characters.
ODD_TITLES = (
    "../../etc/passwd",
    "AC/DC\\Back/../Slash",
    "\"Live\" at the 'Vanguard'",
    "Café Naïve — Ünïcødé Ⅱ",
    "東京 Nights 🎧",
    "Ænima; DROP TABLE releases;--",
    "CON",
    "   leading and trailing spaces   ",
    "Tab\tand\nnewline",
    '100% <Pure> & "Proof"',
)

# Tags every genre's releases pick up that are not genres at all.
NOISE_TAGS = (
    "seen live",
    "favorites",
    "albums i own",
    "american",
    "british",
    "japanese",
    "90s",
    "00s",
    "2010s",
    "female vocalists",
    "male vocalists",
    "under 2000 listeners",
    "vinyl",
    "my collection",
    "electronic",
    "soundtrack",
    "rock",
    "instrumental",
)

# Cross-genre tags that mention two genres at once (traps for naive matching).
CROSS_TAGS = (
    "pop rap",
    "jazz rap",
    "country rap",
    "nu disco",
    "j-pop",
    "country pop",
    "reggae rock",
    "dance-pop",
    "symphonic black metal",
    "disco house",
)

# Tags the fake reports as MB *genres* even though they are outside the taxonomy lists.
EXTRA_GENRES = (
    "electronic",
    "rock",
    "soundtrack",
    "funk",
    "soul",
    "ambient",
    "folk",
    "metal",
    "idm",
    "electronica",
)

# Taxonomy strings that MusicBrainz knows only as plain tags (genre-mapping.md: anime, anison,
# rap and hip-hop were not genres in the 2022 snapshot).
NOT_GENRES = frozenset(
    {
        "anime",
        "anison",
        "anime song",
        "anime score",
        "japanese soundtrack",
        "j-theme",
        "rap",
        "hip-hop",
        "gangster rap",
        "electronic dance music",
        "romantic classical",
        "classical period",
        "chaotic black metal",
        "dark black metal",
        "deep ragga",
        "deep italo disco",
        "italian disco",
        "bro-country",
        "modern country rock",
        "progressive electro house",
        "dirty south rap",
        "chicago rap",
        "west coast rap",
        "post-disco soul",
    }
)


def _name_part(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def artist_name(genre: str, rng: random.Random) -> str:
    """A plausible artist name in the manner of ``genre`` (unicode now and then)."""
    if rng.random() < 0.04:
        return rng.choice(_UNICODE_ARTISTS)
    form = rng.choice(_ARTIST_FORMS.get(genre, ("{N}", "{N} {N}", "The {W}s")))
    words = _WORDS.get(genre, _GENERIC_WORDS)
    out = form
    while "{N}" in out:
        out = out.replace("{N}", _name_part(rng), 1)
    while "{W}" in out:
        out = out.replace("{W}", rng.choice(words), 1)
    return out.replace("{n}", str(rng.randint(1, 99)))


def sort_name(name: str) -> str:
    """MusicBrainz-style sort name: "The Xs" sorts as "Xs, The"."""
    return f"{name[4:]}, The" if name.startswith("The ") else name


def album_title(genre: str, rng: random.Random) -> str:
    """A plausible album title for ``genre``."""
    words = _WORDS.get(genre, _GENERIC_WORDS) + _GENERIC_WORDS[:3]
    out = rng.choice(_TITLE_FORMS)
    while "{W}" in out:
        out = out.replace("{W}", rng.choice(words), 1)
    return out.replace("{n}", str(rng.randint(1, 12)))


def long_title(rng: random.Random, length: int = 2000) -> str:
    """A title of exactly ``length`` characters (file-name and column-width trap)."""
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < length:
        words.append(rng.choice(_GENERIC_WORDS))
    return " ".join(words)[:length]
