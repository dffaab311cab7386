"""Turn delivered bytes into NFC text, or refuse them.

Why it works this way: docs/design.md.
"""

from __future__ import annotations

import codecs
import functools
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import kho.landing.legacy_vn  # noqa: F401 (registers the tcvn3, vni and utf-8+tcvn3 codecs)
import kho.landing.mojibake  # noqa: F401 (registers utf-8+cp1252: UTF-8 misread as cp1252, repaired)
from kho.errors import DeliveryError, Plain, Problem

BOM = b"\xef\xbb\xbf"

# The names ``decode`` reports. "utf-8-sig" is UTF-8 that starts with a BOM.
ENCODINGS = ("utf-8", "utf-8-sig", "cp1258", "tcvn3", "vni", "utf-8+tcvn3", "utf-8+cp1252")
# What detection tries, in the order preferred when two give the very same text.
CANDIDATES = ("utf-8", "cp1258", "tcvn3", "vni", "utf-8+tcvn3", "utf-8+cp1252")

# Detection reads lines that are not plain ASCII (only those tell encodings apart): a first look, then,
# if that is not conclusive, up to SAMPLE_BYTES.
FIRST_LOOK_BYTES = 64 * 1024
SAMPLE_BYTES = 1024 * 1024
BLOCK_BYTES = 1024 * 1024  # decoding works on blocks of whole lines of about this size
THRESHOLD = 0.8  # the share of words that must read as Vietnamese
MARGIN = 0.15  # a second reading this close to the best one makes the file ambiguous
LEXICAL_EVIDENCE = 2  # common words that must tell apart two readings which both spell as Vietnamese
SUSPECTS = 4096  # distinct suspicious pieces per file whose first line is read in the other encodings

Read = Callable[[int], bytes]


@dataclass(frozen=True)
class Decoded:
    """NFC text, the encoding it was found in (one of ``ENCODINGS``), and how sure that is (0..1)."""

    text: str
    encoding: str
    confidence: float


def decode_utf8(data: bytes, dataset: str, file: str) -> str:
    """Decode UTF-8 (with or without BOM) to NFC text; name the first undecodable byte's line."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DeliveryError(
            Problem(
                dataset,
                file,
                line,
                None,
                "UTF-8 text",
                Plain(f"byte 0x{data[exc.start]:02x} at offset {exc.start}"),
            )
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise DeliveryError(Problem(dataset, file, line, None, "text without NUL bytes", Plain("a NUL byte")))
    return unicodedata.normalize("NFC", text)


def decode(data: bytes, dataset: str, file: str, declared: str = "auto") -> Decoded:
    """Decode a whole delivery to NFC text, detecting its encoding unless one is declared.

    A declared encoding is still checked: the bytes must decode, and no line may read as Vietnamese only
    in another encoding (which is what a wrong declaration, or a file mixing two systems, looks like).
    The lines after the detection sample get the same check.
    """
    if declared == "auto":
        encoding, confidence = _detect(data, dataset, file, complete=True)
    else:
        encoding, confidence = _canonical(declared), None
        if encoding in ("utf-8", "utf-8-sig"):
            encoding = "utf-8-sig" if data.startswith(BOM) else "utf-8"
    check = _Check(_codec(encoding), dataset, file)
    text = "".join(_decode_blocks(io.BytesIO(data).read, encoding, dataset, file, check))
    if confidence is None:
        confidence = check.words.confidence(encoding) if _HIGH_BYTE.search(data) else 1.0
    return Decoded(text, encoding, confidence)


def detect(sample: bytes, dataset: str, file: str) -> str:
    """The encoding of a delivery from its first bytes (``SAMPLE_BYTES`` is plenty); refuses like ``decode``.

    The sample may end in the middle of a line or of a character: that end is left out.
    """
    return _detect(sample, dataset, file, complete=False)[0]


def iter_decoded_lines(
    stream: BinaryIO, encoding: str, *, dataset: str = "", file: str = "", check: bool = True
) -> Iterator[str]:
    """Yield NFC lines, with their line ends (as ``csv.reader`` wants them), from a binary stream.

    ``encoding`` is one of ``ENCODINGS`` or "auto" (detected from the first ``SAMPLE_BYTES``). Memory stays
    at a block of about ``BLOCK_BYTES`` plus the longest line. With ``check``, a block that has words
    which are not Vietnamese is checked for lines written in another encoding, as ``decode`` does.
    """
    file = file or str(getattr(stream, "name", "<stream>"))
    read: Read = stream.read
    if encoding == "auto":
        head = stream.read(SAMPLE_BYTES)
        encoding = _detected(head, dataset, file)
        read = _prepend(head, stream.read)
    else:
        encoding = _canonical(encoding)
    checker = _Check(_codec(encoding), dataset, file) if check else None
    for text in _decode_blocks(read, encoding, dataset, file, checker):
        lines = text.split("\n")
        for line in lines[:-1]:
            yield line + "\n"
        if lines[-1]:
            yield lines[-1]


def encoding_of(stream: BinaryIO, declared: str, dataset: str = "", file: str = "") -> str:
    """The encoding ``iter_decoded_lines`` would read the stream in (it reads the first bytes)."""
    if declared == "auto":
        return _detected(stream.read(SAMPLE_BYTES), dataset, file)
    return _canonical(declared)


def decoded_blocks(read: Read, encoding: str, dataset: str = "", file: str = "") -> Iterator[str]:
    """NFC text in blocks of whole lines, refusing NUL bytes and undecodable bytes, without the check for
    lines in another encoding (whose caller makes its own, see ``reads_badly`` and ``reads_elsewhere``)."""
    return _decode_blocks(read, encoding, dataset, file, None)


def utf8_blocks(read: Read, encoding: str, dataset: str = "", file: str = "") -> Iterator[bytes]:
    """What :func:`decoded_blocks` gives, as UTF-8 bytes: a UTF-8 block already in NFC (the usual delivery)
    is passed on as it came, without encoding its text again."""
    codec = _codec(encoding)
    for line, offset, block in _line_blocks(read):
        if offset == 0 and block.startswith(BOM) and codec in ("utf-8", "utf-8+tcvn3"):
            block, offset = block[len(BOM) :], len(BOM)
        if codec == "utf-8" and block.isascii():
            _refuse_nul(block, line, offset, dataset, file)
            yield block  # ASCII is UTF-8 and NFC already
            continue
        _refuse_nul(block, line, offset, dataset, file)
        try:
            text = block.decode(codec)
        except UnicodeDecodeError as exc:
            raise DeliveryError(_undecodable(block, exc, line, offset, encoding, dataset, file)) from None
        nfc = _nfc(text)
        yield block if codec == "utf-8" and nfc is text else nfc.encode("utf-8")


def reads_badly(word: str) -> bool:
    """The text has a word with a letter beyond ASCII that is not Vietnamese (or a stray symbol)."""
    return _piece_words(word).bad > 0


def reads_elsewhere(raw: bytes, codec: str = "utf-8") -> bool:
    """The bytes decode in another candidate encoding with nothing in them that is not Vietnamese."""
    for other in CANDIDATES:
        if other != codec:
            reading = _Reading.of([(0, raw)], other)
            if reading.failure is None and reading.verdicts[0].bad == 0:
                return True
    return False


# ------------------------------------------------------------------------------------- detection


def _detected(head: bytes, dataset: str, file: str) -> str:
    return _detect(head, dataset, file, complete=len(head) < SAMPLE_BYTES)[0]


def _detect(data: bytes, dataset: str, file: str, complete: bool) -> tuple[str, float]:
    has_bom = data.startswith(BOM)
    if has_bom:
        data = data[len(BOM) :]
    if not complete:
        data = _whole_lines(data)
    _refuse_nul(data, 1, 0, dataset, file)
    candidates = ("utf-8", "utf-8+tcvn3", "utf-8+cp1252") if has_bom else CANDIDATES
    lines = _evidence_lines(data, FIRST_LOOK_BYTES)
    try:
        encoding, confidence = _choose([_Reading.of(lines, c) for c in candidates], dataset, file)
    except DeliveryError:
        more = _evidence_lines(data, SAMPLE_BYTES)
        if len(more) == len(lines):
            raise
        encoding, confidence = _choose([_Reading.of(more, c) for c in candidates], dataset, file)
    if encoding == "utf-8" and has_bom:
        encoding = "utf-8-sig"
    return encoding, confidence


def _whole_lines(sample: bytes) -> bytes:
    """Cut a sample read from a stream back to its last line end (or its last complete UTF-8 character)."""
    end = sample.rfind(b"\n") + 1
    if end:
        return sample[:end]
    try:
        return sample[: codecs.utf_8_decode(sample, "strict", False)[1]]
    except UnicodeDecodeError:
        return sample


def _evidence_lines(data: bytes, limit: int) -> list[tuple[int, bytes]]:
    """(line number, bytes) of the lines that are not plain ASCII, up to ``limit`` bytes of them."""
    found: list[tuple[int, bytes]] = []
    size = pos = counted = 0
    line_no = 1
    while size < limit and (match := _HIGH_BYTE.search(data, pos)):
        start = data.rfind(b"\n", 0, match.start()) + 1
        end = data.find(b"\n", match.start())
        end = len(data) if end < 0 else end
        line_no += data.count(b"\n", counted, start)
        counted = start
        found.append((line_no, data[start:end]))
        size += end - start
        pos = end
    return found


# Bytes beyond ASCII, and the C0 codes where TCVN3's fuller VN1 set puts twelve capitals (Ú, Ỷ...).
_HIGH_BYTE = re.compile(rb"[\x80-\xff\x01\x02\x04-\x06\x11-\x17]")


@dataclass
class _Reading:
    """One candidate encoding's reading of the evidence lines."""

    encoding: str
    lines: list[int]  # line numbers in the file
    texts: list[str | None]  # per line; None: the line does not decode
    verdicts: list[_Words]  # per line
    failure: tuple[int, str] | None = None  # the first line that does not decode, and the byte
    words: _Words = field(default_factory=lambda: _Words())

    @classmethod
    def of(cls, lines: list[tuple[int, bytes]], encoding: str) -> _Reading:
        numbers = [no for no, _ in lines]
        raws = [raw for _, raw in lines]
        try:
            texts: list[str | None] = list(_nfc(b"\n".join(raws).decode(encoding)).split("\n"))
            failure = None
        except UnicodeDecodeError:
            texts, failure = [], None
            for no, raw in lines:
                try:
                    texts.append(_nfc(raw.decode(encoding)))
                except UnicodeDecodeError as exc:
                    texts.append(None)
                    failure = failure or (no, f"byte 0x{raw[exc.start]:02x}")
        verdicts = [_words(text) if text is not None else _Words() for text in texts]
        reading = cls(encoding, numbers, texts, verdicts, failure)
        for words in verdicts:
            reading.words.add(words)
        return reading

    def clean(self, i: int) -> bool:
        """Line i decodes, has Vietnamese words, and nothing in it that is not Vietnamese."""
        return self.texts[i] is not None and self.verdicts[i].good > 0 and self.verdicts[i].bad == 0

    def broken(self, i: int) -> bool:
        return self.texts[i] is None or self.verdicts[i].bad > 0

    @property
    def clean_throughout(self) -> bool:
        return self.failure is None and self.words.good > 0 and self.words.bad == 0


def _choose(readings: list[_Reading], dataset: str, file: str) -> tuple[str, float]:
    """Pick the reading that is Vietnamese, or refuse with the line that shows why none clearly is."""
    if not readings[0].lines:
        return "utf-8", 1.0  # plain ASCII: every candidate gives the same text
    by_name = {reading.encoding: reading for reading in readings}
    utf8, repair = by_name["utf-8"], by_name["utf-8+tcvn3"]
    # Valid UTF-8 whose words are all Vietnamese is UTF-8: reading it as double-encoded TCVN3 is a repair,
    # and a repair needs mojibake to repair, or at least clearly more common words ("Phó" is "Phú").
    if utf8.failure is None and utf8.words.bad == 0:
        if not (repair.clean_throughout and repair.words.familiar >= utf8.words.familiar + LEXICAL_EVIDENCE):
            return utf8.encoding, utf8.words.confidence(utf8.encoding)
    ranked: list[_Reading] = []
    for reading in sorted(
        (r for r in readings if r.failure is None),
        key=lambda r: (r.words.quality, r.words.share, r.words.good),
        reverse=True,
    ):
        if all(reading.texts != other.texts for other in ranked):  # the same text is the same answer
            ranked.append(reading)
    best = ranked[0] if ranked else None
    if best is None or best.words.good == 0 or best.words.share < THRESHOLD:
        raise DeliveryError(_unreadable(readings, best, dataset, file))
    if len(ranked) > 1 and _rivals(best, ranked[1]):
        raise DeliveryError(_ambiguous(best, ranked[1], dataset, file))
    for i in range(len(best.lines)):
        if best.broken(i):
            for other in readings:
                if other is not best and other.clean(i):
                    raise DeliveryError(_mixed(best, other, i, dataset, file))
    return best.encoding, best.words.confidence(best.encoding)


def _rivals(best: _Reading, runner: _Reading) -> bool:
    """Whether the second reading is too close to the best one to choose between them."""
    if not runner.words.plausible:
        return False
    if runner.words.quality >= best.words.quality - MARGIN:
        return True
    # Both spell as Vietnamese ("Nói" / "Núi"): only common words tell them apart, and one word is chance.
    return runner.words.share >= THRESHOLD and best.words.familiar - runner.words.familiar < LEXICAL_EVIDENCE


def _ambiguous(best: _Reading, runner: _Reading, dataset: str, file: str) -> Problem:
    i = next(i for i in range(len(best.lines)) if best.texts[i] != runner.texts[i])
    return Problem(
        dataset,
        file,
        best.lines[i],
        None,
        f"text that reads as Vietnamese in one encoding only (tried {best.encoding}, {runner.encoding};"
        " declare the encoding)",
        Plain(
            f"{_snippet(best.texts[i])!r} ({best.encoding}) or {_snippet(runner.texts[i])!r} ({runner.encoding})"
        ),
    )


def _mixed(best: _Reading, other: _Reading, i: int, dataset: str, file: str) -> Problem:
    first = next((j for j in range(len(best.lines)) if best.clean(j)), None)
    like = f", like line {best.lines[first]}" if first is not None else ""
    return Problem(
        dataset,
        file,
        best.lines[i],
        None,
        f"{best.encoding} throughout{like}",
        Plain(f"{_snippet(other.texts[i])!r}, which reads as {other.encoding}"),
    )


def _unreadable(readings: list[_Reading], best: _Reading | None, dataset: str, file: str) -> Problem:
    """Why no reading is good enough: lines in two encodings, one encoding broken on a line, or no Vietnamese."""
    tried = ", ".join(r.encoding for r in readings)
    winners = []  # (line index, the reading that alone reads that line cleanly)
    for i in range(len(readings[0].lines)):
        clean = [r for r in readings if r.clean(i)]
        if clean and len({r.texts[i] for r in clean}) == 1:
            winners.append((i, clean[0]))
    if winners:
        i0, first = winners[0]
        for i, reading in winners:
            if reading.encoding != first.encoding:
                return _mixed(first, reading, i, dataset, file)
        if first.failure:
            line, byte = first.failure
            return Problem(
                dataset, file, line, None, f"{first.encoding} text, like line {first.lines[i0]}", Plain(byte)
            )
    if best is None:
        line, byte = readings[0].failure or (readings[0].lines[0], "?")
        return Problem(dataset, file, line, None, f"text in one of {tried}", Plain(byte))
    if readings[0].failure is None:
        best = readings[0]  # valid UTF-8 that is not Vietnamese: show it as UTF-8, not as a repair of it
    if best.words.good == 0:
        return Problem(
            dataset,
            file,
            best.lines[0],
            None,
            f"Vietnamese words to tell the encoding by (tried {tried}; declare the encoding)",
            Plain(repr(_snippet(best.texts[0]))),
        )
    i = next(i for i in range(len(best.lines)) if best.broken(i))
    return Problem(
        dataset,
        file,
        best.lines[i],
        None,
        f"Vietnamese text in one of {tried}",
        Plain(
            f"{best.verdicts[i].first!r}; the best reading, {best.encoding}, is {best.words.share:.0%} Vietnamese"
        ),
    )


def _snippet(text: str | None, limit: int = 30) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# ------------------------------------------------------------------------------------ decoding


def _canonical(name: str) -> str:
    """The name ``decode`` reports for a declared one (UTF8, windows-1258, VNI-Windows...); else ValueError."""
    try:
        found = codecs.lookup(name).name
    except LookupError:
        found = ""
    if found not in ENCODINGS:
        raise ValueError(f"unknown encoding {name!r}: expected one of {', '.join(ENCODINGS)} or 'auto'")
    return found


def _codec(encoding: str) -> str:
    return "utf-8" if encoding == "utf-8-sig" else encoding


def _decode_blocks(read: Read, encoding: str, dataset: str, file: str, check: _Check | None) -> Iterator[str]:
    """Decode block after block of whole lines to NFC text; refuse NUL bytes, undecodable and stray lines."""
    codec = _codec(encoding)
    for line, offset, block in _line_blocks(read):
        if offset == 0 and block.startswith(BOM) and codec in ("utf-8", "utf-8+tcvn3", "utf-8+cp1252"):
            block, offset = block[len(BOM) :], len(BOM)
        _refuse_nul(block, line, offset, dataset, file)
        try:
            text = _nfc(block.decode(codec))
        except UnicodeDecodeError as exc:
            if check is not None:  # an earlier line of the block may already be in the other encoding
                check.block(block[: block.rfind(b"\n", 0, exc.start) + 1], line)
            raise DeliveryError(_undecodable(block, exc, line, offset, encoding, dataset, file)) from None
        if check is not None and _HIGH_BYTE.search(block):
            check.block(block, line)
        yield text


def _line_blocks(read: Read) -> Iterator[tuple[int, int, bytes]]:
    """(first line number, byte offset, bytes) of blocks that end at a line end (the last one may not)."""
    pending = b""
    line, offset = 1, 0
    while chunk := read(BLOCK_BYTES):
        buffer = pending + chunk
        cut = buffer.rfind(b"\n") + 1
        if cut == 0:  # a line longer than a block: keep reading until it ends
            pending = buffer
            continue
        block, pending = buffer[:cut], buffer[cut:]
        yield line, offset, block
        line += block.count(b"\n")
        offset += len(block)
    if pending:
        yield line, offset, pending


def _prepend(head: bytes, read: Read) -> Read:
    """A read function that first returns ``head`` (already read for detection), then the rest."""
    first = [head]

    def reader(size: int) -> bytes:
        return first.pop() if first else read(size)

    return reader


def _refuse_nul(data: bytes, line: int, offset: int, dataset: str, file: str) -> None:
    at = data.find(b"\x00")
    if at >= 0:
        line += data.count(b"\n", 0, at)
        found = Plain(f"a NUL byte at offset {offset + at} (UTF-16, or not text)")
        raise DeliveryError(Problem(dataset, file, line, None, "text without NUL bytes", found))


def _undecodable(
    block: bytes, exc: UnicodeDecodeError, line: int, offset: int, encoding: str, dataset: str, file: str
) -> Problem:
    """A byte the encoding cannot decode: name it, and the one encoding its line reads in, if there is one."""
    line += block.count(b"\n", 0, exc.start)
    start = block.rfind(b"\n", 0, exc.start) + 1
    end = block.find(b"\n", exc.start)
    raw = block[start : end if end >= 0 else len(block)]
    clean = [r for c in CANDIDATES if c != encoding and (r := _Reading.of([(line, raw)], c)).clean(0)]
    found = f"byte 0x{block[exc.start]:02x} at offset {offset + exc.start}"
    if len({r.texts[0] for r in clean}) == 1:
        found += f": {_snippet(clean[0].texts[0])!r} in {clean[0].encoding}"
    return Problem(dataset, file, line, None, f"{encoding} text", Plain(found))


@dataclass
class _Check:
    """Checks each block of a file for lines in another encoding, and counts its words for the confidence.

    Works on the bytes split at white space: pieces repeat, so each distinct one is decoded and read once,
    and the line of a suspicious piece is read in the other encodings only the first time the piece is seen.
    """

    codec: str
    dataset: str
    file: str
    words: _Words = field(default_factory=lambda: _Words())
    examined: set[bytes] = field(default_factory=set)

    def block(self, block: bytes, line: int) -> None:
        controls = _CONTROL_BYTES.search(block) is not None
        good = familiar = bad = 0
        for piece, count in Counter(block.split()).items():
            if piece.isascii() and not (controls and _CONTROL_BYTES.search(piece)):
                continue
            words = _raw_piece_words(piece, self.codec)
            good, familiar, bad = (
                good + words.good * count,
                familiar + words.familiar * count,
                bad + words.bad * count,
            )
            if words.bad and piece not in self.examined and len(self.examined) < SUSPECTS:
                self.examined.add(piece)
                self._examine(block, block.find(piece), line)
        self.words.add(_Words(good, familiar, bad))

    def _examine(self, block: bytes, at: int, line: int) -> None:
        """Refuse the line at ``at`` if it reads cleanly in another encoding."""
        start = block.rfind(b"\n", 0, at) + 1
        end = block.find(b"\n", at)
        raw = block[start : end if end >= 0 else len(block)]
        for other in CANDIDATES:
            if other != self.codec and _Reading.of([(0, raw)], other).clean(0):
                evidence = [(line + block.count(b"\n", 0, start), raw)]
                own, reading = _Reading.of(evidence, self.codec), _Reading.of(evidence, other)
                raise DeliveryError(_mixed(own, reading, 0, self.dataset, self.file))


@functools.lru_cache(maxsize=1 << 17)
def _raw_piece_words(piece: bytes, codec: str) -> _Words:
    """How a piece of the bytes reads in an encoding. Cached and shared: read it, never change it."""
    text = _nfc(piece.decode(codec))
    words = _Words()
    words.add(_piece_words(text))
    controls = _CONTROL.findall(text)
    if controls:
        words.add(_Words(bad=len(controls), first=controls[0]))
    return words


# -------------------------------------------------------------------------- Vietnamese spelling


@dataclass
class _Words:
    """How a text reads: its words with a letter beyond ASCII, Vietnamese (and common) or not."""

    good: int = 0  # Vietnamese syllables
    familiar: int = 0  # of which common ones
    bad: int = 0  # words that are not Vietnamese, and stray symbols
    first: str = ""  # the first bad one, for messages

    def add(self, other: _Words, times: int = 1) -> None:
        self.good += other.good * times
        self.familiar += other.familiar * times
        self.bad += other.bad * times
        self.first = self.first or other.first

    @property
    def share(self) -> float:
        """The share of words that are Vietnamese: what a reading must reach (THRESHOLD)."""
        return self.good / (self.good + self.bad) if self.good + self.bad else 1.0

    @property
    def quality(self) -> float:
        """Like ``share``, but a syllable nobody writes counts half: ranks readings that both spell well."""
        total = self.good + self.bad
        return (self.familiar + (self.good - self.familiar) / 2) / total if total else 1.0

    @property
    def plausible(self) -> bool:
        return self.good > 0 and self.share >= THRESHOLD - MARGIN

    def confidence(self, encoding: str) -> float:
        """The share of Vietnamese words, discounted when there are few: each word halves the doubt left.

        Valid multi-byte UTF-8 is evidence of its own, worth a few words.
        """
        count = self.good + self.bad + (3 if encoding in ("utf-8", "utf-8-sig") else 0)
        return round(self.share * (1 - 0.5**count), 3)


def _words(text: str) -> _Words:
    """Read a text's words. Splitting at white space first is what makes this fast: the pieces repeat."""
    words = _Words()
    for piece, count in Counter(text.split()).items():
        if not piece.isascii():
            words.add(_piece_words(piece), count)
    controls = _CONTROL.findall(text)
    if controls:
        words.add(_Words(bad=len(controls), first=controls[0]))
    return words


@functools.lru_cache(maxsize=1 << 17)
def _piece_words(piece: str) -> _Words:
    """How a piece of text between white space reads. Cached and shared: read it, never change it."""
    words = _Words()
    for item in _EVIDENCE.findall(piece):
        verdict = _verdict(item) if item.isalpha() else -1
        if verdict > 0:
            words.good += 1
            words.familiar += verdict == 2
        elif verdict < 0:
            words.bad += 1
            words.first = words.first or item
    return words


# A word with a letter beyond ASCII, or a character that is neither a letter nor usual punctuation.
# ¹²³¼½¾ are letters to \w, so they are kept out of words; ² and ³ (m², m³) say nothing, the others are
# suspicious (they are TCVN3 letters: ¹ is ạ).
_LETTER = r"[^\W\d_¹²³¼½¾]"
_QUIET = "°±–—‘’“”…•€₫‰№"
_CONTROL = re.compile("[\x01-\x08\x0e-\x19\x1b-\x1f]")  # control codes have no place in text
_CONTROL_BYTES = re.compile(_CONTROL.pattern.encode())
_EVIDENCE = re.compile(rf"{_LETTER}*[^\W\d_¹²³¼½¾\x00-\x7f]{_LETTER}*|[^\w\s\x00-\x7f{_QUIET}]|[¹¼½¾]")


_TONES = "\u0301\u0300\u0309\u0303\u0323"  # sắc, huyền, hỏi, ngã, nặng
_STOP_TONES = "\u0301\u0323"
_VOWELS = "aăâeêioôơuưy"
_CONSONANTS = "bcdđfghjklmnpqrstvwxz"  # f, j, w, z: loanwords and minority-language names

# Letter (lower case) -> (the letter without its tone, the tone or "").
_LETTERS: dict[str, tuple[str, str]] = {c: (c, "") for c in _CONSONANTS}
for _vowel in _VOWELS:
    for _tone in ("", *_TONES):
        _LETTERS[unicodedata.normalize("NFC", _vowel + _tone)] = (_vowel, _tone)

# Every character beyond ASCII that Vietnamese text is made of: letters in both cases, usual punctuation.
VIETNAMESE_CHARACTERS = "".join(
    sorted({c for letter in _LETTERS if not letter.isascii() for c in (letter, letter.upper())} | set(_QUIET))
)

_SYLLABLE = re.compile(f"([{_CONSONANTS}]{{0,3}})([{_VOWELS}]{{1,3}})([{_CONSONANTS}]{{0,2}})")
# Onsets; f, j, w, z in loanwords. Names from the Central Highlands add an l, r, m or n (Krông, Đrăng,
# Kmăl, Chrôh): an onset followed by one of those is accepted too.
_ONSETS = frozenset("b c ch d đ g gh gi h k kh l m n ng ngh nh p ph qu r s t th tr v x f j w z".split())
_CODAS = frozenset("c ch m n ng nh p t k h l r".split())  # k, h, l, r: Đắk Lắk, Chư Păh, Krêl, Cuôr
_STOPS = frozenset("c ch p t".split())

# Vowel groups: which take a final consonant, and which vowel carries the tone when none follows
# (with a final, the tone sits on the group's last vowel). oa, oe, uy: old style on the first vowel
# (hòa), new style on the second (hoà); both are written.
_OPEN = {
    **dict.fromkeys(
        "a e ê i o ô ơ u ư y ai ao au ay âu ây eo êu ia iu oi ôi ơi ua ui ưa ưi ưu".split(), (0,)
    ),
    **dict.fromkeys("oa oe uy".split(), (0, 1)),
    **dict.fromkeys("uê uơ iêu yêu oai oay oao oeo uây uôi ươi ươu uya uyu".split(), (1,)),
}
_CLOSED = frozenset("a ă â e ê i o ô ơ u ư y oa oă oe oo uâ uê uy uô ươ iê yê uyê".split())
_BEFORE_CH_NH = frozenset("a ê i y oa uê uy".split())  # anh, ếch, inh, uỳnh, oanh, huênh
_NOT_BEFORE_C_NG = frozenset("i y uy".split())


@functools.lru_cache(maxsize=1 << 16)
def _verdict(word: str) -> int:
    """2: a common Vietnamese syllable; 1: a Vietnamese syllable; 0: says nothing (ĐVT, HĐND); -1: not one."""
    lower = word.lower()
    if not (word == lower or word.isupper() or (word[0].isupper() and word[1:] == lower[1:])):
        return -1  # "viÖc", "BÝch", "HoỔ": capitals inside a word are mojibake
    try:
        letters = [_LETTERS[c] for c in lower]
    except KeyError:
        return -1  # a letter Vietnamese does not use: µ, ö, å, ß...
    plain = "".join(base for base, _ in letters)
    tones = [(i, tone) for i, (_, tone) in enumerate(letters) if tone]
    match = _SYLLABLE.fullmatch(plain)
    if not match:
        return 0 if not any(c in _VOWELS for c in plain) else -1
    if len(tones) > 1:
        return -1
    onset, vowels, coda = match.groups()
    # "qu" and "gi" are consonants: quốc, giữa (but gìn, where the i is the vowel)
    if onset == "q":
        if vowels[0] != "u" or len(vowels) == 1:
            return -1
        onset, vowels = "qu", vowels[1:]
    elif onset == "g" and vowels[0] == "i" and len(vowels) > 1:
        onset, vowels = "gi", vowels[1:]
    if onset and onset not in _ONSETS and not (onset[-1] in "lrmn" and onset[:-1] in _ONSETS):
        return -1
    if coda:
        if coda not in _CODAS or vowels not in _CLOSED:
            return -1
        if coda in ("ch", "nh") and vowels not in _BEFORE_CH_NH:
            return -1
        if coda in ("c", "ng") and vowels in _NOT_BEFORE_C_NG:
            return -1
        places = (len(vowels) - 1,)
    elif vowels in _OPEN:
        places = _OPEN[vowels]
    else:
        return -1
    if tones:
        place, tone = tones[0]
        if place - len(onset) not in places:
            return -1
    else:
        tone = ""
    if (coda in _STOPS and tone not in _STOP_TONES) or (coda == "k" and tone not in ("", *_STOP_TONES)):
        return -1
    old_style = lower[:-2] + _OLD_STYLE[lower[-2:]] if lower[-2:] in _OLD_STYLE else lower
    return 2 if lower in _FAMILIAR or old_style in _FAMILIAR else 1


# Common syllables, written for this module as phrases from the fields agencies report on (old-style
# tone placement, as most keyboards write it). Only used to rank two readings that both spell correctly:
# "Nông thôn" and "Nụng thụn" are both legal syllables, but only one is what people write.
_COMMON_PHRASES = """
ủy ban nhân dân tỉnh thành phố trung ương huyện quận thị xã phường thị trấn đặc khu thôn xóm ấp bản làng
buôn sóc tổ dân phố khu đội hội đồng chủ tịch phó bí thư đảng bộ chi đoàn thanh niên cộng sản hồ chí minh
mặt trận quốc việt nam sở ban ngành cục vụ viện phòng tâm văn tổng trưởng giám đốc cán công chức viên người
lao động quyết định nghị quyết nghị thông tư chỉ thị tờ trình báo cáo kế hoạch chương đề án dự sáp nhập sắp
xếp đơn vị hành chính cấp điều chỉnh địa giới diện tích tự nhiên quy mô số theo quy định tại khoản này của
luật năm ngày tháng kể từ có hiệu lực thi hòa xã hội chủ nghĩa độc lập do hạnh phúc tổng cộng tỷ lệ phần
trăm bình quân trung tăng giảm so với cùng kỳ trước ước tính sơ chính thức việc làm thất nghiệp thiếu thu
nhập chi tiêu hộ gia đình nhân khẩu nam nữ giới tuổi thành nông vùng miền đồng bằng sông hồng du núi phía
bắc duyên hải tây nguyên đông cửu long chưa vợ chồng đã kết hôn góa ly thân độc học vấn trình độ chuyên môn
kỹ thuật cao đẳng đại thạc sĩ tiến trên nghề đào tạo qua không biết chữ tiểu cơ sở phổ nghìn triệu tỷ tấn
héc ki lô gam mét vuông con chiếc cái giá trị sản xuất lượng năng suất gieo trồng hoạch lúa ngô khoai sắn
đậu lạc mía rau màu cây ăn quả nghiệp lâu hàng chăn nuôi trâu bò lợn heo gà vịt cầm súc thủy khai thác đánh
bắt cá tôm lâm rừng gỗ xây dựng thương mại dịch vận tải du lịch khách sạn nhà xuất nhập khẩu bán lẻ hóa
doanh vốn đầu ngân sách nước thuế phí giáo dục sinh trường lớp mầm non y tế bệnh bác giường tiêm chủng
điện sạch đường giao cầu cống ở kiên tạm di vật thể tích lịch sử danh lam thắng cảnh bảo tàng lễ truyền
thống nghệ nhạc hát then xòe thái đờn ca tài tử họ ninh trù nhã cung huế cồng chiêng xoan chèo tuồng cải
lương lồng tồng tết đán đình chùa đền miếu thờ lăng mộ thánh mẫu cúng tín ngưỡng tộc kinh tày mường
hoa nùng mông dao rai ê đê na chay chăm xơ đăng thủ gốm dệt thổ cẩm mây tre đan ẩm thực món trang phục hà
nội phòng đà nẵng cần thơ quảng lạng sơn kạn tuyên giang lào yên bái biên lai châu la phú thọ vĩnh phúc
hải dương hưng định tĩnh trị thừa thiên ngãi khánh thuận kon tum đắk lắk lâm phước tây rịa vũng tàu tiền
bến trà tháp kiên hậu trăng bạc liêu mau tân an lộc xuân thủy thịnh mỹ hiệp lợi đức quang hồng tiến thắng
lập chiến nhất hoàng thụ suối hồ biển đảo đèo thác hang động đồi ruộng bãi cửa vịnh nguyễn trần lê phạm
huỳnh phan vũ võ đặng bùi đỗ ngô lý đinh trịnh đoàn mai hữu ngọc thu lan hương linh anh tuấn hùng dũng
cường hải phương thảo hằng huyền nga yến oanh loan nhung vân quỳnh trâm thúy tùng hiếu hiền khoa lực mạnh
nghĩa quân quý sang thiện toàn trí tú vinh và là được những các cho trong đã một để đến như thì sẽ ra lên
vào nhiều cũng nhưng nếu hay hoặc đó đây làm nói thấy đi lại còn rất đều vẫn mới đang cần phải nên vì bởi
nhằm giữa dưới sau ngoài bên cạnh thời gian giờ phút tuần sáng chiều tối hai ba bốn sáu bảy tám chín mười
lần thứ cũ lớn nhỏ thấp dài ngắn ít tốt xấu đẹp yếu giàu nghèo khó khăn cháu ông bà cha mẹ chị em bạn thầy
cô uống sống chết đẻ vong tiếng viết đọc nghe nhìn đất quê chợ khỏe mạnh toán quyền chuyển huấn luyện
xuyên khuyến chuẩn mực hướng dẫn quản lý kiểm tra giám sát thống kê điều tra tổng hợp kết quả thực hiện
tình hình phát triển kinh tế ổn an ninh trật môi trường tài nguyên khoáng biến đổi khí hậu thiên tai bão
lũ hạn mặn nông thôn mới giảm nghèo chính sách người có công thương binh liệt sĩ trợ cấp bảo hiểm y tế
xã hội thất nghiệp lương hưu hỗ trợ đối tượng cận nghèo khuyết tật trẻ em mồ côi người cao tuổi dân tộc
thiểu số vùng sâu vùng xa đặc biệt khó khăn biên giới hải đảo hạ tầng đô thị quy hoạch giao đất thuê đất
chuyển mục đích sử dụng giấy chứng nhận quyền sở hữu nhà ở tài sản gắn liền với đất thửa tờ bản đồ
doanh nghiệp hợp tác xã kinh doanh cá thể trang trại đăng ký mã số thuế giấy phép vốn điều lệ ngoài nhà
nước có vốn đầu tư nước ngoài khu công nghiệp cụm chế biến chế tạo khai khoáng sản phẩm hàng hóa tiêu thụ
giá tiêu dùng lạm phát xuất nhập siêu cán cân thanh toán tín dụng cho vay huy động tiền gửi nợ xấu lãi suất
học sinh sinh viên giảng viên tốt nghiệp tuyển sinh phổ cập xóa mù chữ bác sĩ y sĩ điều dưỡng hộ sinh dược
khám chữa bệnh truyền nhiễm sốt xuất huyết tay chân miệng lao phổi tử vong suy dinh dưỡng tiêm phòng vắc xin
văn hóa thể thao du lịch thư viện nhà văn hóa sân vận động câu lạc bộ giải đấu huy chương vàng bạc đồng
lượt khách lưu trú quốc tế nội địa doanh thu lữ hành điểm đến khu di tích xếp hạng cấp quốc gia đặc biệt
phi vật thể nhân loại ghi danh kiểm kê bảo tồn phát huy giá trị nghi lễ tục lệ phong tục tập quán trò chơi
dân gian diễn xướng múa hát ru lượn khèn đàn tính trống sáo nhị kèn chiêng cồng mo then tày nùng thái
đen trắng mường lò dao đỏ hmông khơ mú sán dìu hoa cống chứt la hủ si la lô lô pà thẻn phù lá bố y cờ lao
ngày sinh nơi sinh quê quán thường trú tạm trú căn cước công dân hộ chiếu số điện thoại thư điện tử địa chỉ
họ tên ngày cấp nơi cấp ghi chú tổng số lượng đơn giá thành tiền ngày nhập kho xuất kho tồn kho thứ tự
"""
_FAMILIAR = frozenset(_COMMON_PHRASES.split())
# The new style of the same syllables (hoà for hòa, thuỷ for thủy) is just as familiar.
_OLD_STYLE = {
    pair[0] + _nfc(pair[1] + tone): _nfc(pair[0] + tone) + pair[1]
    for pair in ("oa", "oe", "uy")
    for tone in _TONES
}
