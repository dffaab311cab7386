"""A parser for the subset of Lucene query syntax that CKAN (core, its views, ckanext-dcat) sends to Solr.

Supported: ``field:value``, ``field:"a phrase"``, ``field:(a OR b)``, ``field:[low TO high]`` (and ``{}``
for exclusive bounds), ``field:*``, ``*:*``, trailing ``*`` prefixes and ``*``/``?`` wildcards, ``+``/``-``/
``!`` prefixes, ``AND``/``OR``/``NOT`` (and ``&&``/``||``), parentheses, backslash escapes. Boosts (``^4``)
and fuzziness (``~2``) are accepted and ignored. Juxtaposed clauses are ANDed: CKAN always sends
``q.op=AND``.

The result is a small tree of frozen dataclasses; :mod:`ckanext.kho.search.sql` turns it into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass


class QuerySyntaxError(ValueError):
    """The query is not in the supported subset of Lucene syntax."""


# --- the tree ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchAll:
    pass


@dataclass(frozen=True)
class Term:
    """A word or a quoted phrase; ``field`` None means the default (free-text) field."""

    field: str | None
    value: str
    phrase: bool = False


@dataclass(frozen=True)
class Prefix:
    field: str | None
    value: str


@dataclass(frozen=True)
class Wildcard:
    """``*`` and ``?`` anywhere in the value; ``like`` is the equivalent SQL LIKE pattern."""

    field: str | None
    like: str


@dataclass(frozen=True)
class Exists:
    field: str


@dataclass(frozen=True)
class Range:
    field: str
    low: str | None  # None: unbounded (``*``)
    high: str | None
    include_low: bool = True
    include_high: bool = True


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class And:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    nodes: tuple[Node, ...]


Node = MatchAll | Term | Prefix | Wildcard | Exists | Range | Not | And | Or


# --- tokens --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # ( ) AND OR NOT + FIELD WORD PHRASE RANGE
    text: str = ""
    like: str | None = None  # WORD with unescaped wildcards: the LIKE pattern
    range: tuple[str, str, bool, bool] | None = None


_OPERATOR_WORDS = {"AND": "AND", "OR": "OR", "NOT": "NOT", "&&": "AND", "||": "OR"}
_TERM_END = set('()":^~') | {" ", "\t", "\n", "\r"}
_LIKE_SPECIALS = {"%": "\\%", "_": "\\_", "\\": "\\\\"}


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)

    def at_clause_start() -> bool:
        return i == 0 or query[i - 1].isspace() or query[i - 1] == "("

    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(_Token(ch))
            i += 1
        elif query.startswith(("&&", "||"), i):
            tokens.append(_Token(_OPERATOR_WORDS[query[i : i + 2]]))
            i += 2
        elif ch in "+-!" and at_clause_start() and i + 1 < n and not query[i + 1].isspace():
            tokens.append(_Token("NOT" if ch in "-!" else "+"))
            i += 1
        elif ch in "^~":  # boost or fuzziness of the previous term: ignored
            i += 1
            while i < n and (query[i].isdigit() or query[i] == "."):
                i += 1
        elif ch == '"':
            end, text = _read_phrase(query, i + 1)
            tokens.append(_Token("PHRASE", text))
            i = end
        elif ch in "[{" and tokens and tokens[-1].kind == "FIELD":
            end = _find_range_end(query, i)
            tokens.append(_Token("RANGE", range=_parse_range(query[i : end + 1])))
            i = end + 1
        else:
            i = _read_term(query, i, tokens)
    return tokens


def _read_phrase(query: str, i: int) -> tuple[int, str]:
    out = []
    while i < len(query):
        ch = query[i]
        if ch == "\\" and i + 1 < len(query):
            out.append(query[i + 1])
            i += 2
        elif ch == '"':
            return i + 1, "".join(out)
        else:
            out.append(ch)
            i += 1
    raise QuerySyntaxError(f"unterminated phrase in {query!r}")


def _find_range_end(query: str, i: int) -> int:
    for j in range(i + 1, len(query)):
        if query[j] in "]}":
            return j
    raise QuerySyntaxError(f"unterminated range in {query!r}")


def _parse_range(text: str) -> tuple[str, str, bool, bool]:
    inner = text[1:-1].strip()
    parts = inner.split(" TO ")
    if len(parts) != 2:
        raise QuerySyntaxError(f"a range needs 'low TO high', found {text!r}")
    low, high = (p.strip().strip('"') for p in parts)
    return low, high, text[0] == "[", text[-1] == "]"


def _read_term(query: str, i: int, tokens: list[_Token]) -> int:
    """Read a bare term (or ``field:``) starting at ``i``; append its token; return the next index."""
    literal, like, wildcard = [], [], False
    n = len(query)
    while i < n and query[i] not in _TERM_END:
        ch = query[i]
        if ch == "\\" and i + 1 < n:
            ch = query[i + 1]
            literal.append(ch)
            like.append(_LIKE_SPECIALS.get(ch, ch))
            i += 2
            continue
        if ch in "*?":
            wildcard = True
            like.append("%" if ch == "*" else "_")
        else:
            like.append(_LIKE_SPECIALS.get(ch, ch))
        literal.append(ch)
        i += 1
    text = "".join(literal)
    if i < n and query[i] == ":":
        tokens.append(_Token("FIELD", text))
        return i + 1
    if not text:
        raise QuerySyntaxError(f"unexpected {query[i]!r} at position {i} in {query!r}")
    if text in _OPERATOR_WORDS and not wildcard:
        tokens.append(_Token(_OPERATOR_WORDS[text]))
    else:
        tokens.append(_Token("WORD", text, like="".join(like) if wildcard else None))
    return i


# --- parser --------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[_Token], source: str):
        self.tokens = tokens
        self.pos = 0
        self.source = source

    def peek(self) -> str | None:
        return self.tokens[self.pos].kind if self.pos < len(self.tokens) else None

    def take(self) -> _Token:
        if self.pos >= len(self.tokens):
            raise QuerySyntaxError(f"query ends too early: {self.source!r}")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.or_expr(None)
        if self.peek() is not None:
            raise QuerySyntaxError(f"unexpected {self.tokens[self.pos].kind!r} in {self.source!r}")
        return node

    def or_expr(self, field: str | None) -> Node:
        nodes = [self.and_expr(field)]
        while self.peek() == "OR":
            self.take()
            nodes.append(self.and_expr(field))
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def and_expr(self, field: str | None) -> Node:
        nodes = [self.unary(field)]
        while self.peek() not in (None, ")", "OR"):
            if self.peek() == "AND":
                self.take()
            nodes.append(self.unary(field))
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def unary(self, field: str | None) -> Node:
        if self.peek() == "NOT":
            self.take()
            return Not(self.unary(field))
        if self.peek() == "+":
            self.take()
            return self.unary(field)
        return self.atom(field)

    def atom(self, field: str | None) -> Node:
        token = self.take()
        if token.kind == "(":
            node = self.or_expr(field)
            if self.take().kind != ")":
                raise QuerySyntaxError(f"missing ')' in {self.source!r}")
            return node
        if token.kind == "FIELD":
            return self.field_value(token.text)
        if token.kind in ("WORD", "PHRASE"):
            return _leaf(field, token)
        raise QuerySyntaxError(f"unexpected {token.kind!r} in {self.source!r}")

    def field_value(self, field: str) -> Node:
        if self.peek() == "(":
            self.take()
            node = self.or_expr(field)
            if self.take().kind != ")":
                raise QuerySyntaxError(f"missing ')' in {self.source!r}")
            return node
        token = self.take()
        if token.kind == "RANGE":
            low, high, include_low, include_high = token.range  # type: ignore[misc]
            return Range(
                field, None if low == "*" else low, None if high == "*" else high, include_low, include_high
            )
        if token.kind in ("WORD", "PHRASE"):
            return _leaf(field, token)
        raise QuerySyntaxError(f"expected a value after '{field}:' in {self.source!r}")


def _leaf(field: str | None, token: _Token) -> Node:
    if token.kind == "PHRASE":
        return Term(field, token.text, phrase=True)
    if token.like is None:
        return Term(field, token.text)
    if token.text == "*":
        return MatchAll() if field in (None, "*") else Exists(field)
    if token.text.endswith("*") and "*" not in token.text[:-1] and "?" not in token.text:
        return Prefix(field, token.text[:-1])
    return Wildcard(field, token.like)


def parse(query: str) -> Node:
    """Parse a Lucene query string; raise :class:`QuerySyntaxError` if it is outside the subset."""
    if not query or not query.strip():
        return MatchAll()
    return _Parser(_tokenize(query), query).parse()


def parse_words(query: str) -> Node:
    """Fallback for free text that does not parse (a stray quote or parenthesis): all words, ANDed."""
    cleaned = "".join(" " if ch in '()"[]{}:^~\\' else ch for ch in query).split()
    terms = tuple(Term(None, word.lstrip("+-!")) for word in cleaned if word.lstrip("+-!"))
    if not terms:
        return MatchAll()
    return terms[0] if len(terms) == 1 else And(terms)
