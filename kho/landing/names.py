"""Keys for matching administrative-unit names the way agencies actually write them.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

# The five Vietnamese tone marks as combining characters (NFD). The other marks (circumflex, breve,
# horn) change the letter itself and are never moved.
_TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")

# "Old style" puts the tone on the first vowel of an open oa/oe/uy (hòa, khỏe, thủy); "new style" on the
# second (hoà, khoẻ, thuỷ). Both are valid NFC, so NFC alone does not unify them. "qu" is a consonant,
# so "quý" is the same in both styles and is left alone.
_OPEN_DIPHTHONG = re.compile(r"(?<!q)(?:o[ae]|uy)$")

# Unit-type words written before a name. Compared on the accented, casefolded tokens: unaccented
# single words would eat real names (Quan Sơn, Tịnh Biên, Phương Mai, Xà Phìn all start with one).
# The unaccented multi-word forms start no real unit name, so they are safe to strip as well.
_PREFIXES: tuple[tuple[str, ...], ...] = tuple(
    tuple(prefix.split())
    for prefix in (
        "thành phố, thị xã, thị trấn, đặc khu, thủ đô, tỉnh, huyện, quận, xã, phường, "
        "tp, thanh pho, thi xa, thi tran, dac khu, thu do"
    ).split(", ")
)
# English unit-type words written after a name ("Ho Chi Minh city", "Ha Noi City", "Ba Dinh District").
_SUFFIXES = frozenset({"province", "city", "district", "ward", "commune", "town"})

_NON_WORD = re.compile(r"[\W_]+")


# The words _unify_tone may change (NFC, casefolded) end in an open oa / oe / uy, whatever its tone (the
# word's one tone may sit on another of its syllables: soft hyphens join words); a word with a combining
# mark is decomposed anyway. Any other word is left as it is, undecomposed.
_MAYBE_OPEN = re.compile("(?:[oòóỏõọ][aàáảãạeèéẻẽẹ]|[uùúủũụ][yỳýỷỹỵ])$|[\u0300-\u036f]")


def _unify_tone(word: str) -> str:
    """Move the tone of an open oa/oe/uy onto the first vowel, the style most of the GSO lists use."""
    return _unify_tone_slowly(word) if _MAYBE_OPEN.search(word) else word


def _unify_tone_slowly(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    tones = [c for c in decomposed if c in _TONE_MARKS]
    if len(tones) != 1:
        return word
    bare = "".join(c for c in decomposed if c not in _TONE_MARKS)
    found = _OPEN_DIPHTHONG.search(bare)
    if not found:
        return word
    at = found.start() + 1
    return unicodedata.normalize("NFC", bare[:at] + tones[0] + bare[at:])


def _strip_diacritics(word: str) -> str:
    bare = word.translate(_BARE)  # the usual case: Vietnamese letters, looked up
    return bare if bare.isascii() else _strip_diacritics_slowly(word)


def _strip_diacritics_slowly(word: str) -> str:
    # đ is a letter of its own, not d plus a mark, so NFD does not split it.
    decomposed = unicodedata.normalize("NFD", word.replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Each Latin letter with marks (Vietnamese's among them) -> what _strip_diacritics_slowly makes of it,
# where that is ASCII. Character by character is the same as the whole word: NFD decomposes each one.
_BARE = {
    code: bare
    for code in [*range(0xC0, 0x250), *range(0x1E00, 0x1F00)]
    if (bare := _strip_diacritics_slowly(chr(code))).isascii()
}


def _tokens(text: str) -> list[str]:
    """Casefolded, tone-unified words with unit-type words removed; punctuation and spacing dropped."""
    text = unicodedata.normalize("NFC", text)
    # Invisible format characters (soft hyphen, zero-width space) survive copy-paste and NFC.
    if not text.isprintable():  # every format character (Cf) is unprintable
        text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    text = text.casefold()
    words = [_unify_tone(w) for w in _NON_WORD.split(text) if w]
    words = [str(int(w)) if w.isdigit() else w for w in words]  # "Phường 01" is "Phường 1"
    for prefix in _PREFIXES:
        if len(words) > len(prefix) and tuple(words[: len(prefix)]) == prefix:
            words = words[len(prefix) :]
            break
    if len(words) > 1 and _strip_diacritics(words[-1]) in _SUFFIXES:
        words = words[:-1]
    return words


@lru_cache(maxsize=1 << 16)  # agencies repeat the same few thousand names on every row
def accent_key(text: str) -> str:
    """Compact key keeping diacritics, for names that only differ by them (commune level)."""
    return "".join(_tokens(text))


@lru_cache(maxsize=1 << 16)
def match_key(text: str) -> str:
    """Compact unaccented key: "Tỉnh Thừa Thiên Huế", "Thua Thien-Hue" and "THUA THIEN HUE" agree."""
    return "".join(_strip_diacritics(w) for w in _tokens(text))


def suggest(key: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The closest known keys to an unmatched one, best first, so a data steward can add an alias or fix
    a typo instead of guessing."""
    return difflib.get_close_matches(key, list(dict.fromkeys(candidates)), n=n, cutoff=0.6)
