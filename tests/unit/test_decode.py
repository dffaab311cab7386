"""Decoding deliveries: every encoding agencies use comes back exactly, and what cannot be told apart is refused.

The hazard rows are real strings (tests/data/README.md); the other texts are written for these tests.
"""

from __future__ import annotations

import codecs
import csv
import io
import shutil
import subprocess
import tracemalloc
import unicodedata
from pathlib import Path

import pytest

from kho.errors import DeliveryError
from kho.landing import decode as decode_module
from kho.landing.decode import decode, decode_utf8, detect, iter_decoded_lines
from kho.landing.legacy_vn import TCVN3_DECODING_TABLE, encode_as

SAMPLES = Path(__file__).parents[1] / "data" / "encoding_hazard_samples.csv"
ROWS = list(csv.DictReader(io.StringIO(SAMPLES.read_text(encoding="utf-8"), newline="")))
TCVN3_ROWS = [row for row in ROWS if row["hazard_type"].startswith("TCVN3")]
LEGACY = ("cp1258", "tcvn3", "vni", "utf-8+tcvn3")
WRITTEN = ("utf-8", "utf-8-sig", *LEGACY)

# Alone, two rows cannot be told apart: "Hoà" in cp1258 is the same bytes as "Hồ" in VNI, and "Góa" in
# cp1258 the same as "Gúa" in TCVN3, with one common word to decide by. In a file with other rows they can.
AMBIGUOUS_ALONE = {("TP. Hồ Chí Minh", "vni"), (" Góa", "cp1258")}

HERITAGE = """ma,ten,dia_phuong,loai_hinh
DS01,Nghệ thuật Xòe Thái,Tỉnh Điện Biên,Nghệ thuật trình diễn dân gian
DS02,Hát Then,Tỉnh Lạng Sơn,Nghệ thuật trình diễn dân gian
DS03,Đờn ca tài tử Nam Bộ,Tỉnh Bạc Liêu,Nghệ thuật trình diễn dân gian
DS04,Lễ hội Lồng Tồng,Tỉnh Tuyên Quang,Lễ hội truyền thống
DS05,Nghề dệt thổ cẩm,Xã Hòa An,Nghề thủ công truyền thống
DS06,Lễ cấp sắc của người Dao,"Phường Thủy Xuân, thành phố Huế",Tập quán xã hội và tín ngưỡng
"""


def expected(row: dict[str, str]) -> str:
    """What a row says: the TCVN3 rows' decoding; otherwise the raw text in NFC (tone placement is names.py's)."""
    return row["unicode_nfc"] if row in TCVN3_ROWS else unicodedata.normalize("NFC", row["raw_text"])


def refused(data: bytes, declared: str = "auto") -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        decode(data, "heritage", "delivery.csv", declared)
    return caught.value


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row["raw_text"])
def test_hazard_rows_decode_as_delivered(row):
    got = decode(row["raw_text"].encode("utf-8"), "hazards", "hazards.csv")
    assert got.text == expected(row)
    assert got.encoding == ("utf-8+tcvn3" if row in TCVN3_ROWS else "utf-8")


@pytest.mark.parametrize("encoding", WRITTEN)
@pytest.mark.parametrize("row", ROWS, ids=lambda row: row["raw_text"])
def test_hazard_rows_round_trip_alone(row, encoding):
    text = expected(row)
    data = encode_as(text, encoding)
    if (text, encoding) in AMBIGUOUS_ALONE:
        assert "one encoding only" in str(refused(data))
        return
    got = decode(data, "hazards", "row.csv")
    assert (got.text, got.encoding) == (text, encoding)


@pytest.mark.parametrize("encoding", WRITTEN)
def test_hazard_rows_round_trip_as_one_file(encoding):
    text = "\n".join(expected(row) for row in ROWS) + "\n"
    got = decode(encode_as(text, encoding), "hazards", "all.csv")
    assert (got.text, got.encoding) == (text, encoding)
    assert got.confidence > 0.99


@pytest.mark.parametrize("encoding", WRITTEN)
def test_heritage_list_round_trips(encoding):
    got = decode(encode_as(HERITAGE, encoding), "heritage", "ds.csv")
    assert (got.text, got.encoding) == (HERITAGE, encoding)
    assert list(csv.reader(io.StringIO(got.text)))[6][2] == "Phường Thủy Xuân, thành phố Huế"


def test_decomposed_utf8_becomes_nfc():
    data = unicodedata.normalize("NFD", HERITAGE).encode("utf-8")
    assert data != HERITAGE.encode("utf-8")
    got = decode(data, "heritage", "ds.csv")
    assert (got.text, got.encoding) == (HERITAGE, "utf-8")


def test_utf8_with_and_without_bom():
    assert decode(b"\xef\xbb\xbfX\xc3\xa3 H\xc3\xb2a An\n", "d", "f").encoding == "utf-8-sig"
    plain = decode("Xã Hòa An\n".encode(), "d", "f")
    assert (plain.text, plain.encoding) == ("Xã Hòa An\n", "utf-8")


def test_plain_ascii_is_utf8():
    assert decode(b"ma,so_luong\nDS01,12\n", "d", "f") == decode_module.Decoded(
        "ma,so_luong\nDS01,12\n", "utf-8", 1.0
    )


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (
            "Le musée régional présente l'histoire de la côte.\nLes élèves ont visité l'église à pied.\n",
            "cp1252",
        ),
        ("Café crème, 3 €\n", "cp1252"),
        ("Die Straße führt über die Brücke zum Rathaus.\n", "latin-1"),
        ("The committee’s “annual report” – final version\n", "cp1252"),
        ("La señora Muñoz llegó a la estación.\n", "latin-1"),
    ],
)
def test_text_that_is_not_vietnamese_is_refused(text, encoding):
    error = refused(text.encode(encoding))
    assert error.problem.line == 1
    assert "cp1258, tcvn3, vni" in error.problem.expected


def test_utf8_and_cp1258_lines_in_one_file_are_refused_at_the_first_cp1258_line():
    utf8 = "ma,ten\nDS01,Nghệ thuật Xòe Thái\nDS02,Hát Then\n".encode()
    cp1258 = encode_as("DS03,Đờn ca tài tử Nam Bộ\nDS04,Lễ hội Lồng Tồng\n", "cp1258")
    error = refused(utf8 + cp1258)
    assert error.problem.line == 4
    assert "cp1258" in error.problem.found


def test_a_utf8_line_in_a_cp1258_file_is_refused():
    cp1258 = encode_as(HERITAGE, "cp1258")
    error = refused(cp1258 + "DS07,Hát Xoan,Tỉnh Phú Thọ,Nghệ thuật trình diễn dân gian\n".encode())
    assert error.problem.line == 8
    assert "utf-8" in error.problem.found


def test_tcvn3_and_vni_lines_in_one_file_are_refused():
    lines = HERITAGE.splitlines(keepends=True)
    error = refused(encode_as("".join(lines[:4]), "tcvn3") + encode_as("".join(lines[4:]), "vni"))
    assert error.problem.line == 5
    assert "vni" in error.problem.found


@pytest.mark.parametrize(("text", "encoding"), [("Hồng\n", "vni"), ("Núi\n", "tcvn3")])
def test_a_short_file_that_reads_two_ways_is_refused(text, encoding):
    error = refused(encode_as(text, encoding))  # "Hồng" in VNI is "Hoàng" in cp1258, "Núi" in TCVN3 "Nói"
    assert error.problem.line == 1
    assert "one encoding only" in error.problem.expected
    assert repr(text.strip()) in error.problem.found


def test_nul_bytes_are_refused():
    assert refused("Hát Then\n".encode("utf-16-le")).problem.line == 1
    with pytest.raises(DeliveryError, match="line 2: expected text without NUL bytes"):
        decode_utf8(b"a\nb\x00", "d", "f")


def test_declared_encoding_is_used_and_checked():
    data = encode_as(HERITAGE, "tcvn3")
    assert decode(data, "d", "f", declared="TCVN3").text == HERITAGE
    assert decode(encode_as(HERITAGE, "cp1258"), "d", "f", declared="windows-1258").encoding == "cp1258"
    error = refused(data, declared="cp1258")  # the wrong declaration: line 2 reads as TCVN3
    assert (error.problem.line, error.problem.expected) == (2, "cp1258 throughout")
    assert "tcvn3" in error.problem.found
    french = "Le musée, la côte\n".encode()
    assert decode(french, "d", "f", declared="utf-8").text == "Le musée, la côte\n"  # a person vouched for it
    with pytest.raises(ValueError, match="unknown encoding"):
        decode(data, "d", "f", declared="ebcdic-vn")


def test_declared_vni_names_the_undecodable_byte():
    error = refused(b"ma,ten\nDS01,Ha\xf8t Then\nDS02,\xe0 Hu\xe1\n", declared="vni")
    assert error.problem.line == 3
    assert "byte 0xe0 at offset 27" in error.problem.found


def test_decode_utf8_is_unchanged():
    assert decode_utf8(b"\xef\xbb\xbfHo\xcc\x80a", "d", "f") == "Hòa"
    with pytest.raises(DeliveryError, match=r"line 2: expected UTF-8 text, found byte 0xe0 at offset 5$"):
        decode_utf8(b"abc\nH\xe0", "d", "f")


# ---------------------------------------------------------------------------------------- codecs


@pytest.mark.skipif(not shutil.which("iconv"), reason="no iconv")
def test_tcvn3_table_matches_iconv():
    """An independent check of the table: GNU iconv's TCVN5712-1, byte by byte."""
    for byte in range(256):
        run = subprocess.run(
            ["iconv", "-f", "TCVN5712-1", "-t", "UTF-8"], input=bytes([byte]), capture_output=True
        )
        if run.returncode:
            pytest.skip("this iconv has no TCVN5712-1")
        assert run.stdout.decode() == TCVN3_DECODING_TABLE[byte], hex(byte)


def test_tcvn3_matches_the_hazard_rows():
    for row in TCVN3_ROWS:
        assert row["raw_text"].encode("latin-1").decode("tcvn3") == row["unicode_nfc"]


@pytest.mark.parametrize("encoding", ["tcvn3", "vni", "utf-8+tcvn3"])
def test_codecs_work_with_text_io_split_anywhere(encoding):
    data = encode_as(HERITAGE, encoding)
    assert io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="").read() == HERITAGE
    for cut in range(len(data)):  # a VNI mark, or a UTF-8 character, split across two reads
        decoder = codecs.getincrementaldecoder(encoding)()
        assert (
            unicodedata.normalize("NFC", decoder.decode(data[:cut]) + decoder.decode(data[cut:], True))
            == HERITAGE
        )


def test_vni_spelling():
    assert "Việt Nam, Đồng Tháp, NGƯỜI".encode("vni") == "Vieät Nam, Ñoàng Thaùp, NGÖÔØI".encode("cp1252")
    assert b"Khuy\xfbu".decode("vni") == "Khuỷu"
    with pytest.raises(UnicodeDecodeError, match="mark without a letter"):
        b"u\xe2".decode("vni")  # u cannot take a circumflex
    assert b"a \xe2".decode("vni", "replace") == "a \ufffd"
    with pytest.raises(UnicodeEncodeError):
        "Müller".encode("vni")  # ü is a VNI mark byte


# ------------------------------------------------------------------------------------- streaming


def test_detect_on_a_sample_cut_anywhere():
    data = encode_as(HERITAGE * 3, "utf-8")
    assert detect(data[: len(data) // 2 + 1], "d", "f") == "utf-8"
    assert detect(encode_as(HERITAGE * 3, "vni")[:-7], "d", "f") == "vni"


@pytest.mark.parametrize("encoding", WRITTEN)
def test_iter_decoded_lines_across_blocks(encoding, monkeypatch):
    monkeypatch.setattr(decode_module, "BLOCK_BYTES", 50)  # blocks end mid-line and mid-letter
    text = HERITAGE * 5
    lines = list(iter_decoded_lines(io.BytesIO(encode_as(text, encoding)), "auto", dataset="d"))
    assert lines == text.splitlines(keepends=True)
    assert list(csv.reader(lines))[6][2] == "Phường Thủy Xuân, thành phố Huế"


def test_iter_decoded_lines_reads_a_short_stream_to_its_last_line():
    stream = io.BytesIO(b"ma,ten\nDS01," + encode_as("Lễ hội Lồng Tồng", "vni"))  # no line end at the end
    assert list(iter_decoded_lines(stream, "auto")) == ["ma,ten\n", "DS01,Lễ hội Lồng Tồng"]


def test_iter_decoded_lines_refuses_a_line_in_another_encoding_after_the_sample(monkeypatch):
    monkeypatch.setattr(decode_module, "BLOCK_BYTES", 200)
    monkeypatch.setattr(decode_module, "SAMPLE_BYTES", 300)
    head = encode_as(HERITAGE * 10, "cp1258")
    stream = io.BytesIO(head + "DS99,Hát Xoan\n".encode())
    with pytest.raises(DeliveryError) as caught:
        list(iter_decoded_lines(stream, "auto", dataset="d", file="f.csv"))
    assert caught.value.problem.line == 71
    assert "utf-8" in caught.value.problem.found


def test_iter_decoded_lines_names_an_undecodable_line(monkeypatch):
    monkeypatch.setattr(decode_module, "BLOCK_BYTES", 100)
    stream = io.BytesIO(HERITAGE.encode() * 4 + encode_as("DS99,Hát Xoan\n", "cp1258"))
    with pytest.raises(DeliveryError) as caught:
        list(iter_decoded_lines(stream, "utf-8", dataset="d", file="f.csv"))
    assert caught.value.problem.line == 29
    assert caught.value.problem.found.endswith("'DS99,Hát Xoan' in cp1258")


class _Generated(io.RawIOBase):
    """A stream of ``size`` bytes made on the fly, so that the test holds no copy of it."""

    def __init__(self, unit: bytes, size: int):
        self.unit, self.size, self.at = unit, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.size - self.at)
        start = self.at % len(self.unit)
        buffer[:n] = (self.unit * (2 + n // len(self.unit)))[start : start + n]
        self.at += n
        return n


def test_iter_decoded_lines_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(decode_module, "BLOCK_BYTES", 64 * 1024)
    unit = encode_as(HERITAGE, "vni")
    size = 3 * 1024 * 1024
    tracemalloc.start()
    lines = iter_decoded_lines(io.BufferedReader(_Generated(unit, size)), "vni", dataset="d")
    count = sum(1 for _ in lines)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count >= size // len(unit) * 7
    assert peak < 3 * 1024 * 1024  # a block or two and their text, never the whole stream


def _reads(data: bytes, size: int = 7):
    """A read function handing out ``data`` in small pieces, as a slow stream would."""
    pieces = iter([data[i : i + size] for i in range(0, len(data), size)])
    return lambda _size: next(pieces, b"")


@pytest.mark.parametrize(
    ("encoding", "form"),
    [
        ("utf-8", "NFC"),
        ("utf-8", "NFD"),
        ("utf-8-sig", "NFD"),
        ("cp1258", "NFC"),
        ("tcvn3", "NFC"),
        ("vni", "NFC"),
    ],
)
def test_utf8_blocks_give_the_same_nfc_text_as_decoded_blocks(encoding, form):
    text = unicodedata.normalize(form, HERITAGE)
    bom = "\ufeff".encode() if encoding == "utf-8-sig" else b""
    data = bom + encode_as(text, encoding.replace("-sig", ""))
    as_bytes = b"".join(decode_module.utf8_blocks(_reads(data), encoding, "heritage", "f.csv"))
    as_text = "".join(decode_module.decoded_blocks(_reads(data), encoding, "heritage", "f.csv"))
    assert as_bytes.decode("utf-8") == as_text == unicodedata.normalize("NFC", HERITAGE)


def test_utf8_blocks_refuse_a_nul_byte_and_name_its_line():
    data = b"ma,ten\nDS01,Xoe\nDS02,\x00Then\n"
    with pytest.raises(DeliveryError) as caught:
        list(decode_module.utf8_blocks(_reads(data, 1 << 20), "utf-8", "heritage", "f.csv"))
    assert caught.value.problem.line == 3 and "NUL" in str(caught.value)
