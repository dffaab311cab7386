"""Turn delivered bytes into NFC text, or refuse them.

A file that is not valid UTF-8 is refused rather than guessed at: landing mojibake is worse than
landing nothing. (Legacy Vietnamese encodings are detected by the ingestion layer for the formats that
carry them.)
"""

from __future__ import annotations

import unicodedata

from kho.errors import DeliveryError, Plain, Problem

BOM = b"\xef\xbb\xbf"


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
