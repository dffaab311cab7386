"""Text analysis for Vietnamese search: which words a text contains and how they are written in the index.

Vietnamese is written in syllables separated by spaces, so splitting on non-letters finds the words. Three
things then make matching forgiving without making it sloppy:

- Unicode normalisation (NFC) and case folding, so "LÚA", "lúa" and a decomposed (NFD) "lúa" are one word.
- A *tone key*: the tone mark moved to the end of the syllable. Two placements are in common use
  ("Hòa"/"Hoà", "Thủy"/"Thuỷ") and NFC does not unify them; their tone keys are equal.
- A *folded* form without any diacritics ("lua"), stored beside the tone key at the same position, so a
  query typed without diacritics still finds the word. A query typed *with* diacritics only matches
  the exact word: "lúa" (rice) does not find "lửa" (fire), but "lua" finds both.

Index and query use the same functions, which is what makes them agree.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_WORD = re.compile(r"[^\W_]+")  # letters and digits; underscores and punctuation separate words
_TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")  # huyền, sắc, ngã, hỏi, nặng
MAX_POSITION = 16383  # PostgreSQL's largest tsvector position


def words(text: str) -> list[str]:
    """The words of ``text``: NFC-normalised, case-folded, split on anything that is not a letter/digit."""
    return _WORD.findall(unicodedata.normalize("NFC", text).casefold())


def fold(word: str) -> str:
    """``word`` without diacritics: "lượng" -> "luong", "đông" -> "dong"."""
    decomposed = unicodedata.normalize("NFD", word.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tone_key(word: str) -> str:
    """``word`` with its tone mark moved to the end, so both tone placements give the same key.

    "hòa" and "hoà" -> "hoà"; "lúa" -> "luá". Vowel marks (circumflex, breve, horn) and "đ" stay.
    """
    decomposed = unicodedata.normalize("NFD", word)
    tones = [ch for ch in decomposed if ch in _TONE_MARKS]
    rest = "".join(ch for ch in decomposed if ch not in _TONE_MARKS)
    return unicodedata.normalize("NFC", rest + "".join(tones[-1:]))


def index_lexemes(word: str) -> list[str]:
    """The lexemes stored for one indexed word: its tone key and, if different, its folded form."""
    key, folded = tone_key(word), fold(word)
    return [key] if key == folded else [key, folded]


def query_lexeme(word: str) -> str:
    """The lexeme a query word must match: exact (tone key) if typed with diacritics, folded if not."""
    folded = fold(word)
    return folded if word == folded else tone_key(word)


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(texts: Iterable[tuple[str, str]], gap: int = 100) -> str:
    """A ``tsvector`` literal for ``(text, weight)`` pairs, weight one of A-D.

    The vector is written out in full (lexemes, positions and weights) rather than computed with
    ``to_tsvector``, so the result does not depend on the database's locale or text search config.
    Separate texts are ``gap`` positions apart so a phrase never matches across two fields.
    """
    positions: dict[str, list[str]] = {}
    position = 0
    for text, weight in texts:
        for word in words(text):
            position = min(position + 1, MAX_POSITION)
            for lexeme in index_lexemes(word):
                positions.setdefault(lexeme, []).append(f"{position}{weight}")
        position = min(position + gap, MAX_POSITION)
    return " ".join(f"{_quote(lexeme)}:{','.join(pos)}" for lexeme, pos in positions.items())


def tsquery_literal(text: str, prefix: bool = False, weights: str = "") -> str | None:
    """A ``tsquery`` literal matching ``text`` as a phrase (one word: that word); None if it has no words.

    With ``prefix`` the last word matches as a prefix, without diacritics (a prefix of a tone key is
    not a prefix of the word, so prefixes are always matched on the folded form). ``weights`` (e.g.
    "A") restricts the match to words indexed with those weights.
    """
    found = words(text)
    if not found:
        return None
    lexemes = [_quote(query_lexeme(w)) + (f":{weights}" if weights else "") for w in found]
    if prefix:
        lexemes[-1] = _quote(fold(found[-1])) + f":*{weights}"
    return " <-> ".join(lexemes)


def sort_key(text: str) -> str:
    """A key that sorts Vietnamese titles sensibly under any collation: by folded form, then exact form."""
    normalised = unicodedata.normalize("NFC", text).strip().casefold()
    return f"{fold(normalised)}\x1f{normalised}"
