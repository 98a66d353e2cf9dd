"""Text datasets: one example per line (`label sentence`, as in TREC and SST-2) or a CSV with text and label columns.

Sentences are tokenised with Kim's rules and encoded as int64 ids `(N, L)` right-padded with 0 (the padding token),
with a vocabulary built on the training part only (a minimum frequency; unknown words get id 1). The vocabulary is
saved in the run folder (`vocab.json`), so `striate predict RUN "a sentence"` encodes new text the same way.
`lowercase=false` keeps case, as Kim did for TREC; the run records the choice.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from striate.data._dataset import Dataset, label_order
from striate.data._registry import register_dataset
from striate.data.text import Vocabulary, read_label_lines, read_text_csv, tokenize
from striate.errors import ConfigError, DataError

MIN_LENGTH = 5  # the widest filter of Kim's Text CNN


@register_dataset("text", location="PATH", kinds="tokens, class",
                  description="sentences: one `label sentence` per line (TREC, SST-2), or a .csv with text and label "
                              "columns; options min_freq, max_length, text_column, label_column")
def _text(location: str, min_freq: int = 1, max_length: int | None = None, text_column: str = "text",
          label_column: str = "label", lowercase: bool | str = True) -> Dataset:
    min_freq, max_length = _count(min_freq, "min_freq"), _count(max_length, "max_length", optional=True)
    if location.lower().endswith(".csv"):
        table = read_text_csv(location, text_column=text_column, label_column=label_column)
    else:
        table = read_label_lines(location)
    if not table.texts:
        raise DataError(f"Text file {location} holds no examples: expected one `label sentence` per line.")
    lowercase = _flag(lowercase, "lowercase")
    tokens = [tokenize(text, lowercase=lowercase) for text in table.texts]
    classes = sorted(set(table.labels), key=label_order)
    index = {label: i for i, label in enumerate(classes)}
    y = torch.tensor([index[label] for label in table.labels], dtype=torch.int64)
    data = Dataset(torch.zeros(len(tokens), 1, dtype=torch.int64), y, classes, name=table.source.split("/")[-1],
                   input_kind="tokens", normalization="none",
                   meta={"tokens": tokens, "min_freq": min_freq, "max_length": max_length,
                         "lowercase": lowercase})
    return refit_vocabulary(data)


def _flag(value: bool | str, name: str) -> bool:
    """A boolean option from YAML (a bool) or a `?key=value` query (a string)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"Invalid `{name}` {value!r}: expected true or false.")



def refit_vocabulary(data: Dataset) -> Dataset:
    """`data` encoded with a vocabulary built from its own sentences (called on the training part after splits)."""
    tokens = data.meta["tokens"]
    vocabulary = Vocabulary.build(tokens, min_freq=data.meta.get("min_freq", 1))
    length = data.meta.get("max_length")
    return encode_like(replace(data, meta={**data.meta, "vocabulary": vocabulary}), vocabulary,
                       int(length) if length is not None else None)


def encode_like(part: Dataset, vocabulary: Vocabulary | None, length: int | None) -> Dataset:
    """`part`'s sentences encoded with `vocabulary` at width `length` (None: its longest sentence, at least 5)."""
    if vocabulary is None or "tokens" not in part.meta:
        raise DataError(f"Text data `{part.name}` cannot be encoded: expected its sentences and a training vocabulary.")
    ids, lengths = vocabulary.encode_batch(part.meta["tokens"], length=length, min_length=MIN_LENGTH)
    return replace(part, x=torch.from_numpy(ids), lengths=torch.from_numpy(lengths),
                   meta={**part.meta, "vocabulary": vocabulary})


def _count(value, name: str, optional: bool = False) -> int | None:
    """A text option that must be a whole number of at least 1 (`min_freq`, `max_length`), or None where optional."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"Invalid `{name}` for text data: expected a whole number of at least 1, received "
                          f"{value!r}.")
    return value
