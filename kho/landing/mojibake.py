"""UTF-8 text that was read as Windows-1252 (or Latin-1) and saved again as UTF-8: "Äá»“ng ThÃ¡p" for
"Đồng Tháp". Spreadsheet tools and old web exports do this; the bytes are valid UTF-8, so only the words
show it.

Registered as the codec ``utf-8+cp1252``, a candidate of :mod:`kho.landing.decode` like ``utf-8+tcvn3``: it
reads the bytes as UTF-8, then undoes the misreading line by line with ftfy's ``sloppy-windows-1252`` (cp1252
with the five bytes it leaves undefined kept, as the misreading tools keep them). A line is repaired only when
the repair is certain: it undoes exactly (the line encodes back and decodes as UTF-8), ftfy's own judgement
(``ftfy.fix_encoding``) gives the same text, and the detector finds the result Vietnamese throughout. Any other line is an error of the codec, so the detector never
chooses it for that file, and a file mixing repaired and unrepairable lines is refused as today.
"""

from __future__ import annotations

import codecs

import ftfy
import ftfy.bad_codecs  # noqa: F401 - registers sloppy-windows-1252

NAME = "utf-8+cp1252"
_MISREAD = "sloppy-windows-1252"


def repair_line(line: str, judged: bool = True) -> str | None:
    """The line as it was before the misreading, or None when that is not certain. ``judged``: ftfy must agree
    (whole lines; the detector also decodes single words, on which ftfy's judgement is not meant to work)."""
    if line.isascii():
        return line
    try:
        repaired = line.encode(_MISREAD).decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    if repaired == line or (judged and ftfy.fix_encoding(line) != repaired):
        return None
    return repaired


def _decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
    text = codecs.utf_8_decode(data, errors, True)[0]
    out, offset = [], 0
    for line in text.splitlines(keepends=True):
        repaired = repair_line(line, judged=line.endswith(("\n", "\r")))
        size = len(line.encode("utf-8"))
        if repaired is None:
            if errors == "strict":
                raise UnicodeDecodeError(NAME, data, offset, offset + size, "not UTF-8 misread as cp1252")
            repaired = ftfy.fix_encoding(line)
        out.append(repaired)
        offset += size
    return "".join(out), len(data)


def _encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
    """How the misreading tools wrote it (to build test files)."""
    return text.encode("utf-8").decode(_MISREAD).encode("utf-8"), len(text)


class _IncrementalDecoder(codecs.IncrementalDecoder):
    def decode(self, input: bytes, final: bool = False) -> str:  # noqa: A002 (the codecs API's name)
        return _decode(input, self.errors)[0]


class _IncrementalEncoder(codecs.IncrementalEncoder):
    def encode(self, input: str, final: bool = False) -> bytes:  # noqa: A002
        return _encode(input, self.errors)[0]


_INFO = codecs.CodecInfo(
    _encode,
    _decode,
    name=NAME,
    incrementalencoder=_IncrementalEncoder,
    incrementaldecoder=_IncrementalDecoder,
)


def _search(name: str) -> codecs.CodecInfo | None:
    return _INFO if name == "utf_8_cp1252" else None


codecs.register(_search)
