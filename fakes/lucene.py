"""A small evaluator for the Lucene subset the collector sends to MusicBrainz search.

Supported: ``field:term``, ``field:"a phrase"``, bare terms and phrases (default fields),
``AND``/``&&``, ``OR``/``||``, ``NOT``/``!``/``-x``, ``+x``, parentheses, ``field:(a b)``
(each inner term on that field, OR-ed, as musicbrainzngs' non-strict search sends it),
backslash escapes and ``*:*``. Adjacent clauses without an operator are OR-ed (Solr's default
``q.op``); ``AND`` binds tighter than ``OR``.

Matching deviates from Solr on purpose, and simply: values are compared as *whole* normalised
strings (lower-case, ``-``/``_`` treated as spaces, whitespace collapsed), so ``tag:"hip hop"``
matches the tags "hip hop" and "Hip-Hop" but ``tag:rap`` does not match "pop rap" (real MB
tokenises the tag field, so there it would). Documents are ``{field: {value: weight}}``; the
score of a match is the sum of the weights of the matched values (vote counts, for tags), which
the server turns into MB's 0-100 integer ``score``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

Doc = Mapping[str, Mapping[str, float]]

# Unfielded terms search these (MB's default field set: names, titles, comment, tag).
DEFAULT_FIELDS = ("releasegroup", "release", "artist", "tag", "comment", "alias")


class QuerySyntaxError(ValueError):
    """The query cannot be parsed (the server answers 400, as Solr does)."""


def normalise(value: str) -> str:
    """Lower-case, '-'/'_' as spaces, single spaces: how the fake compares values."""
    return " ".join(re.sub(r"[-_]", " ", value.lower()).split())


@dataclass(frozen=True)
class Term:
    field: str | None  # None = default fields
    value: str

    def score(self, doc: Doc) -> float | None:
        if self.field == "*" and self.value == "*":
            return 1.0
        key = normalise(self.value)
        fields = DEFAULT_FIELDS if self.field is None else (self.field.lower(),)
        total, hit = 0.0, False
        for f in fields:
            weight = doc.get(f, {}).get(key)
            if weight is not None:
                total, hit = total + weight, True
        return total if hit else None


@dataclass(frozen=True)
class Not:
    child: Node

    def score(self, doc: Doc) -> float | None:
        return None if self.child.score(doc) is not None else 0.0


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]

    def score(self, doc: Doc) -> float | None:
        total = 0.0
        for c in self.children:
            s = c.score(doc)
            if s is None:
                return None
            total += s
        return total


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]

    def score(self, doc: Doc) -> float | None:
        scores = [s for c in self.children if (s := c.score(doc)) is not None]
        return sum(scores) if scores else None


Node = Term | Not | And | Or

_TOKEN = re.compile(
    r'\s*(?:(?P<op>\(|\)|&&|\|\||!(?!=)|\+|-(?=\S))|"(?P<phrase>(?:\\.|[^"\\])*)"'
    r"|(?P<word>(?:\\.|[^\s()\"])+))"
)


def _tokens(query: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(query):
        if query[pos:].strip() == "":
            break
        m = _TOKEN.match(query, pos)
        if not m:
            raise QuerySyntaxError(f"cannot parse query at {query[pos : pos + 20]!r}")
        pos = m.end()
        if m.group("op"):
            out.append(("op", m.group("op")))
        elif m.group("phrase") is not None:
            out.append(("phrase", _unescape(m.group("phrase"))))
        else:
            word = m.group("word")
            if word in ("AND", "OR", "NOT"):
                out.append(("op", word))
            else:
                out.append(("word", word))
    return out


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def _split_field(word: str) -> tuple[str | None, str]:
    """'tag:rock' -> ('tag', 'rock'); escaped colons stay in the value."""
    m = re.match(r"^((?:\\.|[^:\\])+):(.*)$", word)
    if m:
        return _unescape(m.group(1)), m.group(2)
    return None, word


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse_or(self, field: str | None) -> Node:
        """A clause list: OR-ed, except that ``+x`` is required and ``-x``/``NOT x`` prohibited
        (Lucene's MUST / MUST_NOT), so ``tag:rap -secondarytype:live`` excludes live albums."""
        required: list[Node] = []
        optional: list[Node] = []
        while (tok := self.peek()) is not None and tok != ("op", ")"):
            if tok in (("op", "OR"), ("op", "||")):
                self.take()
                continue
            plus = tok == ("op", "+")
            node = self.parse_and(field)
            (required if plus or isinstance(node, Not) else optional).append(node)
        if not required and not optional:
            raise QuerySyntaxError("empty clause")
        if not required:
            return optional[0] if len(optional) == 1 else Or(tuple(optional))
        if optional and all(isinstance(n, Not) for n in required):
            required.append(optional[0] if len(optional) == 1 else Or(tuple(optional)))
        return required[0] if len(required) == 1 else And(tuple(required))

    def parse_and(self, field: str | None) -> Node:
        parts = [self.parse_unary(field)]
        while self.peek() in (("op", "AND"), ("op", "&&")):
            self.take()
            parts.append(self.parse_unary(field))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def parse_unary(self, field: str | None) -> Node:
        tok = self.peek()
        if tok in (("op", "NOT"), ("op", "!"), ("op", "-")):
            self.take()
            return Not(self.parse_unary(field))
        if tok == ("op", "+"):
            self.take()
        return self.parse_primary(field)

    def parse_primary(self, field: str | None) -> Node:
        if self.peek() is None:
            raise QuerySyntaxError("query ends where a term was expected")
        kind, val = self.take()
        if (kind, val) == ("op", "("):
            node = self.parse_or(field)
            if self.peek() != ("op", ")"):
                raise QuerySyntaxError("missing ')'")
            self.take()
            return node
        if kind == "phrase":
            return Term(field, val)
        if kind != "word":
            raise QuerySyntaxError(f"unexpected {val!r}")
        name, rest = _split_field(val)
        if name is None:
            return Term(field, _unescape(val))
        if rest:
            return Term(name, _unescape(rest))
        nxt = self.peek()  # 'tag:"x"' or 'tag:(a b)'
        if nxt is not None and nxt[0] == "phrase":
            self.take()
            return Term(name, nxt[1])
        if nxt == ("op", "("):
            return self.parse_primary(name)
        raise QuerySyntaxError(f"field {name!r} has no value")


def parse(query: str) -> Node:
    """Parse ``query``; raises QuerySyntaxError (blank queries are the caller's 400)."""
    tokens = _tokens(query)
    if not tokens:
        raise QuerySyntaxError("blank query")
    p = _Parser(tokens)
    node = p.parse_or(None)
    if (extra := p.peek()) is not None:
        raise QuerySyntaxError(f"unexpected {extra[1]!r}")
    return node
