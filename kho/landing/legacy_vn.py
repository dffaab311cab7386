"""TCVN3 (ABC) and VNI-Windows, the pre-Unicode Vietnamese encodings agencies still export, as Python codecs.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

# ---------------------------------------------------------------------------------------------- TCVN3

# TCVN 5712:1993 VN1, byte -> character, for the bytes that are not ASCII. One row per 16 bytes.
_TCVN3_HIGH = (
    "ÀẢÃÁẠẶẬÈẺẼÉẸỆÌỈĨ"  # 0x80  capitals with tones (VN1 only)
    "ÍỊÒỎÕÓỌỘỜỞỠỚỢÙỦŨ"  # 0x90
    "\u00a0ĂÂÊÔƠƯĐăâêôơưđẰ"  # 0xA0  the shaped letters, shared by VN1 and VN3
    "\u0300\u0309\u0303\u0301\u0323àảãáạẲằẳẵắẴ"  # 0xB0  five combining tone marks, then a/ă with tones
    "ẮẦẨẪẤỀặầẩẫấậèỂẻẽ"  # 0xC0
    "éẹềểễếệìỉỄẾỒĩíịò"  # 0xD0
    "Ổỏõóọồổỗốộờởỡớợù"  # 0xE0
    "ỖủũúụừửữứựỳỷỹýỵỐ"  # 0xF0
)
# The twelve capitals VN1 puts on C0 control codes that text files never use.
_TCVN3_C0 = {0x01: "Ú", 0x02: "Ụ", 0x04: "Ừ", 0x05: "Ử", 0x06: "Ữ", 0x11: "Ứ", 0x12: "Ự"}
_TCVN3_C0.update({0x13: "Ỳ", 0x14: "Ỷ", 0x15: "Ỹ", 0x16: "Ý", 0x17: "Ỵ"})

TCVN3_DECODING_TABLE = "".join(_TCVN3_C0.get(b, chr(b)) for b in range(128)) + _TCVN3_HIGH
assert len(TCVN3_DECODING_TABLE) == 256 and len(set(TCVN3_DECODING_TABLE)) == 256
_TCVN3_ENCODING_MAP = codecs.charmap_build(TCVN3_DECODING_TABLE)


def _tcvn3_encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
    return codecs.charmap_encode(text, errors, _TCVN3_ENCODING_MAP)


def _tcvn3_decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
    return codecs.charmap_decode(data, errors, TCVN3_DECODING_TABLE)


# ------------------------------------------------------------------------------------ TCVN3 in UTF-8

# What a TCVN3 byte became when a program read it as Latin-1 or as Windows-1252 and saved UTF-8:
# both readings occur, so both are mapped back to the TCVN3 letter.
_MISREAD_TCVN3: dict[int, str] = {}
for _b in range(256):
    _MISREAD_TCVN3[_b] = TCVN3_DECODING_TABLE[_b]
    try:
        _MISREAD_TCVN3[ord(bytes([_b]).decode("cp1252"))] = TCVN3_DECODING_TABLE[_b]
    except UnicodeDecodeError:
        pass
_NOT_MISREAD = re.compile("[^" + re.escape("".join(map(chr, _MISREAD_TCVN3))) + "]")


def _utf8_tcvn3_decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
    text = codecs.utf_8_decode(data, errors, True)[0]
    return _unmisread(text, data, errors), len(data)


def _unmisread(text: str, data: bytes, errors: str) -> str:
    """Turn UTF-8 mojibake of TCVN3 back into the TCVN3 letters; a character no misreading makes is an error."""
    try:
        return _tcvn3_decode(text.encode("latin-1"))[0]  # the common case, at C speed
    except UnicodeEncodeError:
        pass
    bad = _NOT_MISREAD.search(text)
    if bad and errors == "strict":
        start = len(text[: bad.start()].encode("utf-8"))
        end = start + len(bad.group().encode("utf-8"))
        raise UnicodeDecodeError("utf-8+tcvn3", data, start, end, "character is not TCVN3 read as Latin-1")
    if bad:
        text = _NOT_MISREAD.sub("\ufffd" if errors == "replace" else "", text)
    return text.translate(_MISREAD_TCVN3)


def _utf8_tcvn3_encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
    raw, _ = _tcvn3_encode(text, errors)
    return raw.decode("latin-1").encode("utf-8"), len(text)


class _Utf8Tcvn3IncrementalDecoder(codecs.IncrementalDecoder):
    def __init__(self, errors: str = "strict"):
        super().__init__(errors)
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors)

    def decode(self, input: bytes, final: bool = False) -> str:  # noqa: A002 (codecs API name)
        text = self._utf8.decode(input, final)
        return _unmisread(text, text.encode("utf-8", "surrogatepass"), self.errors)

    def reset(self) -> None:
        self._utf8.reset()


# ------------------------------------------------------------------------------------------------ VNI

# Mark bytes, as Windows-1252 shows them. Tones in the order sắc, huyền, hỏi, ngã, nặng.
_VNI_TONE = "ùøûõï"
_VNI_CIRCUMFLEX = "âáàåãä"  # â, then â with each tone: one byte carries both marks
_VNI_BREVE = "êéèúüë"  # ă, then ă with each tone
_UNICODE_TONE = "\u0301\u0300\u0309\u0303\u0323"

# Letters VNI writes as one byte: đ, ơ, ư, and i/y with tones (a mark would collide with the dot).
_VNI_SINGLE = {"ñ": "đ", "ô": "ơ", "ö": "ư", "í": "í", "ì": "ì", "æ": "ỉ", "ó": "ĩ", "ò": "ị", "î": "ỵ"}
_VNI_SINGLE |= {vni.upper(): letter.upper() for vni, letter in _VNI_SINGLE.items()}


def _vni_spellings() -> dict[str, str]:
    """Every Vietnamese letter with a mark, lower and upper case -> its VNI spelling (as cp1252 text)."""
    nfc = unicodedata.normalize
    spell: dict[str, str] = {}
    for base, written, marks in (
        ("a", "a", (_VNI_CIRCUMFLEX, _VNI_BREVE)),
        ("e", "e", (_VNI_CIRCUMFLEX,)),
        ("o", "o", (_VNI_CIRCUMFLEX,)),
        ("ơ", "ô", ()),
        ("u", "u", ()),
        ("ư", "ö", ()),
        ("y", "y", ()),
    ):
        for tone, byte in zip(_UNICODE_TONE, _VNI_TONE, strict=True):
            spell[nfc("NFC", base + tone)] = written + byte
        for shape_bytes in marks:
            shaped = nfc("NFC", base + ("\u0302" if shape_bytes is _VNI_CIRCUMFLEX else "\u0306"))
            spell[shaped] = written + shape_bytes[0]
            for tone, byte in zip(_UNICODE_TONE, shape_bytes[1:], strict=True):
                spell[nfc("NFC", shaped + tone)] = written + byte
    spell |= {letter: vni for vni, letter in _VNI_SINGLE.items() if letter.islower()}  # ỵ: "î", not "yï"
    spell |= {letter.upper(): vni.upper() for letter, vni in spell.items()}
    return spell


VNI_SPELLINGS = _vni_spellings()

# Byte -> character before base letters and marks are joined: Windows-1252 with the one-byte letters
# put in, so that offsets in the text are offsets in the bytes.
_UNDEFINED = "\ufffe"  # charmap_decode's marker for a byte without a character
_CP1252 = "".join(bytes([b]).decode("cp1252", "replace") for b in range(256)).replace("\ufffd", _UNDEFINED)
_VNI_TABLE = "".join(_VNI_SINGLE.get(char, char) for char in _CP1252)
_VNI_MARKS = _VNI_TONE + _VNI_CIRCUMFLEX + _VNI_BREVE
_VNI_MARKS += _VNI_MARKS.upper()
# Base letter + mark -> letter. Marks are read in either case; the letter keeps the base letter's case.
_VNI_PAIRS = {
    _VNI_SINGLE.get(vni[0], vni[0]) + mark: letter
    for letter, vni in VNI_SPELLINGS.items()
    if len(vni) == 2
    for mark in (vni[1], vni[1].swapcase())
}
_VNI_PAIRS |= {base + mark: {"y": "ỵ", "Y": "Ỵ"}[base] for base in "yY" for mark in "ïÏ"}  # beside "î"
_VNI_BASES = "".join(sorted({pair[0] for pair in _VNI_PAIRS}))
_VNI_PAIR = re.compile(f"([{_VNI_BASES}][{_VNI_MARKS}])")
_VNI_MARK = re.compile(f"[{_VNI_MARKS}]")


def _vni_decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
    """Decode VNI: the usual path is a few C-level passes; anything invalid goes to the careful one."""
    try:
        text = codecs.charmap_decode(data, "strict", _VNI_TABLE)[0]
    except UnicodeDecodeError:
        return _vni_decode_slowly(data, errors), len(data)
    parts = _VNI_PAIR.split(text)  # letter + mark pairs at the odd places
    letters = list(map(_VNI_PAIRS.get, parts[1::2]))
    if None in letters or _VNI_MARK.search("\n".join(parts[0::2])):  # a mark the letter cannot take, or alone
        return _vni_decode_slowly(data, errors), len(data)
    parts[1::2] = letters
    return "".join(parts), len(data)


def _vni_decode_slowly(data: bytes, errors: str) -> str:
    """Byte by byte, so that an error names its offset and the non-strict error handlers work."""
    out: list[str] = []
    i = 0
    while i < len(data):
        char = _VNI_TABLE[data[i]]
        pair = _VNI_PAIRS.get(char + _VNI_TABLE[data[i + 1]]) if i + 1 < len(data) else None
        if pair:
            out.append(pair)
            i += 2
        elif char == _UNDEFINED or char in _VNI_MARKS:
            reason = "undefined byte" if char == _UNDEFINED else "VNI mark without a letter it can sit on"
            replacement, i = codecs.lookup_error(errors)(UnicodeDecodeError("vni", data, i, i + 1, reason))
            out.append(replacement)
        else:
            out.append(char)
            i += 1
    return "".join(out)


_VNI_ENCODING_MAP = codecs.charmap_build(_CP1252)
# Characters whose Windows-1252 byte means something else in VNI ("ä" is the mark of "ậ"): not encodable.
_VNI_UNWRITABLE = re.compile(
    "[" + "".join(sorted(set(_VNI_MARKS + "".join(_VNI_SINGLE)) - set(VNI_SPELLINGS))) + "]"
)
_VNI_WRITE = str.maketrans(VNI_SPELLINGS)


def _vni_encode(text: str, errors: str = "strict") -> tuple[bytes, int]:
    bad = _VNI_UNWRITABLE.search(text)
    if bad:
        if errors == "strict":
            raise UnicodeEncodeError(
                "vni", text, bad.start(), bad.end(), "no VNI spelling for this character"
            )
        text = text[: bad.start()] + "?" + text[bad.end() :]
        return _vni_encode(text, errors)
    return codecs.charmap_encode(text.translate(_VNI_WRITE), errors, _VNI_ENCODING_MAP)[0], len(text)


class _VniIncrementalDecoder(codecs.BufferedIncrementalDecoder):
    """Holds back a trailing base letter: its mark may be the first byte of the next chunk."""

    def _buffer_decode(self, input: bytes, errors: str, final: bool) -> tuple[str, int]:  # noqa: A002
        keep = 0 if final or not input or _VNI_TABLE[input[-1]] not in _VNI_BASES else 1
        text, _ = _vni_decode(input[: len(input) - keep], errors)
        return text, len(input) - keep


# ----------------------------------------------------------------------------------------- registry


def _codec_info(name: str, encode, decode, incremental_decoder=None) -> codecs.CodecInfo:
    """Wrap a stateless encode/decode pair (and the VNI decoder that needs state) as a codec."""

    class IncrementalEncoder(codecs.IncrementalEncoder):
        def encode(self, input: str, final: bool = False) -> bytes:  # noqa: A002 (the codecs API's name)
            return encode(input, self.errors)[0]

    class IncrementalDecoder(codecs.IncrementalDecoder):
        def decode(self, input: bytes, final: bool = False) -> str:  # noqa: A002
            return decode(input, self.errors)[0]

    return codecs.CodecInfo(
        encode,
        decode,
        name=name,
        incrementalencoder=IncrementalEncoder,
        incrementaldecoder=incremental_decoder or IncrementalDecoder,
    )


_CODECS = {
    "tcvn3": _codec_info("tcvn3", _tcvn3_encode, _tcvn3_decode),
    "vni": _codec_info("vni", _vni_encode, _vni_decode, _VniIncrementalDecoder),
    "utf-8+tcvn3": _codec_info(
        "utf-8+tcvn3", _utf8_tcvn3_encode, _utf8_tcvn3_decode, _Utf8Tcvn3IncrementalDecoder
    ),
}
# Names as codecs.lookup hands them to a search function: lower case, punctuation turned into "_".
_ALIASES = {
    "tcvn3": "tcvn3",
    "tcvn_3": "tcvn3",
    "vni": "vni",
    "vni_windows": "vni",
    "utf_8_tcvn3": "utf-8+tcvn3",
}


def _search(name: str) -> codecs.CodecInfo | None:
    return _CODECS.get(_ALIASES.get(name, ""))


codecs.register(_search)


# ------------------------------------------------------------------------------------------ encoders


def encode_cp1258(text: str, errors: str = "strict") -> bytes:
    """Encode as Windows-1258 does: precomposed where cp1258 has the letter, else letter + tone mark.

    Python's cp1258 codec is a plain table, so it cannot encode "ộ" (cp1258 has "ô" and a combining
    dot below, not the composed letter). Needed to build test files and fixtures the way Windows writes them.
    """
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        decomposed = unicodedata.normalize("NFD", char)  # the dot below sorts before a circumflex
        tone = "".join(mark for mark in decomposed if mark in _UNICODE_TONE)
        shaped = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _UNICODE_TONE))
        out += (shaped + tone).encode("cp1258", errors)
    return bytes(out)


def encode_as(text: str, encoding: str) -> bytes:
    """Write NFC text the way a legacy system would: one of the names ``kho.landing.decode`` reports."""
    if encoding == "cp1258":
        return encode_cp1258(text)
    if encoding == "utf-8-sig":
        return codecs.BOM_UTF8 + text.encode("utf-8")
    return text.encode(encoding)
