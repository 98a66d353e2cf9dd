"""Text for Kim's (2014) sentence CNN: readers, a tokenizer, a vocabulary and pretrained word vectors.

The pipeline is `read_label_lines` (or `read_text_csv`) -> `tokenize` -> `Vocabulary.build` -> `encode_batch`, which
gives right-padded int64 ids `(N, L)` and lengths `(N,)` ("tokens" inputs, 0 is padding); `read_word_vectors` fills an
embedding matrix `(len(vocab), D)` from word2vec or GloVe text files.

Text files are decoded as UTF-8; a line that is not valid UTF-8 is decoded as Latin-1 instead, which never fails
(line 66 of the usual TREC.train.all holds a lone 0xF0 byte).

Example:
    >>> vocab = Vocabulary.build([tokenize("It's good!"), tokenize("not good")])
    >>> vocab.tokens
    ['<pad>', '<unk>', 'good', '!', "'s", 'it', 'not']
    >>> ids, lengths = vocab.encode_batch([tokenize("It's good!"), tokenize("so good")])
    >>> ids.tolist(), lengths.tolist()
    ([[5, 4, 2, 3], [1, 2, 0, 0]], [4, 2])
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from striate._io import atomic_write_json
from striate.errors import DataError, ShapeError, found_at

PAD, UNK = "<pad>", "<unk>"

# Kim's clean_str, restated: anything but letters, digits and ( ) , ! ? ' ` becomes a space (the underscore is a
# `\w` character but not a letter); clitics are split off; , ! ( ) ? become tokens of their own.
_DROPPED = re.compile(r"[^\w(),!?'`]|_")
_CLITICS = re.compile(r"('s|'ve|n't|'re|'d|'ll)", re.IGNORECASE)
_PUNCTUATION = re.compile(r"([,!()?])")
_UNKNOWN_SCALE = 0.25  # Kim's uniform(-0.25, 0.25) for words without a pretrained vector
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split a sentence into tokens with the rules of Kim's `clean_str`.

    Characters other than letters (any script), digits and ( ) , ! ? ' ` become spaces; the clitics 's 've n't 're
    'd 'll become tokens of their own (matched in any case, so "DON'T" splits like "don't"); , ! ( ) ? are spaced
    out. Unlike Kim's released code, ( ) ? come out without a stray backslash and accented letters are kept.

    Args:
        text: one sentence.
        lowercase: lowercase the tokens (Kim lowercases every data set except TREC).

    Example:
        >>> tokenize("He didn't say (why) -- it's 9:30!")
        ['he', 'did', "n't", 'say', '(', 'why', ')', 'it', "'s", '9', '30', '!']
    """
    text = _DROPPED.sub(" ", unicodedata.normalize("NFC", text))
    text = _PUNCTUATION.sub(r" \1 ", _CLITICS.sub(r" \1", text))
    return (text.lower() if lowercase else text).split()


# --- Readers ---------------------------------------------------------------------------------------------------------

@dataclass
class TextTable:
    """Sentences and their labels as read from one file.

    Attributes:
        texts: the raw sentences, untokenised.
        labels: the raw label strings as found in the file (e.g. "0", "positive"), one per sentence.
        source: the file they were read from.
    """

    texts: list[str]
    labels: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.texts)


def read_label_lines(path: str | Path) -> TextTable:
    """Read one example per line, `label sentence`: the first whitespace-separated field is the label.

    Blank lines are skipped. This is the format of Kim's TREC and SST files (`0 one long string of cliches .`).

    Raises:
        DataError: the file is missing or empty, or a line holds a label and no sentence.
    """
    texts, labels = [], []
    for number, line in _numbered_lines(path):
        fields = line.split(None, 1)
        if not fields:
            continue
        if len(fields) == 1:
            raise DataError(f"Invalid line {number} of {path}: expected `label sentence`, found only `{fields[0]}`; "
                            "add the sentence or remove the line.")
        labels.append(fields[0])
        texts.append(fields[1].strip())
    if not texts:
        raise DataError(f"Empty text file {path}: expected lines of `label sentence`, found none.")
    return TextTable(texts, labels, str(path))


def read_text_csv(path: str | Path, text_column: str = "text", label_column: str = "label") -> TextTable:
    """Read sentences and labels from two columns of a CSV file with a header row.

    Raises:
        DataError: the file is missing, a column is missing (the message lists the columns found), a row lacks a
            sentence or a label, or there are no rows.
    """
    reader = csv.DictReader(io.StringIO(_decode(_read_bytes(path)), newline=""))
    found = reader.fieldnames or []
    missing = [name for name in (text_column, label_column) if name not in found]
    if missing:
        raise DataError(f"Missing column {', '.join(f'`{name}`' for name in missing)} in {path}: expected the "
                        f"columns `{text_column}` and `{label_column}`, found {found}; pass `text_column=` and "
                        "`label_column=`.")
    texts, labels = [], []
    for row in reader:
        text, label = row[text_column], row[label_column]
        if not text or not label:
            raise DataError(f"Invalid row at line {reader.line_num} of {path}: expected a sentence in `{text_column}` "
                            f"and a label in `{label_column}`, found {text!r} and {label!r}; fill in or remove it.")
        texts.append(text)
        labels.append(label)
    if not texts:
        raise DataError(f"Empty CSV file {path}: expected a header and at least one row, found no rows.")
    return TextTable(texts, labels, str(path))


def _read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise DataError(f"Text file not found: expected a file at {path}, found {found_at(path)} there.") from None


def _decode(raw: bytes) -> str:
    """UTF-8 (a leading byte-order mark dropped), else Latin-1, which decodes any bytes."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _numbered_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Decoded lines numbered from 1, each decoded on its own so one stray byte does not change the whole file."""
    for number, raw in enumerate(_read_bytes(path).split(b"\n"), start=1):
        yield number, _decode(raw).rstrip("\r")


# --- Vocabulary ------------------------------------------------------------------------------------------------------

class Vocabulary:
    """Token <-> id. id 0 = PAD, 1 = UNK, then tokens by descending frequency (ties alphabetical).

    Args:
        tokens: the full id-ordered list, starting with PAD and UNK.

    Example:
        >>> vocab = Vocabulary([PAD, UNK, "good", "film"])
        >>> vocab.encode(["good", "bad", "film"]), vocab.decode([2, 3, 0, 0])
        ([2, 1, 3], ['good', 'film'])
    """

    def __init__(self, tokens: list[str]):
        self.tokens = _check_tokens(list(tokens), "`tokens`")
        self._ids = {token: index for index, token in enumerate(self.tokens)}

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], min_freq: int = 1, max_size: int | None = None) -> Vocabulary:
        """Count the tokens of tokenised sentences and keep the frequent ones.

        Args:
            token_lists: tokenised sentences (usually the training split only).
            min_freq: the fewest occurrences a token needs to get its own id.
            max_size: the most ids in all, PAD and UNK included (the embedding's `num_embeddings`); None keeps all.
        """
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise DataError(f"Invalid `min_freq`: expected an integer of at least 1, received {min_freq!r}.")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 2):
            raise DataError(f"Invalid `max_size`: expected None or an integer of at least 2 (PAD and UNK), "
                            f"received {max_size!r}.")
        counts = Counter(token for tokens in token_lists for token in tokens)
        counts.pop(PAD, None)
        counts.pop(UNK, None)
        ranked = sorted((token for token, count in counts.items() if count >= min_freq),
                        key=lambda token: (-counts[token], token))
        kept = ranked if max_size is None else ranked[:max_size - 2]
        return cls([PAD, UNK, *kept])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._ids

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens)"

    def encode(self, tokens: list[str]) -> list[int]:
        """Ids of `tokens`; a token not in the vocabulary gets UNK's id 1."""
        return [self._ids.get(token, 1) for token in tokens]

    def encode_batch(self, token_lists: list[list[str]], length: int | None = None,
                     min_length: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Encode sentences into one right-padded id matrix.

        Args:
            token_lists: N tokenised sentences.
            length: the width L; longer sentences are truncated. None uses the longest sentence.
            min_length: the smallest width when `length` is None (Kim's widest filter, 5, needs L >= 5).

        Returns:
            ids: int64 `(N, L)`, 0 after each sentence's end.
            lengths: int64 `(N,)`, the tokens kept per sentence (at most L; 0 for an empty sentence).
        """
        for name, value in (("length", length), ("min_length", min_length)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise DataError(f"Invalid `{name}`: expected a positive integer, received {value!r}.")
        encoded = [self.encode(tokens) for tokens in token_lists]
        width = length if length is not None else max([min_length, *map(len, encoded)])
        ids = np.zeros((len(encoded), width), dtype=np.int64)  # (N, L), PAD everywhere until filled
        lengths = np.array([min(len(row), width) for row in encoded], dtype=np.int64)
        for index, row in enumerate(encoded):
            ids[index, :lengths[index]] = row[:width]
        return ids, lengths

    def decode(self, ids) -> list[str]:
        """Tokens of a 1-D sequence of ids (list, numpy array or tensor), stopping at the first PAD."""
        values = np.asarray(ids.detach().cpu() if isinstance(ids, torch.Tensor) else ids)
        if values.ndim != 1 or (values.size and values.dtype.kind not in "iu"):
            raise ShapeError(f"Invalid `ids`: expected a 1-D sequence of integers, received shape {values.shape} "
                             f"of dtype {values.dtype}; decode one sentence (row) at a time.")
        pads = np.flatnonzero(values == 0)
        end = int(pads[0]) if pads.size else values.size
        out_of_range = values[:end][(values[:end] < 0) | (values[:end] >= len(self))]
        if out_of_range.size:
            raise DataError(f"Invalid id {int(out_of_range[0])}: expected ids in [0, {len(self)}) for this "
                            "vocabulary; decode with the vocabulary the ids were encoded with.")
        return [self.tokens[index] for index in values[:end].tolist()]

    def to_dict(self) -> dict:
        """A JSON-safe description, `{"tokens": [...]}`, that `from_dict` turns back into this vocabulary."""
        return {"tokens": list(self.tokens)}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        """The vocabulary `to_dict` described; raises DataError for anything else."""
        return cls(_tokens_of(data, "dict"))

    def save(self, path: str | Path) -> Path:
        """Write the vocabulary as JSON, atomically (readers never see half a file)."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read a vocabulary that `save` wrote; raises DataError naming the file when it is missing or malformed."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"Vocabulary file not found: expected a JSON file at {path}, found nothing.") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            parsed = isinstance(error, json.JSONDecodeError)
            reason = f"{error.msg} at line {error.lineno}" if parsed else "bytes that are not UTF-8"
            raise DataError(f"Invalid vocabulary file {path}: expected JSON written by `Vocabulary.save`, found "
                            f"{reason}; rebuild it with `Vocabulary.build` and save it again.") from None
        return cls(_tokens_of(data, f"file {path}"))


def _tokens_of(data, where: str) -> list[str]:
    tokens = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(tokens, list):
        found = f"a dict with keys {list(data)}" if isinstance(data, dict) else f"a {type(data).__name__}"
        raise DataError(f"Invalid vocabulary {where}: expected a dict with a `tokens` list (from "
                        f"`Vocabulary.to_dict`), found {found}.")
    return _check_tokens(tokens, f"{where} (`tokens`)")


def _check_tokens(tokens: list, where: str) -> list[str]:
    if tokens[:2] != [PAD, UNK]:
        raise DataError(f"Invalid vocabulary {where}: expected a list starting with {PAD!r}, {UNK!r}, found "
                        f"{tokens[:2]!r}; build it with `Vocabulary.build`.")
    seen: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if not isinstance(token, str):
            raise DataError(f"Invalid vocabulary {where}: expected strings, found {token!r} at id {index}.")
        if token in seen:
            raise DataError(f"Invalid vocabulary {where}: expected unique tokens, found {token!r} at ids "
                            f"{seen[token]} and {index}; remove the duplicate.")
        seen[token] = index
    return tokens


# --- Pretrained word vectors -----------------------------------------------------------------------------------------

def read_word_vectors(path: str | Path, vocab: Vocabulary, dim: int | None = None, *,
                      seed: int = 0) -> tuple[torch.Tensor, int]:
    """Build an embedding matrix from a word2vec (text) or GloVe file, keeping only the vocabulary's words.

    The file is streamed line by line (GloVe files are gigabytes; `.gz` files are read as they are) and only the
    values of vocabulary words are parsed. A first line of two integers is word2vec's `count dim` header; without it
    the file is GloVe's and the first line gives the width. A line with more fields than `dim + 1` is read as a word
    with spaces in it (glove.840B holds a few, e.g. ". . ."), unless the extra field is a number. Words match
    exactly (a lowercased vocabulary finds no capitalised word2vec words); the first vector of a repeated word wins.

    Args:
        path: the vectors, one word per line followed by its D values.
        vocab: the vocabulary whose rows to fill.
        dim: the width D expected; None takes it from the file.
        seed: seed of the random rows.

    Returns:
        vectors: float32 `(len(vocab), D)`: the file's vector for each word found, uniform(-0.25, 0.25) for the rest
            (Kim's choice for unknown words), zeros for PAD.
        found: how many vocabulary words had a vector.

    Raises:
        DataError: the file is missing, binary, empty, has a line with the wrong number of values or a non-numeric
            value, or disagrees with `dim` or its own header.
    """
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
        raise DataError(f"Invalid `dim`: expected None or a positive integer, received {dim!r}.")
    _reject_binary(path)
    found: dict[int, np.ndarray] = {}
    width, declared, count = dim, None, 0
    for number, line in _raw_lines(path):
        if number == 1 and (header := _header(line)) is not None:
            declared, width = header[0], _agree(dim, header[1], path)
            continue
        width = width or line.count(b" ")
        word = _word_of(line, width, path, number)
        count += 1
        index = vocab._ids.get(word)
        if index is not None and index != 0 and index not in found:
            found[index] = _values_of(line, width, path, number)
    if declared is not None and declared != count:
        raise DataError(f"Truncated word vectors in {path}: expected {declared} vectors as the header says, found "
                        f"{count}; download the file again.")
    if not width or not count:
        raise DataError(f"Empty word-vector file {path}: expected lines of a word and its values, found none.")
    return _vector_matrix(len(vocab), width, found, seed), len(found)


def _vector_matrix(size: int, width: int, found: dict[int, np.ndarray], seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    matrix = torch.empty(size, width).uniform_(-_UNKNOWN_SCALE, _UNKNOWN_SCALE, generator=generator)  # (V, D)
    matrix[0] = 0.0
    if found:
        rows = torch.tensor(list(found))
        matrix[rows] = torch.from_numpy(np.stack(list(found.values())))
    return matrix


def _open_binary(path: str | Path):
    if not Path(path).is_file():
        raise DataError(f"Word-vector file not found: expected a file at {path}, found {found_at(path)} there.")
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def _reject_binary(path: str | Path) -> None:
    """word2vec's binary format starts with a text header, so the bytes after it are checked too."""
    with _open_binary(path) as handle:
        sample = handle.read(4096)
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        text = "\x00"
    if any(char < " " and char not in "\t\n\r" for char in text):
        raise DataError(f"Binary word vectors in {path}: expected the word2vec text format or GloVe's, found "
                        "binary data; convert it, e.g. gensim's `KeyedVectors.load_word2vec_format(path, "
                        "binary=True).save_word2vec_format(out, binary=False)`.")


def _raw_lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines as bytes without trailing whitespace, numbered from 1 as in the file."""
    with _open_binary(path) as handle:
        for number, line in enumerate(handle, start=1):
            if stripped := line.rstrip():
                yield number, stripped


def _header(line: bytes) -> tuple[int, int] | None:
    fields = line.split()
    return (int(fields[0]), int(fields[1])) if len(fields) == 2 and all(f.isdigit() for f in fields) else None


def _agree(dim: int | None, width: int, path: str | Path) -> int:
    if dim is not None and dim != width:
        raise DataError(f"Invalid `dim` for {path}: expected {width} as the file's header says, received {dim}.")
    return width


def _word_of(line: bytes, width: int, path: str | Path, number: int) -> str:
    """The word before the last `width` fields; too few fields, or one numeric field too many, is an error."""
    spaces = line.count(b" ")
    # The common case first: splitting off the word alone is much faster than splitting all D values.
    word = line[:line.find(b" ")] if spaces == width else line.rsplit(b" ", width)[0]
    if spaces < width or (spaces > width and _is_number(word.rsplit(b" ", 1)[-1])):
        raise DataError(f"Malformed line {number} of {path}: expected a word and {width} values, found "
                        f"{spaces} values; fix or remove the line.")
    return word.decode("utf-8", errors="replace")


def _values_of(line: bytes, width: int, path: str | Path, number: int) -> np.ndarray:
    fields = line.rsplit(b" ", width)[1:]
    bad = next((field for field in fields if not _is_number(field)), None)
    if bad is not None:
        raise DataError(f"Malformed line {number} of {path}: expected {width} finite float32 numbers after the word, "
                        f"found {bad.decode(errors='replace')!r}; fix or remove the line.")
    return np.array([float(field) for field in fields], dtype=np.float32)


def _is_number(field: bytes) -> bool:
    """Whether `field` parses as a finite float32."""
    try:
        value = float(field)
    except ValueError:
        return False
    return math.isfinite(value) and abs(value) <= _FLOAT32_MAX
