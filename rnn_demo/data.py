"""Reading the corpus a person uploads: any common text format and encoding, with clear refusals.

Accepted: ``.txt`` and ``.md`` as they are, ``.csv`` with a ``text`` column (the tutorial's data
format; comma, semicolon, tab or ``|`` separated; rows are joined by newlines). Encodings: UTF-8
(with or without BOM), UTF-16 with a BOM, and the legacy encodings people still have files in
(GB18030/GBK, Big5, Shift-JIS, CP1252, Latin-1), detected and reported. Line endings become ``\\n``.
"""

from __future__ import annotations

import os
import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError

SUFFIXES = (".txt", ".md", ".csv")
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# Non-ASCII UTF-8 characters per invalid byte (past the first) for a file to count as UTF-8 all the
# same: GB18030 text forms a valid UTF-8 sequence now and then, cp1252 text almost never.
MIN_VALID_PER_INVALID = 20
LEGACY_ENCODINGS = ["gb18030", "big5", "shift_jis", "cp1252", "latin_1"]
_BINARY_SIGNATURES = {
    b"\x89PNG": "a PNG image",
    b"PK\x03\x04": "a zip archive (or .docx/.xlsx)",
    b"%PDF": "a PDF document",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x7fELF": "a program (ELF)",
    b"\x1f\x8b": "a gzip archive",
    b"7z\xbc\xaf": "a 7-zip archive",
    b"Rar!": "a RAR archive",
}


@dataclass(frozen=True)
class Corpus:
    text: str
    encoding: str
    name: str
    size_bytes: int


def read_corpus(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Corpus:
    """Read and decode a corpus file, or raise :class:`UserError` saying what is wrong with it."""
    path = Path(path)
    if not os.path.isfile(path):  # unlike Path.is_file, False for a name too long for the file system
        raise UserError(f"{path}: {'not a file' if os.path.exists(path) else 'no such file'}")
    if path.suffix.lower() not in SUFFIXES:
        raise UserError(f"{path.name}: unsupported file type {path.suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    size = path.stat().st_size
    if size > max_bytes:
        raise UserError(f"{path.name}: {_human_size(size)} is over the {_human_size(max_bytes)} limit")
    raw = path.read_bytes()
    text, encoding = decode_bytes(raw, path.name)
    if path.suffix.lower() == ".csv":
        text = _csv_text_column(text, path.name)
    if not text.strip():
        raise UserError(f"{path.name}: the file is empty" if not raw else f"{path.name}: the file holds only whitespace")
    return Corpus(text=text, encoding=encoding, name=path.name, size_bytes=size)


def _human_size(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.1f} MB"
    return f"{n / 2**10:.1f} KB" if n >= 2**10 else f"{n} bytes"


def decode_bytes(raw: bytes, name: str = "corpus") -> tuple[str, str]:
    """Decode ``raw`` to text with ``\\n`` line endings; return it with the encoding used."""
    if raw.startswith(codecs.BOM_UTF8):
        text, encoding = raw[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"), "utf-8-sig"
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text, encoding = raw.decode("utf-16", errors="replace"), "utf-16"
    else:
        _refuse_binary(raw, name)
        try:
            text, encoding = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as error:
            if error.end == len(raw) and error.reason == "unexpected end of data":
                # Valid UTF-8 cut inside its last character (a size-capped copy, `head -c`): drop that one.
                text, encoding = raw[: error.start].decode("utf-8"), "utf-8"
            else:
                text, encoding = _utf8_with_stray_bytes(raw) or _decode_legacy(raw, name)
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def _utf8_with_stray_bytes(raw: bytes) -> tuple[str, str] | None:
    """UTF-8 with a few invalid bytes (a dash pasted from a cp1252 file), decoded as UTF-8 with
    those replaced by U+FFFD: read as a legacy encoding instead, every accented letter of the file
    came out garbled ("dÃ©jÃ "), and Chinese text was refused. None unless almost every
    non-ASCII character decodes (legacy text seldom forms valid UTF-8 sequences)."""
    text = raw.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd") - raw.count("\ufffd".encode())
    valid = len(text) - len(text.encode("ascii", errors="ignore")) - invalid
    if valid < MIN_VALID_PER_INVALID * (invalid - 1) + 1:  # one stray byte: any valid character will do
        return None
    return text, f"utf-8, {invalid:,} invalid byte{'s' * (invalid != 1)} shown as �"


def _refuse_binary(raw: bytes, name: str) -> None:
    for signature, what in _BINARY_SIGNATURES.items():
        if raw.startswith(signature):
            raise UserError(f"{name}: this is {what}, not text")
    head = raw[:65536]
    controls = sum(head.count(bytes([b])) for b in (*range(0, 9), 11, 12, *range(14, 32)))
    if b"\x00" in head or (head and controls / len(head) > 0.05):
        raise UserError(f"{name}: this looks like a binary file, not text")


def _decode_legacy(raw: bytes, name: str) -> tuple[str, str]:
    from charset_normalizer import from_bytes

    # Take the least garbled decoding however garbled: the default threshold (0.2) gives up on
    # short files dense with accented letters, such as a small CP1252 CSV saved by Excel.
    best = from_bytes(raw, cp_isolation=LEGACY_ENCODINGS, threshold=1.0).best()
    if best is None:
        raise UserError(f"{name}: cannot tell the text encoding; save the file as UTF-8")
    return str(best), best.encoding


def _csv_text_column(text: str, name: str) -> str:
    # The csv module refuses fields over 128 KB by default; a whole chapter in one cell is fine here.
    csv.field_size_limit(max(csv.field_size_limit(), len(text)))
    delimiter = _csv_delimiter(text)
    fieldnames = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    columns = {c.strip().lower(): c for c in fieldnames}
    if "text" not in columns:
        found = ", ".join(c for c in fieldnames if c) or "none"
        raise UserError(f"{name}: a CSV corpus needs a 'text' column (found: {found})")
    column = columns["text"]
    text = "\n".join(row[column] for row in _csv_rows(text, delimiter, name) if row[column])
    if not text.strip():
        raise UserError(f"{name}: the 'text' column is empty")
    return text


def _csv_rows(text: str, delimiter: str, name: str) -> list[dict[str, str]]:
    """The CSV's rows, read leniently (people type stray quotes inside cells), refusing a quote that
    opens a cell and never closes: read leniently, that cell swallows the rest of the file."""
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    rows, row_start, row_end = [], 2, 1
    for row in reader:
        rows.append(row)
        row_start, row_end = row_end + 1, reader.line_num
    # Only such a quote runs into the end of the file: read the last row again, strictly.
    tail = csv.reader(io.StringIO("\n".join(text.split("\n")[row_start - 1 :])), delimiter=delimiter, strict=True)
    read = 0
    try:
        for _ in tail:
            read = tail.line_num
    except csv.Error as error:
        if "unexpected end of data" in str(error):
            raise UserError(f"{name}: the quoted cell opened on line {row_start + read} never closes (a stray \")") from None
    return rows


def _csv_delimiter(text: str) -> str:
    """The separator whose header has a ``text`` column: ``,``, or ``;`` as a spreadsheet set to a
    European locale saves CSV, or a tab or ``|``."""
    header = text.split("\n", 1)[0]
    for delimiter in (",", ";", "\t", "|"):
        if any(cell.strip().lower() == "text" for cell in next(csv.reader([header], delimiter=delimiter), [])):
            return delimiter
    return ","
