"""Reading uploaded corpora (formats, encodings, refusals), the train/validation split and BPTT batching."""

import codecs
import io
import struct
import zipfile
import zlib

import pytest
import torch

from rnn_demo.batches import MIN_STEPS_PER_EPOCH, batchify, fit_batch_size, prepare_dataset, split_text, windows
from rnn_demo.data import read_corpus
from rnn_demo.errors import UserError
from rnn_demo.train import Trainer
from tests.helpers import tiny_config

ENGLISH = "It was the best of times, it was the worst of times.\nIt was the age of wisdom...\n"

LEGACY = {
    "gb18030": "我爱自然语言处理。今天天气很好，我们一起去公园散步吧！春天来了，花儿都开了。\n" * 5,
    "big5": "我愛自然語言處理。今天天氣很好，我們一起去公園散步吧！春天來了，花兒都開了。\n" * 5,
    "shift_jis": "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした所で泣いていた。\n" * 5,
    "cp1252": "Café “déjà vu” — naïve señor, €5 for the crème brûlée.\n" * 5,
    "latin_1": "Café déjà vu, naïve señor; Größe, Übermut, garçon, Ærø.\n" * 5,
}


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("corpus.txt", ENGLISH)
    return buffer.getvalue()


def _write(tmp_path, name: str, data: bytes | str):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


# ----- formats and encodings ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["corpus.txt", "notes.md", "SHOUTING.TXT"])
def test_plain_text_and_markdown(tmp_path, name):
    corpus = read_corpus(_write(tmp_path, name, ENGLISH))
    assert (corpus.text, corpus.encoding, corpus.name) == (ENGLISH, "utf-8", name)
    assert corpus.size_bytes == len(ENGLISH.encode())


def test_utf8_non_ascii_without_bom(tmp_path):
    text = "Grüße aus Köln — 你好, мир! 😀\n"
    assert read_corpus(_write(tmp_path, "u.txt", text)).text == text


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_utf8_cut_inside_its_last_character_loses_only_that_character(tmp_path, cut):
    text = "春眠不觉晓，处处闻啼鸟。"
    raw = text.encode() + "😀".encode()[:cut]  # a copy capped inside a 4-byte character (`head -c`)
    corpus = read_corpus(_write(tmp_path, "cut.txt", raw))
    assert (corpus.text, corpus.encoding) == (text, "utf-8")


def test_utf8_with_bom(tmp_path):
    corpus = read_corpus(_write(tmp_path, "bom.txt", codecs.BOM_UTF8 + "Grüße\nzwei".encode()))
    assert (corpus.text, corpus.encoding) == ("Grüße\nzwei", "utf-8-sig")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_bom(tmp_path, codec):
    bom = codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE
    text = "Wide text: 你好, naïve\r\nsecond line\r\n"
    corpus = read_corpus(_write(tmp_path, "wide.txt", bom + text.encode(codec)))
    assert (corpus.text, corpus.encoding) == ("Wide text: 你好, naïve\nsecond line\n", "utf-16")


@pytest.mark.parametrize("encoding", list(LEGACY))
def test_legacy_encodings_are_detected_and_reported(tmp_path, encoding):
    text = LEGACY[encoding]
    corpus = read_corpus(_write(tmp_path, "legacy.txt", text.encode(encoding)))
    assert corpus.text == text
    expected = {"latin_1": {"latin_1", "cp1252"}}.get(encoding, {encoding})  # the same letters either way
    assert corpus.encoding in expected


def test_windows_and_old_mac_line_endings_become_newlines(tmp_path):
    corpus = read_corpus(_write(tmp_path, "crlf.txt", b"one\r\ntwo\r\n\r\nthree\rfour"))
    assert corpus.text == "one\ntwo\n\nthree\nfour"


def test_csv_text_column_rows_joined_by_newlines(tmp_path):
    data = 'id,Text,label\n1,"Hello, world",pos\n2,"A quoted ""word"" and\nan inner newline",neg\n3,,neu\n4,Last row,pos\n'
    corpus = read_corpus(_write(tmp_path, "data.csv", data.replace("\n", "\r\n")))
    assert corpus.text == 'Hello, world\nA quoted "word" and\nan inner newline\nLast row'


def test_csv_with_a_long_text_cell(tmp_path):
    chapter = "A very long chapter, all in one cell. " * 8000  # 300 KB, over csv's default field limit
    assert read_corpus(_write(tmp_path, "long.csv", f'id,text\n1,"{chapter}"\n2,short\n')).text == chapter + "\nshort"


def test_csv_saved_by_excel_with_bom_and_cp1252(tmp_path):
    assert read_corpus(_write(tmp_path, "bom.csv", codecs.BOM_UTF8 + b"text\nfirst\nsecond\n")).text == "first\nsecond"
    legacy = "text,n\n" + "Café “déjà vu” — naïve señor,1\n" * 3
    corpus = read_corpus(_write(tmp_path, "legacy.csv", legacy.encode("cp1252")))
    assert corpus.text == "\n".join(["Café “déjà vu” — naïve señor"] * 3) and corpus.encoding == "cp1252"


# ----- refusals: each names the problem ----------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="nothere.txt: no such file"):
        read_corpus(tmp_path / "nothere.txt")


def test_empty_file(tmp_path):
    with pytest.raises(UserError, match="empty.txt: the file is empty"):
        read_corpus(_write(tmp_path, "empty.txt", b""))


def test_whitespace_only_file(tmp_path):
    with pytest.raises(UserError, match="blank.txt: the file holds only whitespace"):
        read_corpus(_write(tmp_path, "blank.txt", " \n\t\r\n  \n"))


@pytest.mark.parametrize("data, what", [(_png(), "a PNG image"), (_zip(), "a zip archive"), (b"%PDF-1.7\n%...", "a PDF document")])
def test_binary_file_renamed_txt(tmp_path, data, what):
    with pytest.raises(UserError, match=f"picture.txt: this is {what}.*not text"):
        read_corpus(_write(tmp_path, "picture.txt", data))


def test_unknown_binary_file(tmp_path):
    data = bytes(range(256)) * 40
    with pytest.raises(UserError, match="blob.txt: this looks like a binary file, not text"):
        read_corpus(_write(tmp_path, "blob.txt", data))


def test_unsupported_file_type(tmp_path):
    with pytest.raises(UserError, match=r"book.docx: unsupported file type \.docx; use \.txt, \.md, \.csv"):
        read_corpus(_write(tmp_path, "book.docx", _zip()))


@pytest.mark.parametrize("separator", [";", "\t", "|"])
def test_csv_with_another_separator(tmp_path, separator):
    data = f'id{separator}Text{separator}note\n1{separator}"first; line"{separator}x\n2{separator}second{separator}y\n'
    assert read_corpus(_write(tmp_path, "data.csv", data)).text == "first; line\nsecond"


def test_csv_without_text_column(tmp_path):
    with pytest.raises(UserError, match=r"table.csv: a CSV corpus needs a 'text' column \(found: title, body\)"):
        read_corpus(_write(tmp_path, "table.csv", "title,body\nA,B\n"))


def test_csv_with_empty_text_column(tmp_path):
    with pytest.raises(UserError, match="table.csv: the 'text' column is empty"):
        read_corpus(_write(tmp_path, "table.csv", "text,n\n,1\n  ,2\n"))


def test_file_over_the_size_cap(tmp_path):
    path = _write(tmp_path, "big.txt", "x" * 3000)
    with pytest.raises(UserError, match=r"big.txt: 2.9 KB is over the 2.0 KB limit"):
        read_corpus(path, max_bytes=2048)
    assert read_corpus(path, max_bytes=3000).text == "x" * 3000


def test_default_cap_is_20_megabytes(tmp_path):
    path = tmp_path / "huge.txt"
    with path.open("wb") as f:
        f.truncate(20 * 2**20 + 1)  # sparse: no 20 MB written
    with pytest.raises(UserError, match=r"huge.txt: 20.0 MB is over the 20.0 MB limit"):
        read_corpus(path)


def test_corpus_too_short_for_a_few_windows():
    with pytest.raises(UserError, match=r"the corpus is too short: .*training tokens, need at least 257"):
        Trainer("A short text. " * 20, tiny_config(seq_len=32))


# ----- split and batching ------------------------------------------------------------------------


def test_last_tenth_is_validation_by_default():
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    train, val = split_text(text, 0.1)
    assert train + val == text and len(val) == 100
    data = prepare_dataset(text)
    assert data.train_ids.numel() == 900 and data.val_ids.numel() == 100
    assert split_text(text, 0.25)[1] == text[750:]
    for bad in (0, 0.5, -1):
        with pytest.raises(UserError, match="validation fraction must be between 0 and 0.5"):
            split_text(text, bad)


def test_vocabulary_comes_from_the_training_split_only():
    text = "abcabcabc" * 10 + "xyz"
    data = prepare_dataset(text, val_fraction=0.1)
    assert "z" not in data.tokenizer.vocab
    assert data.val_ids[-3:].tolist() == [0, 0, 0]


def test_the_unknown_share_counts_both_parts():
    """Characters only in the held-out part are <unk>; so are words rarer than min_freq."""
    data = prepare_dataset("abcabcabc" * 10 + "xyz", val_fraction=0.1)
    assert data.unknown_share() == pytest.approx(3 / 93)
    rare = "".join(f"w{n:02d} " for n in range(10))  # seen once each: under min_freq 2
    words = prepare_dataset("the cat " * 85 + rare + "the cat " * 9 + "the dog ", "word")  # cut after `rare`
    assert words.val_ids.numel() == 20 and words.unknown_share() == pytest.approx(11 / 200)
    assert prepare_dataset(ENGLISH * 20).unknown_share() == 0.0


def test_contiguous_batches_carry_on_row_by_row():
    ids = torch.arange(103)
    rows = batchify(ids, 4)
    assert rows.shape == (4, 25)
    assert rows[1, 0] == rows[0, -1] + 1  # each row continues the stream
    seen = list(windows(rows, 10))
    assert [start for start, _, _ in seen] == [0, 10, 20]
    for start, inputs, targets in seen:
        assert torch.equal(targets, inputs + 1)  # next-token targets
    covered = torch.cat([inputs for _, inputs, _ in seen], dim=1)
    assert torch.equal(covered, rows[:, :-1])  # consecutive windows continue where the last stopped


def test_batch_size_shrinks_on_a_small_corpus():
    needed = MIN_STEPS_PER_EPOCH * 32 + 1
    assert fit_batch_size(100_000, 32, 16) == 16
    assert fit_batch_size(needed * 3, 32, 16) == 2
    assert fit_batch_size(needed, 32, 16) == 1
    with pytest.raises(UserError, match="sequence length must be ≥ 2"):
        fit_batch_size(100_000, 1, 16)


def test_csv_quote_that_never_closes(tmp_path):
    """Read leniently, it would swallow the rest of the file into one cell without a word."""
    with pytest.raises(UserError, match=r'quotes.csv: the quoted cell opened on line 3 never closes \(a stray "\)'):
        read_corpus(_write(tmp_path, "quotes.csv", 'id,text\n1,hello\n2,"abc\n3,more\n4,lines\n'))


def test_csv_quote_that_never_closes_after_a_stray_one(tmp_path):
    """A stray quote earlier in the file made the reader lenient, and the unclosed one went unnoticed."""
    with pytest.raises(UserError, match=r"quotes.csv: the quoted cell opened on line 4 never closes"):
        read_corpus(_write(tmp_path, "quotes.csv", 'text\n"Hi," she said\na 5" screen\n"abc\nmore\nlines\n'))


def test_csv_stray_quotes_inside_cells_are_kept(tmp_path):
    data = 'text\n"Hi," she said\na 5" screen\n"quoted, with ""inner"" quotes"\n'
    assert read_corpus(_write(tmp_path, "typed.csv", data)).text == 'Hi, she said\na 5" screen\nquoted, with "inner" quotes'


@pytest.mark.parametrize(
    "text", ["Voilà déjà l'été, où naïve. " * 300, "我爱自然语言处理。今天天气很好 Voilà déjà. " * 200, "Plain English. " * 500 + "Café. "]
)
def test_utf8_with_a_stray_byte_stays_utf8(tmp_path, text):
    """One cp1252 dash pasted into a UTF-8 file: read as a legacy encoding, every accented letter came
    out garbled, and the Chinese text was refused."""
    raw = text.encode("utf-8")
    middle = raw.index(b" ", len(raw) // 2)
    corpus = read_corpus(_write(tmp_path, "stray.txt", raw[:middle] + b"\x96" + raw[middle:]))
    assert corpus.encoding == "utf-8, 1 invalid byte shown as �"
    assert corpus.text == text[: len(raw[:middle].decode())] + "\ufffd" + raw[middle:].decode()


def test_one_legacy_byte_in_ascii_text_is_read_as_the_legacy_letter(tmp_path):
    text = "Plain English. " * 500 + "Café.\n"
    assert read_corpus(_write(tmp_path, "one.txt", text.encode("cp1252"))).text == text
