"""Text data: Kim's tokenizer, the label-line and CSV readers, the vocabulary and pretrained word vectors."""

from __future__ import annotations

import doctest
import gzip
import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import striate.data.text as text_module
from striate.data.text import (
    PAD,
    UNK,
    TextTable,
    Vocabulary,
    read_label_lines,
    read_text_csv,
    read_word_vectors,
    tokenize,
)
from striate.errors import DataError, ShapeError

TEXT_DIR = Path(os.environ.get("STRIATE_TEXT_DATA", Path(__file__).resolve().parents[3] / "shared" / "data" / "text"))


def test_module_examples_run():
    assert doctest.testmod(text_module, verbose=False).failed == 0


# --- tokenize --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "lowercase", "expected"), [
    ("It's a dog's life, isn't it?", True, ["it", "'s", "a", "dog", "'s", "life", ",", "is", "n't", "it", "?"]),
    ("We've been there; they're not (really) home!", True,
     ["we", "'ve", "been", "there", "they", "'re", "not", "(", "really", ")", "home", "!"]),
    ("I'd say you'll WIN.", False, ["I", "'d", "say", "you", "'ll", "WIN"]),
    ("DON'T stop", True, ["do", "n't", "stop"]),
    ("they wo n't sit still", True, ["they", "wo", "n't", "sit", "still"]),  # SST is already tokenised
    ("e-mail: user_name@example.com costs $5.99", True, ["e", "mail", "user", "name", "example", "com", "costs", "5",
                                                         "99"]),
    ("``quoted'' text", True, ["``quoted''", "text"]),
    ("What is e-coli ?", False, ["What", "is", "e", "coli", "?"]),
    ("crème brûlée, cafe\u0301", True, ["crème", "brûlée", ",", "café"]),  # decomposed accents are composed first
    ("  a\tb\n\nc  ", True, ["a", "b", "c"]),
    (" ... -- ", True, []),
])
def test_tokenize_follows_kims_rules(text, lowercase, expected):
    assert tokenize(text, lowercase=lowercase) == expected


# --- read_label_lines on the real benchmarks -------------------------------------------------------------------------

def _benchmark(name: str) -> Path:
    path = TEXT_DIR / name
    if not path.is_file():
        pytest.skip(f"{path} is missing: set STRIATE_TEXT_DATA to the folder holding Kim's TREC and SST-2 files.")
    return path


@pytest.mark.parametrize(("name", "lines", "labels", "first_label", "first_tokens"), [
    ("TREC.train.all", 5452, set("012345"), "0",
     ["how", "did", "serfdom", "develop", "in", "and", "then", "leave", "russia", "?"]),
    ("TREC.test.all", 500, set("012345"), "5", ["how", "far", "is", "it", "from", "denver", "to", "aspen", "?"]),
    ("stsa.binary.train", 6920, {"0", "1"}, "1",
     ["a", "stirring", ",", "funny", "and", "finally", "transporting", "re", "imagining", "of", "beauty", "and", "the",
      "beast", "and", "1930s", "horror", "films"]),
    ("stsa.binary.dev", 872, {"0", "1"}, "0", ["one", "long", "string", "of", "cliches"]),
    ("stsa.binary.test", 1821, {"0", "1"}, "0",
     ["no", "movement", ",", "no", "yuks", ",", "not", "much", "of", "anything"]),
])
def test_benchmark_files(name, lines, labels, first_label, first_tokens):
    table = read_label_lines(_benchmark(name))
    assert len(table) == len(table.texts) == len(table.labels) == lines
    assert set(table.labels) == labels and table.source == str(TEXT_DIR / name)
    assert table.labels[0] == first_label and tokenize(table.texts[0]) == first_tokens


def test_trec_class_counts_match_li_and_roth():
    # Li & Roth's 5,452 training questions: DESC 1162, ENTY 1250, ABBR 86, HUM 1223, LOC 835, NUM 896.
    counts = Counter(read_label_lines(_benchmark("TREC.train.all")).labels)
    assert counts == {"0": 1162, "1": 1250, "2": 86, "3": 1223, "4": 835, "5": 896}


@pytest.mark.parametrize(("names", "lowercase", "size", "ascii_size", "longest"), [
    (["TREC.train.all", "TREC.test.all"], False, 9593, 9592, 37),
    (["stsa.binary.train", "stsa.binary.dev", "stsa.binary.test"], True, 16194, 16186, 53),
])
def test_vocabulary_sizes_and_lengths_against_kims_table_1(names, lowercase, size, ascii_size, longest):
    # Kim (2014), Table 1: TREC |V| = 9,592 and l = 37 (TREC kept its case); SST-2 |V| = 16,185 and l = 53. Kim's
    # clean_str keeps ASCII letters only; keeping accented ones ("café", "sisterðcity") adds the extra types.
    texts = [text for name in names for text in read_label_lines(_benchmark(name)).texts]
    tokens = [tokenize(text, lowercase=lowercase) for text in texts]
    ascii_tokens = [tokenize(re.sub(r"[^\x00-\x7f]", " ", text), lowercase=lowercase) for text in texts]
    assert len(Vocabulary.build(tokens)) - 2 == size and max(map(len, tokens)) == longest
    assert len(Vocabulary.build(ascii_tokens)) - 2 == ascii_size


def test_trec_stray_byte_is_read_as_latin1():
    table = read_label_lines(_benchmark("TREC.train.all"))
    assert table.texts[65] == "Which city has the oldest relationship as a sister\u00f0city with Los Angeles ?"


# --- read_label_lines and read_text_csv on small files ---------------------------------------------------------------

def test_label_lines_skip_blanks_and_strip_bom_crlf_and_spacing(tmp_path):
    path = tmp_path / "small.txt"
    path.write_bytes("\ufeff0 a b\r\n\n   \npositive  c  d \r\n2\tcaf\xe9\n".encode() + b"3 caf\xe9\n")
    table = read_label_lines(path)
    assert table == TextTable(["a b", "c  d", "café", "café"], ["0", "positive", "2", "3"], str(path))


@pytest.mark.parametrize(("content", "match"), [
    ("0 fine\n1\n", r"^Invalid line 2 of .*small\.txt: expected `label sentence`, found only `1`; add the sentence"),
    ("\n\n  \n", r"^Empty text file .*small\.txt: expected lines of `label sentence`, found none\.$"),
])
def test_label_line_errors(tmp_path, content, match):
    path = tmp_path / "small.txt"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        read_label_lines(path)


def test_missing_text_file(tmp_path):
    with pytest.raises(DataError, match=r"^Text file not found: expected a file at .*nope\.txt, found nothing there"):
        read_label_lines(tmp_path / "nope.txt")


def test_csv_reads_quoted_fields_and_named_columns(tmp_path):
    path = tmp_path / "small.csv"
    path.write_text('id,sentence,y\n1,"good, really",pos\n2,"two\nlines",neg\n\n3,plain,pos\n')
    table = read_text_csv(path, text_column="sentence", label_column="y")
    assert table == TextTable(["good, really", "two\nlines", "plain"], ["pos", "neg", "pos"], str(path))


@pytest.mark.parametrize(("content", "match"), [
    ("sentence,y\na,b\n", r"^Missing column `text`, `label` in .*: expected the columns `text` and `label`, found "
                          r"\['sentence', 'y'\]; pass `text_column=`"),
    ("text,y\na,b\n", r"^Missing column `label` in .*found \['text', 'y'\]"),
    ("", r"^Missing column `text`, `label` in .*found \[\]"),
    ("text,label\nok,1\n,2\n", r"^Invalid row at line 3 of .*: expected a sentence in `text` and a label in `label`, "
                               r"found '' and '2'"),
    ("text,label\nonly text\n", r"^Invalid row at line 2 of .*found 'only text' and None"),
    ("text,label\n", r"^Empty CSV file .*: expected a header and at least one row, found no rows\.$"),
])
def test_csv_errors(tmp_path, content, match):
    path = tmp_path / "small.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        read_text_csv(path)


# --- Vocabulary ------------------------------------------------------------------------------------------------------

SENTENCES = [["b", "a", "c", "a"], ["c", "a", "d"], ["b", PAD, UNK]]


def test_build_orders_by_frequency_then_alphabet():
    vocab = Vocabulary.build(iter(SENTENCES))  # any iterable, PAD and UNK in the text are not counted
    assert vocab.tokens == [PAD, UNK, "a", "b", "c", "d"] and len(vocab) == 6  # b and c tie at 2


@pytest.mark.parametrize(("min_freq", "max_size", "expected"), [
    (2, None, [PAD, UNK, "a", "b", "c"]),
    (4, None, [PAD, UNK]),
    (1, 4, [PAD, UNK, "a", "b"]),
    (1, 2, [PAD, UNK]),
    (2, 100, [PAD, UNK, "a", "b", "c"]),
])
def test_build_min_freq_and_max_size(min_freq, max_size, expected):
    assert Vocabulary.build(SENTENCES, min_freq=min_freq, max_size=max_size).tokens == expected


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"min_freq": 0}, r"^Invalid `min_freq`: expected an integer of at least 1, received 0\.$"),
    ({"max_size": 1}, r"^Invalid `max_size`: expected None or an integer of at least 2 \(PAD and UNK\), received 1"),
])
def test_build_rejects_bad_limits(kwargs, match):
    with pytest.raises(DataError, match=match):
        Vocabulary.build(SENTENCES, **kwargs)


def test_encode_maps_unknown_tokens_to_one_and_decode_inverts():
    vocab = Vocabulary.build(SENTENCES)
    assert vocab.encode(["a", "zebra", "d", PAD]) == [2, 1, 5, 0]
    assert vocab.decode(vocab.encode(["d", "c", "a"])) == ["d", "c", "a"]
    assert vocab.decode(vocab.encode(["d", "zebra"])) == ["d", UNK]
    assert vocab.decode([3, 4, 0, 2]) == ["b", "c"]  # stops at the first padding
    assert vocab.decode(torch.tensor([5, 2])) == vocab.decode(np.array([5, 2], dtype=np.int32)) == ["d", "a"]
    assert vocab.decode([]) == [] and "a" in vocab and "zebra" not in vocab


def test_decode_errors():
    vocab = Vocabulary.build(SENTENCES)
    with pytest.raises(ShapeError, match=r"^Invalid `ids`: expected a 1-D sequence of integers, received shape "
                                         r"\(1, 2\) of dtype int64; decode one sentence"):
        vocab.decode(np.array([[2, 3]]))
    with pytest.raises(DataError, match=r"^Invalid id 6: expected ids in \[0, 6\) for this vocabulary"):
        vocab.decode([2, 6])


def _reference_batch(vocab, sentences, width):
    ids, lengths = [], []
    for sentence in sentences:
        row = [vocab.encode([token])[0] for token in sentence][:width]
        lengths.append(len(row))
        ids.append(row + [0] * (width - len(row)))
    return np.array(ids, dtype=np.int64).reshape(len(sentences), width), np.array(lengths, dtype=np.int64)


@pytest.mark.parametrize(("length", "min_length", "width"), [(None, 1, 9), (None, 12, 12), (4, 1, 4), (9, 20, 9)])
def test_encode_batch_matches_a_loop(length, min_length, width):
    rng = np.random.default_rng(0)
    words = ["a", "b", "c", "d", "zebra"]
    sentences = [[words[i] for i in rng.integers(0, 5, size)] for size in [*rng.integers(0, 10, 30), 9]]
    vocab = Vocabulary.build(SENTENCES)
    ids, lengths = vocab.encode_batch(sentences, length=length, min_length=min_length)
    expected_ids, expected_lengths = _reference_batch(vocab, sentences, width)
    assert ids.dtype == lengths.dtype == np.int64 and ids.shape == (31, width)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_array_equal(lengths, expected_lengths)


def test_encode_batch_edge_cases():
    vocab = Vocabulary.build(SENTENCES)
    ids, lengths = vocab.encode_batch([[], []])
    assert ids.tolist() == [[0], [0]] and lengths.tolist() == [0, 0]
    assert vocab.encode_batch([], min_length=5)[0].shape == (0, 5)
    with pytest.raises(DataError, match=r"^Invalid `length`: expected a positive integer, received 0\.$"):
        vocab.encode_batch([["a"]], length=0)


def test_dict_and_file_round_trips(tmp_path):
    vocab = Vocabulary.build(SENTENCES)
    data = json.loads(json.dumps(vocab.to_dict()))
    assert data == {"tokens": [PAD, UNK, "a", "b", "c", "d"]}
    assert Vocabulary.from_dict(data).tokens == vocab.tokens
    path = vocab.save(tmp_path / "run" / "vocab.json")
    assert json.loads(path.read_text()) == data and [p.name for p in path.parent.iterdir()] == ["vocab.json"]
    assert Vocabulary.load(path).tokens == vocab.tokens


@pytest.mark.parametrize(("data", "match"), [
    ([PAD, UNK], r"^Invalid vocabulary dict: expected a dict with a `tokens` list .*, found a list\.$"),
    ({"words": [PAD, UNK]}, r"^Invalid vocabulary dict: expected .*, found a dict with keys \['words'\]\.$"),
    ({"tokens": ["a", PAD, UNK]}, r"^Invalid vocabulary dict \(`tokens`\): expected a list starting with '<pad>', "
                                  r"'<unk>', found \['a', '<pad>'\]; build it with `Vocabulary.build`\.$"),
    ({"tokens": [PAD, UNK, "a", 3]}, r"^Invalid vocabulary dict \(`tokens`\): expected strings, found 3 at id 3\.$"),
    ({"tokens": [PAD, UNK, "a", "b", "a"]}, r"expected unique tokens, found 'a' at ids 2 and 4; remove the duplicate"),
])
def test_from_dict_rejects_wrong_structures(data, match):
    with pytest.raises(DataError, match=match):
        Vocabulary.from_dict(data)


def test_constructor_checks_its_tokens():
    with pytest.raises(DataError, match=r"^Invalid vocabulary `tokens`: expected a list starting with '<pad>'"):
        Vocabulary(["a", "b"])


@pytest.mark.parametrize(("content", "match"), [
    (b"tokens: [a]", r"^Invalid vocabulary file .*vocab\.json: expected JSON written by `Vocabulary\.save`, found "
                     r"Expecting value at line 1; rebuild it"),
    (b"\xff\xfe\x00", r"^Invalid vocabulary file .*vocab\.json: .*found bytes that are not UTF-8;"),
    (b'{"tokens": ["<pad>"]}', r"^Invalid vocabulary file .*vocab\.json \(`tokens`\): expected a list starting with"),
    (b"[1, 2]", r"^Invalid vocabulary file .*vocab\.json: expected a dict with a `tokens` list"),
])
def test_load_rejects_bad_files(tmp_path, content, match):
    path = tmp_path / "vocab.json"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        Vocabulary.load(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"^Vocabulary file not found: expected a JSON file at .*vocab\.json"):
        Vocabulary.load(tmp_path / "vocab.json")


# --- read_word_vectors -----------------------------------------------------------------------------------------------

WORDS = Vocabulary([PAD, UNK, "good", "film", "bad", "at"])
VECTOR_LINES = [
    "good 0.1 0.2 0.3 ",  # word2vec's C tool ends every line with a space
    "the 1 2 3",
    ". . . 4 5 6",  # glove.840B has words with spaces in them
    "at name@domain.com 7 8 9",
    "film -0.5 0.5 1e-1",
    "<pad> 9 9 9",  # the PAD row stays zero
    "good 7 7 7",  # a repeated word: the first vector wins
]


def _write(path: Path, lines: list[str]) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def _check_vectors(vectors, found):
    assert vectors.dtype == torch.float32 and vectors.shape == (6, 3) and found == 2
    assert torch.equal(vectors[2], torch.tensor([0.1, 0.2, 0.3])) and torch.equal(vectors[3], torch.tensor([-0.5, 0.5,
                                                                                                             0.1]))
    assert torch.equal(vectors[0], torch.zeros(3))
    unknown = vectors[[1, 4, 5]]  # UNK, "bad" and "at" have no vector
    assert unknown.abs().max() <= 0.25 and unknown.abs().min() > 0 and len(unknown.unique()) == 9


@pytest.mark.parametrize("name", ["vectors.txt", "vectors.txt.gz"])
def test_word2vec_text_with_header(tmp_path, name):
    _check_vectors(*read_word_vectors(_write(tmp_path / name, ["7 3", *VECTOR_LINES]), WORDS))


@pytest.mark.parametrize("dim", [None, 3])
def test_glove_without_header(tmp_path, dim):
    _check_vectors(*read_word_vectors(_write(tmp_path / "glove.txt", VECTOR_LINES), WORDS, dim=dim))


def test_random_rows_follow_the_seed(tmp_path):
    path = _write(tmp_path / "glove.txt", VECTOR_LINES)
    first, again, other = (read_word_vectors(path, WORDS, seed=seed)[0] for seed in (0, 0, 1))
    assert torch.equal(first, again) and not torch.equal(first[1], other[1]) and torch.equal(first[2:4], other[2:4])


def test_no_word_found(tmp_path):
    vectors, found = read_word_vectors(_write(tmp_path / "glove.txt", ["the 1 2", "of 3 4"]), WORDS)
    assert found == 0 and vectors.shape == (6, 2) and vectors[1:].abs().max() <= 0.25


@pytest.mark.parametrize(("lines", "dim", "match"), [
    (["good 1 2 3", "film 1 2"], None, r"^Malformed line 2 of .*: expected a word and 3 values, found 2 values; fix"),
    (["2 3", "good 1 2 3", "film 1 2 3 4"], None, r"^Malformed line 3 of .*: expected a word and 3 values, found 4"),
    (["good 1 2 3", "film 1 x 3"], None, r"^Malformed line 2 of .*: expected 3 finite float32 numbers after the "
                                         r"word, found 'x'; fix or remove the line\.$"),
    (["good 1 nan 3"], None, r"^Malformed line 1 of .*found 'nan'"),
    (["good 1 2 3"], 4, r"^Malformed line 1 of .*: expected a word and 4 values, found 3 values"),
    (["2 3", "good 1 2 3"], 4, r"^Invalid `dim` for .*: expected 3 as the file's header says, received 4\.$"),
    (["good 1 2 3"], 0, r"^Invalid `dim`: expected None or a positive integer, received 0\.$"),
    (["3 3", "good 1 2 3", "film 1 2 3"], None, r"^Truncated word vectors in .*: expected 3 vectors as the header "
                                                r"says, found 2; download the file again\.$"),
    (["", ""], None, r"^Empty word-vector file .*: expected lines of a word and its values, found none\.$"),
])
def test_malformed_vector_files(tmp_path, lines, dim, match):
    with pytest.raises(DataError, match=match):
        read_word_vectors(_write(tmp_path / "vectors.txt", lines), WORDS, dim=dim)


def test_binary_word2vec_is_rejected(tmp_path):
    path = tmp_path / "vectors.bin"
    values = np.array([[0.1, 0.2, 0.3], [1.0, -1.0, 0.5]], dtype=np.float32)
    path.write_bytes(b"2 3\n" + b"good " + values[0].tobytes() + b"\nfilm " + values[1].tobytes() + b"\n")
    with pytest.raises(DataError, match=r"^Binary word vectors in .*vectors\.bin: expected the word2vec text format or "
                                        r"GloVe's, found binary data; convert it"):
        read_word_vectors(path, WORDS)


def test_missing_vector_file(tmp_path):
    with pytest.raises(DataError, match=r"^Word-vector file not found: expected a file at .*glove\.txt"):
        read_word_vectors(tmp_path / "glove.txt", WORDS)
