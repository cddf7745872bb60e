"""Artist evidence from the words on a cover: match them to the catalog's artist names, and
group covers without credits (folder imports) whose words name the same artist.

OCR output is noisy in three ways that shape the rules here: spaces vanish ("THEBEATNUTS"),
letters swap ("JOHNNY GASH"), and a name is split over two lines ("JOHNNY" / "CASH"). So names
are compared as compact keys (ASCII letters and digits only, a leading "the" dropped), lines and
pairs of consecutive lines are both candidates, and near-equal keys (rapidfuzz ratio >= 90) are
one name. The artist is usually printed in the largest letters, so among a cover's candidates the
most prominent (tallest box) wins. Without credits a printed name only says something when
another cover prints it too: a text key must appear on two covers or more, and generic cover
words ("Parental Advisory", "Greatest Hits", label names) never count.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from sleeve.dataset.text.ocr import Word

FUZZY = 90  # rapidfuzz ratio: one swapped letter in a 10-letter name scores 90
JUDGE_FUZZY = 85  # judging a key against a person's reading: "btondie" is Blondie misread
FUZZY_MIN_LEN = 6  # shorter keys must match exactly: "rush" ~ "push" is not OCR noise
DOWN_MIN_LEN = 7  # "madonna" inside "madonnawhos" names her; "johnny" inside "johnnycash" does not
PARTIAL_MIN_LEN = 6  # a catalog name this long may sit inside a longer line (name + title)
MIN_LETTERS = 3  # "klf", "abba" and "nas" are names; two letters are not
TEXT_PREFIX = "text:"  # artist keys found from words alone (not a catalog Artist.name_key)

# Words printed on many covers that name no artist (checked on the shared covers' most frequent
# candidate keys): stickers, formats, compilation titles, record labels, genres.
_STOP_WORDS = """
    advisory parental parentaladvisory explicit explicitcontent explicitlyrics content lyrics
    stereo mono hifi digital digitallyremastered remastered remaster deluxe deluxeedition edition
    expanded anniversary greatest hits greatesthits best bestof thebestof thebest theverybestof
    verybestof collection anthology essential theessential singles songs volume vol album
    original soundtrack originalsoundtrack motionpicture live liveat concert christmas gold
    platinum records recordings record music presents featuring feat remix remixes mix mixes
    parlophone decca columbia capitol atlantic epic warner emi sony rca mca polydor island
    virgin motown geffen elektra mercury def jam defjam interscope aftermath universal
    country rock pop rap hiphop electronic dance disco soul jazz blues love ep lp cd side
    introducing new the and with from part classic classics andthe rpm 45rpm 33rpm sidea sideb vinyl
"""
# The commonest English words (titles are made of them, artist names rarely) and colours
_COMMON_WORDS = """
    that this what when your have they will from with there their which about would these
    other into more some could them than then been only over also after again against back
    before down each every first great here just know last life like little long look made
    make many most much never night only other over own right same should still such take
    time under very well were where while world year young yours away come good home love
    man men more girl boy baby day days heart dream dreams way one two three four five six
    seven eight nine ten all any are but can did get got has her him his how its let may new
    not now off old our out own say see she too top use was who why you yes red black white
    blue green gold silver pink orange yellow purple brown grey gray house night
"""
STOP = frozenset(_STOP_WORDS.split()) | frozenset(_COMMON_WORDS.split())


def text_key(text: str) -> str:
    """Compact comparison key: ASCII letters and digits, lower case, a leading "the" dropped
    (OCR often loses the spaces, so "The Beatles" and "THEBEATLES" must meet)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    key = re.sub(r"[^a-z0-9]+", "", ascii_text)
    if key.startswith("the") and len(key) > 3 + MIN_LETTERS:
        key = key[3:]
    return key


_STOP_INSIDE = tuple(w for w in STOP if len(w) >= 7)  # "advisory" spoils "parentaladvisoryx"
_STICKERS = ("advisory", "explicit", "parental")  # also misread: "AOVISORY", "ADVISOR"


def _usable(key: str) -> bool:
    letters = sum(c.isalpha() for c in key)
    return (
        letters >= MIN_LETTERS
        and letters >= 0.6 * len(key)
        and key not in STOP
        and not any(w in key for w in _STOP_INSIDE)
        and not (len(key) >= 5 and any(fuzz.partial_ratio(w, key) >= 85 for w in _STICKERS))
    )


def _height(word: Word) -> int:
    ys = [y for _, y in word.box]
    return max(ys) - min(ys) if ys else 0


@dataclass(frozen=True)
class Candidate:
    key: str
    text: str  # as printed
    height: int  # letter height in pixels: how prominent the line is


def candidates(words: Sequence[Word]) -> list[Candidate]:
    """Each line and each pair of consecutive lines (a name split over two lines), usable keys
    only, one per key (the most prominent), most prominent first."""
    raw = [Candidate(text_key(w.text), w.text, _height(w)) for w in words]
    for a, b in itertools.pairwise(words):
        raw.append(
            Candidate(text_key(a.text + b.text), f"{a.text} {b.text}", min(_height(a), _height(b)))
        )
    best: dict[str, Candidate] = {}
    for c in raw:
        if _usable(c.key) and (c.key not in best or c.height > best[c.key].height):
            best[c.key] = c
    return sorted(best.values(), key=lambda c: (-c.height, -len(c.key), c.key))


class CatalogNames:
    """The catalog's artist names (name_key -> name), searchable by OCR-noisy compact keys."""

    def __init__(self, names: Mapping[str, str]) -> None:
        by_key: dict[str, str] = {}
        for name_key, name in sorted(names.items()):
            key = text_key(name or name_key)
            if _usable(key):
                by_key.setdefault(key, name_key)
        self._name_key = by_key
        self._names = dict(names)
        self._keys = sorted(by_key)
        self._long = [k for k in self._keys if len(k) >= PARTIAL_MIN_LEN]

    def __len__(self) -> int:
        return len(self._keys)

    def name(self, name_key: str) -> str:
        return self._names.get(name_key, name_key)

    def match_key(self, key: str) -> str | None:
        """The catalog artist (name_key) a compact line key names, or None: equal, equal but
        for OCR noise, or (names of 6+ characters) contained in the line."""
        if key in self._name_key:
            return self._name_key[key]
        if not self._keys:
            return None
        if len(key) >= FUZZY_MIN_LEN:
            hit = process.extractOne(key, self._keys, scorer=fuzz.ratio, score_cutoff=FUZZY)
            if hit and len(hit[0]) >= FUZZY_MIN_LEN:
                return self._name_key[hit[0]]
        inside = [k for k in self._long if len(k) < len(key) and k in key]
        if inside:
            return self._name_key[max(inside, key=lambda k: (len(k), k))]
        return None

    def match(self, words: Sequence[Word]) -> tuple[str, str] | None:
        """(name_key, the words that named it) for the most prominent line naming a catalog
        artist, or None."""
        for c in candidates(words):
            hit = self.match_key(c.key)
            if hit is not None:
                return hit, c.text
        return None


@dataclass(frozen=True)
class ArtistEvidence:
    key: str  # Artist.name_key, or TEXT_PREFIX + compact key; "" when no artist is known
    name: str  # the credited name, the catalog name matched, or the words as printed
    source: str  # credits | catalog-text | text | none


NONE = ArtistEvidence("", "", "none")


@dataclass(frozen=True)
class Cover:
    sha256: str
    credits: tuple[str, ...]  # credited artists' name_keys (releases of the cover's group)
    words: tuple[Word, ...]


def canonical_keys(counts: Counter[str]) -> dict[str, str]:
    """Map each key to the most frequent key equal to it but for OCR noise (itself if none)."""
    canon: dict[str, str] = {}
    heads: list[str] = []
    for key, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        hit = None
        if len(key) >= FUZZY_MIN_LEN and heads:
            found = process.extractOne(key, heads, scorer=fuzz.ratio, score_cutoff=FUZZY)
            hit = found[0] if found and len(found[0]) >= FUZZY_MIN_LEN else None
        if hit is None:
            heads.append(key)
            canon[key] = key
        else:
            canon[key] = hit
    return canon


def assign_artists(covers: Sequence[Cover], names: CatalogNames) -> dict[str, ArtistEvidence]:
    """Artist evidence per cover sha256: credits first, then words naming a catalog artist,
    then a text key printed on at least two covers; ``NONE`` otherwise."""
    out: dict[str, ArtistEvidence] = {}
    uncredited: list[Cover] = []
    for cover in covers:
        if cover.credits:
            key = sorted(cover.credits)[0]
            out[cover.sha256] = ArtistEvidence(key, names.name(key), "credits")
            continue
        hit = names.match(cover.words)
        if hit is not None:
            out[cover.sha256] = ArtistEvidence(hit[0], names.name(hit[0]), "catalog-text")
        else:
            uncredited.append(cover)
    found = {c.sha256: candidates(c.words) for c in uncredited}
    canon = canonical_keys(Counter(c.key for cands in found.values() for c in cands))
    covers_of: dict[str, set[str]] = defaultdict(set)
    for sha, cands in found.items():
        for c in cands:
            covers_of[canon[c.key]].add(sha)
    whole = part_of({k for k, shas in covers_of.items() if len(shas) >= 2}, set(covers_of))
    for cover in uncredited:
        shared = [c for c in found[cover.sha256] if len(covers_of[canon[c.key]]) >= 2]
        if not shared:
            out[cover.sha256] = NONE
            continue
        best = max(shared, key=lambda c: (c.height, len(canon[c.key]), c.key))
        key = whole.get(canon[best.key], canon[best.key])
        out[cover.sha256] = ArtistEvidence(TEXT_PREFIX + key, best.text, "text")
    return out


def part_of(keys: set[str], known: AbstractSet[str] = frozenset()) -> dict[str, str]:
    """Join a name read with its title run onto it (OCR having lost the line break) to the name:
    a key starting with a key of 7+ characters followed by words that are no key of their own
    maps to that name ("madonnawhos" -> "madonna", but "michaeljackson" stays whole when
    "jackson" is read elsewhere too). The other way round ("cash" -> "johnnycash") was measured
    and dropped: on the covers labelled by eye it joined "jones" to "georgejones", "steve" to
    "stevewinwood" and "moon" to "fullmoon" more often than it helped.
    ``keys``: the keys on two covers or more; ``known``: every key read."""
    pool = sorted(keys)
    down = {}
    for key in pool:
        inside = [
            k
            for k in pool
            if k != key
            and len(k) >= DOWN_MIN_LEN
            and key.startswith(k)
            and key[len(k) :] not in keys | known
        ]
        if inside:
            down[key] = max(inside, key=lambda k: (len(k), k))
    out = {}
    for key in pool:  # the shortest name a longer key starts with
        top = key
        while top in down:
            top = down[top]
        if top != key:
            out[key] = top
    return out


def same_artist(key: str, label: str) -> bool:
    """Does an artist key (compact text key or name_key) name the artist ``label`` (a person's
    reading of the cover)? Equal but for OCR noise, or one contains the other (4+ characters):
    "cash" names Johnny Cash."""
    a, b = text_key(key.removeprefix(TEXT_PREFIX)), text_key(label)
    if not a or not b:
        return False
    if fuzz.ratio(a, b) >= JUDGE_FUZZY:
        return True
    short, long = sorted((a, b), key=len)
    return len(short) >= 4 and short in long
