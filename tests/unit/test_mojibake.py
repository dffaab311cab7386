"""UTF-8 misread as Windows-1252 or Latin-1 and saved again (mojibake) is repaired when the repair is
certain (ftfy), and refused otherwise, naming the line, as any file mixing two encodings is."""

from __future__ import annotations

import pytest

from kho.catalog import catalog
from kho.errors import DeliveryError
from kho.landing.decode import decode
from kho.landing.mojibake import repair_line
from kho.landing.readers import reader_for
from kho.settings import REPO

SAMPLE = REPO / "tests" / "data" / "mojibake" / "di_san_phi_vat_the_mojibake.csv"
CLEAN = REPO / "samples" / "intangible_heritage" / "di_san_phi_vat_the_cp1258.csv"
DS = catalog().dataset("intangible_heritage")


def rows(path):
    return [r.rows for r in reader_for("csv")(DS, path, path.name)]


def test_a_mojibake_export_reads_as_the_clean_one():
    assert "HÃ" in SAMPLE.read_bytes().decode("utf-8-sig")  # what a person opening it sees
    assert decode(SAMPLE.read_bytes(), DS.id, SAMPLE.name).encoding == "utf-8+cp1252"
    assert rows(SAMPLE) == rows(CLEAN)


@pytest.mark.parametrize(
    ("misread", "expected"),
    [
        ("XÃ£ TÃ¢n TrÃ\xa0o", "Xã Tân Trào"),  # Latin-1 / cp1252
        ("Ä\x90á»“ng ThÃ¡p", "Đồng Tháp"),  # cp1252 keeping the byte it leaves undefined (0x90)
        ("Plain ASCII, 2024", "Plain ASCII, 2024"),
    ],
)
def test_lines_are_repaired_when_the_repair_is_certain(misread, expected):
    assert repair_line(misread) == expected


@pytest.mark.parametrize("line", ["Xã Tân Trào", "Café crème, 3 €", "Ä�á»“ng ThÃ¡p"])
def test_lines_that_are_not_certain_mojibake_are_not_repaired(line):
    assert repair_line(line) is None  # clean text, Western text, a byte lost to U+FFFD


def test_a_file_mixing_mojibake_and_clean_utf8_is_refused_naming_the_line(tmp_path):
    data = (
        SAMPLE.read_bytes()
        + "99,DSPVT-099,Hát Then,Nghệ thuật trình diễn dân gian,Tày,Xã Tân Trào,2024,Quốc gia\n".encode()
    )
    path = tmp_path / "mixed.csv"
    path.write_bytes(data)
    lines = data.count(b"\n")
    with pytest.raises(DeliveryError) as exc:
        rows(path)
    message = str(exc.value)
    assert message.startswith(
        f"intangible_heritage: mixed.csv, line {lines}: expected utf-8+cp1252 throughout"
    )
    assert "which reads as utf-8" in message
