"""Time-series datasets from files: sktime/aeon `.ts`, UCR 2018 `.tsv`, one-series-per-row CSV and `.npz` arrays.

Every reader returns a `SeriesTable`: one float64 array `(C, L_i)` per example (the channel count C is shared, the
length L_i may differ) plus the targets. `stack_series` turns the list into one float32 array `(N, C, L)` by NaN
padding, linear resampling or truncation, and `znormalize` scales each channel of each series to zero mean and unit
variance. NaN means "no value": a missing value inside a series (`?` in `.ts` files) or the padding after its end.

The parsers are striate's own; aeon is not imported. When aeon is installed, the `.ts` pairs it ships in
`aeon/datasets/data` are found by name with `find_bundled`, without importing it (aeon's import takes seconds).
"""

from __future__ import annotations

import csv
import importlib.util
import math
import os
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from striate.errors import ConfigError, DataError, did_you_mean, found_at

TARGET_KINDS = ("class", "real", "none")
STACK_MODES = ("pad", "resample", "truncate")

PathLike = str | os.PathLike


@dataclass
class SeriesTable:
    """A collection of time series read from one file.

    Attributes:
        series: One float64 array `(C, L_i)` per example; C is the same for all, L_i may differ. NaN is a missing value.
        targets: `(N,)` str class labels (`target_kind == "class"`), float64 regression targets (`"real"`), or None.
        target_kind: `"class"`, `"real"` or `"none"`.
        class_labels: The class labels a `.ts` header declares with `@classLabel`, in declared order; None otherwise.
        source: The path the table was read from, for messages.
    """

    series: list[np.ndarray]
    targets: np.ndarray | None
    target_kind: str
    class_labels: list[str] | None
    source: str


# --- Shared helpers ---------------------------------------------------------------------------------------------------

def _invalid(kind: str, path: PathLike, where: str, expected: str, found: str, hint: str = "") -> DataError:
    """The one-line error every reader raises: `Invalid <kind> file <path> <where>: expected ..., found ....`."""
    place = f" {where}" if where else ""
    return DataError(f"Invalid {kind} file {path}{place}: expected {expected}, found {found}.{hint}")


def _show(text: str, limit: int = 40) -> str:
    """Quote a piece of the file for a message, shortened so the message stays one readable line."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _read_lines(path: PathLike, kind: str) -> list[str]:
    """The lines of a UTF-8 text file (a byte-order mark is dropped), or a DataError when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (FileNotFoundError, IsADirectoryError):
        raise _invalid(kind, path, "", "an existing file", found_at(path)) from None
    except UnicodeDecodeError as error:
        raise _invalid(kind, path, "", "UTF-8 text", f"undecodable bytes at offset {error.start}") from None
    except OSError as error:
        raise _invalid(kind, path, "", "a readable file", error.strerror or type(error).__name__) from None


class _BadNumber(ValueError):
    """The token at `index` is not a number; each reader turns this into its own `DataError`."""

    def __init__(self, index: int, token: str):
        super().__init__(token)
        self.index, self.token = index, token


def _to_float(token: str, missing: frozenset[str]) -> float:
    return math.nan if token.strip() in missing else float(token)


def _is_number(token: str, missing: frozenset[str] = frozenset()) -> bool:
    try:
        _to_float(token, missing)
    except ValueError:
        return False
    return True


def _floats(tokens: list[str], missing: frozenset[str]) -> np.ndarray:
    """Parse tokens (`missing` ones are NaN) to a float64 array `(len(tokens),)`, or raise `_BadNumber`."""
    try:
        return np.array([_to_float(token, missing) for token in tokens], dtype=np.float64)
    except ValueError:
        index = next(i for i, token in enumerate(tokens) if not _is_number(token, missing))
        raise _BadNumber(index, tokens[index]) from None


def _trim_padding(values: np.ndarray) -> np.ndarray:
    """Drop the trailing time steps where every channel is NaN (UCR-style padding): `(C, L)` -> `(C, L_i)`."""
    filled = np.flatnonzero(~np.isnan(values).all(axis=0))
    return values[:, : (filled[-1] + 1 if filled.size else 0)]


def _check_choice(argument: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        options = ", ".join(f"'{choice}'" for choice in choices)
        raise ConfigError(f"Invalid `{argument}`: expected one of {options}, received {value!r}."
                          f"{did_you_mean(value, choices)}")


# --- sktime / aeon .ts ------------------------------------------------------------------------------------------------

_TS_HEADERS = {"problemname": "@problemName", "timestamps": "@timeStamps", "missing": "@missing",
               "univariate": "@univariate", "dimension": "@dimension", "dimensions": "@dimensions",
               "equallength": "@equalLength", "serieslength": "@seriesLength", "classlabel": "@classLabel",
               "targetlabel": "@targetLabel", "data": "@data"}
_TS_BOOLEANS = {"timestamps": "timestamps", "missing": "missing", "univariate": "univariate",
                "equallength": "equal_length", "targetlabel": "target"}
_TS_INTEGERS = {"dimension": "dimensions", "dimensions": "dimensions", "serieslength": "series_length"}
_TS_MISSING = frozenset({"?"})
_TS_COMMENTS = ("#", "%")  # '%' is ARFF's comment mark; aeon's own UnitTest files open with such lines
_LABEL_SUFFIX = {"class": " plus a class label", "real": " plus a target value", "none": ""}


@dataclass
class _TsHeader:
    """What a `.ts` header declares; None where a key is absent."""

    problem_name: str | None = None
    timestamps: bool | None = None
    missing: bool | None = None
    univariate: bool | None = None
    dimensions: int | None = None
    equal_length: bool | None = None
    series_length: int | None = None
    class_labels: list[str] | None = None
    target: bool | None = None

    @property
    def label_kind(self) -> str:
        """`"class"` (`@classLabel true`), `"real"` (`@targetLabel true`) or `"none"` (neither)."""
        return "class" if self.class_labels is not None else "real" if self.target else "none"

    @property
    def fixed_length(self) -> int | None:
        """The length every series must have when `@seriesLength` applies (not overridden by `@equalLength false`)."""
        return self.series_length if self.equal_length is not False else None


def read_ts(path: PathLike) -> SeriesTable:
    """Read an sktime/aeon `.ts` file: univariate, multivariate or unequal-length, classification or regression.

    The header keys are case-insensitive (`@problemName`, `@timeStamps`, `@missing`, `@univariate`, `@dimension(s)`,
    `@equalLength`, `@seriesLength`, `@classLabel true <labels...>`, `@targetLabel true`, then `@data`). Each data
    line is one example: dimensions separated by ':', values by ',', `?` for a missing value, and the class label or
    target as the last ':' field. Lines starting with `#` (or ARFF's `%`) are comments. Class labels keep their case.

    Args:
        path: The `.ts` file.

    Returns:
        A `SeriesTable` with one `(C, L_i)` array per data line.

    Raises:
        DataError: When the file is missing, empty, timestamped (`@timeStamps true` is not supported) or malformed;
            the message names the line, what was expected and what was found.
    """
    lines = enumerate(_read_lines(path, ".ts"), start=1)
    header = _parse_ts_header(lines, path)
    series, labels = _parse_ts_rows(lines, header, path)
    kind = header.label_kind
    targets = None if kind == "none" else np.array(labels, dtype=np.float64 if kind == "real" else str)
    return SeriesTable(series, targets, kind, header.class_labels, str(path))


def _parse_ts_header(lines: Iterator[tuple[int, str]], path: PathLike) -> _TsHeader:
    """Consume the header lines up to and including `@data`."""
    header, last, content = _TsHeader(), 0, False
    for lineno, text in lines:
        last, tokens = lineno, text.split()
        if not tokens or tokens[0].startswith(_TS_COMMENTS):
            continue
        content, fail = True, partial(_invalid, ".ts", path, f"line {lineno}")
        if not tokens[0].startswith("@"):
            raise fail("a header line starting with '@' (or the @data line) before the values", _show(text.strip()))
        key = tokens[0][1:].lower()
        if key == "data":
            if len(tokens) > 1:
                raise fail("nothing after @data", _show(" ".join(tokens[1:])))
            return header
        _set_ts_field(header, key, tokens, fail)
    if not content:
        raise _invalid(".ts", path, "", "a header and an @data line", "an empty file")
    raise _invalid(".ts", path, f"line {last}", "an @data line after the header", "the end of the file")


def _set_ts_field(header: _TsHeader, key: str, tokens: list[str], fail: Callable[..., DataError]) -> None:
    name, values = tokens[0], tokens[1:]
    if key in _TS_BOOLEANS:
        setattr(header, _TS_BOOLEANS[key], _ts_boolean(name, values, fail))
    elif key in _TS_INTEGERS:
        setattr(header, _TS_INTEGERS[key], _ts_integer(name, values, fail))
    elif key == "classlabel":
        header.class_labels = _ts_class_labels(name, values, fail)
    elif key == "problemname":
        if not values:
            raise fail(f"a name after {name}", "nothing")
        header.problem_name = " ".join(values)
    else:
        known = ", ".join(_TS_HEADERS.values())
        raise fail(f"a known header key ({known})", name, did_you_mean(name, _TS_HEADERS.values()))
    if header.timestamps:
        raise fail("@timeStamps false (timestamped .ts files are not supported)", "true")
    if header.target and header.class_labels is not None:
        raise fail("either @classLabel true or @targetLabel true", "both")


def _ts_boolean(name: str, values: list[str], fail: Callable[..., DataError]) -> bool:
    if len(values) != 1 or values[0].lower() not in ("true", "false"):
        raise fail(f"'true' or 'false' after {name}", _show(" ".join(values)) if values else "nothing")
    return values[0].lower() == "true"


def _ts_integer(name: str, values: list[str], fail: Callable[..., DataError]) -> int:
    if len(values) != 1 or not (values[0].isascii() and values[0].isdigit()) or int(values[0]) < 1:
        raise fail(f"a positive integer after {name}", _show(" ".join(values)) if values else "nothing")
    return int(values[0])


def _ts_class_labels(name: str, values: list[str], fail: Callable[..., DataError]) -> list[str] | None:
    flag = values[0].lower() if values else ""
    if flag == "false" and len(values) == 1:
        return None
    if flag == "true" and len(values) > 1:
        return values[1:]
    if flag == "true":
        raise fail(f"the class labels after {name} true", "none")
    raise fail(f"'true <labels...>' or 'false' after {name}", _show(" ".join(values)) if values else "nothing")


def _parse_ts_rows(lines: Iterable[tuple[int, str]], header: _TsHeader, path: PathLike) -> tuple[list, list]:
    """Parse the data lines after `@data` into `(C, L_i)` arrays and their label strings (or floats)."""
    series, labels = [], []
    n_dims = header.dimensions or (1 if header.univariate else None)
    length, reason = header.fixed_length, f"@seriesLength {header.fixed_length}"
    for lineno, text in lines:
        text = text.strip()
        if not text or text.startswith(_TS_COMMENTS):
            continue
        fail = partial(_invalid, ".ts", path, f"line {lineno}")
        fields = _split_ts_row(text, header.label_kind, n_dims, fail)
        values = _ts_example(fields[: len(fields) - (header.label_kind != "none")], fail)  # (C, L_i)
        n_dims = len(values)
        if length is None and header.equal_length:
            length, reason = values.shape[1], f"@equalLength true, like line {lineno}"
        if length is not None and values.shape[1] != length:
            raise fail(f"{length} values per dimension ({reason})", str(values.shape[1]))
        series.append(values)
        if header.label_kind != "none":
            labels.append(_ts_label(fields[-1], header, fail))
    if not series:
        raise _invalid(".ts", path, "", "at least one example after @data", "none")
    return series, labels


def _split_ts_row(text: str, kind: str, n_dims: int | None, fail: Callable[..., DataError]) -> list[str]:
    fields = text.split(":")
    found = len(fields) - (kind != "none")
    if found < 1 or (n_dims is not None and found != n_dims):
        count = "at least 1 dimension" if n_dims is None else f"{n_dims} dimension{'s' * (n_dims != 1)}"
        raise fail(f"{count} separated by ':'{_LABEL_SUFFIX[kind]}", str(max(found, 0)))
    return fields


def _ts_example(fields: list[str], fail: Callable[..., DataError]) -> np.ndarray:
    """The dimension fields of one data line -> a float64 array `(C, L)`."""
    dims = []
    for d, field in enumerate(fields, start=1):
        if not field.strip():
            raise fail(f"comma-separated values in dimension {d}", "an empty field")
        try:
            dims.append(_floats(field.split(","), _TS_MISSING))
        except _BadNumber as bad:
            raise fail(f"a number or '?' in dimension {d}", f"{_show(bad.token)} at value {bad.index + 1}") from None
    lengths = [len(values) for values in dims]
    if len(set(lengths)) > 1:
        raise fail(f"the same number of values in all {len(dims)} dimensions of one example",
                   "lengths " + ", ".join(map(str, lengths)))
    return np.stack(dims)  # C x (L,) -> (C, L)


def _ts_label(field: str, header: _TsHeader, fail: Callable[..., DataError]) -> str | float:
    label = field.strip()
    if header.label_kind == "real":
        if not _is_number(label):
            raise fail("a numeric target value after the last ':'", _show(label) if label else "nothing")
        return float(label)
    if not label:
        raise fail("a class label after the last ':'", "nothing")
    if label not in header.class_labels:
        declared = ", ".join(header.class_labels)
        raise fail(f"a class label declared in @classLabel ({declared})", _show(label),
                   did_you_mean(label, header.class_labels))
    return label


# --- UCR 2018 .tsv ----------------------------------------------------------------------------------------------------

def read_ucr_tsv(path: PathLike) -> SeriesTable:
    """Read a UCR 2018 archive `.tsv` file: one univariate series per line, its class label first, tab separated.

    Unequal-length sets are padded with NaN to one width in the archive; the trailing NaN of each line are dropped,
    so each series has its own length. A NaN before the last value stays (a missing value).

    Args:
        path: The `.tsv` file.

    Returns:
        A `SeriesTable` of `(1, L_i)` arrays with str class labels.

    Raises:
        DataError: When the file is missing or empty, a line has a different number of fields than the first, a
            value is not a number or a line holds only NaN.
    """
    rows = [(lineno, text.rstrip().split("\t")) for lineno, text in enumerate(_read_lines(path, "UCR .tsv"), 1)
            if text.strip()]
    if not rows:
        raise _invalid("UCR .tsv", path, "", "lines of a class label and tab-separated values", "an empty file")
    width = len(rows[0][1])
    if width < 2:
        raise _invalid("UCR .tsv", path, f"line {rows[0][0]}", "a class label and values separated by tabs",
                       "no tab")
    series, labels = [], []
    for lineno, fields in rows:
        fail = partial(_invalid, "UCR .tsv", path, f"line {lineno}")
        if len(fields) != width:
            raise fail(f"{width} tab-separated fields (a class label and {width - 1} values, NaN padded) like the "
                       "first line", str(len(fields)))
        if not fields[0].strip():
            raise fail("a class label in the first field", "an empty field")
        try:
            series.append(_padded_row(_floats(fields[1:], frozenset()), fail))
        except _BadNumber as bad:
            raise fail(f"a number in field {bad.index + 2}", _show(bad.token)) from None
        labels.append(fields[0].strip())
    return SeriesTable(series, np.array(labels, dtype=str), "class", None, str(path))


def _padded_row(values: np.ndarray, fail: Callable[..., DataError]) -> np.ndarray:
    """One row of values `(L,)` -> `(1, L_i)` without its trailing NaN padding."""
    series = _trim_padding(values[None, :])  # (L,) -> (1, L) -> (1, L_i)
    if series.shape[1] == 0:
        raise fail("at least one value that is not NaN", "only NaN")
    return series


# --- CSV, one series per row ------------------------------------------------------------------------------------------

_CSV_MISSING = frozenset({""})


def read_series_csv(
    path: PathLike, label_column: str | int | None = "label", target_kind: str = "class"
) -> SeriesTable:
    """Read a CSV file holding one univariate series per row: one label column, every other column a time step.

    A first row with a non-number outside the label column is a header. Empty cells are missing values (NaN), and
    the trailing NaN of a row are padding, dropped so each series has its own length.

    Args:
        path: The `.csv` file.
        label_column: The label column's header name (the file then needs a header), its index (negative counts from
            the end), or None when there is no label column.
        target_kind: `"class"` (labels kept as str), `"real"` (float64 regression targets) or `"none"` (the label
            column, if any, is dropped).

    Returns:
        A `SeriesTable` of `(1, L_i)` arrays.

    Raises:
        DataError: When the file is missing or empty, the label column is not found (the message lists the columns
            found), a row has a different number of cells than the first, or a value is not a number (the message names
            the line and the column).
        ConfigError: When `target_kind` is not one of `"class"`, `"real"`, `"none"`.
    """
    _check_choice("target_kind", target_kind, TARGET_KINDS)
    rows = _csv_rows(path)
    label_index, names = _csv_layout(rows[0], label_column, path)
    body = rows[1:] if names is not None else rows
    names = names or [str(index) for index in range(len(rows[0][1]))]
    if not body:
        raise _invalid("CSV", path, "", "at least one row of values after the header", "none")
    kind = "none" if label_index is None else target_kind
    series, labels = [], []
    for lineno, cells in body:
        fail = partial(_invalid, "CSV", path, f"line {lineno}")
        if len(cells) != len(names):
            raise fail(f"{len(names)} cells like the first row", str(len(cells)))
        series.append(_csv_series(cells, names, label_index, path, lineno))
        if kind != "none":
            labels.append(_csv_label(cells[label_index], names[label_index], kind, fail))
    targets = None if kind == "none" else np.array(labels, dtype=np.float64 if kind == "real" else str)
    return SeriesTable(series, targets, kind, None, str(path))


def _csv_rows(path: PathLike) -> list[tuple[int, list[str]]]:
    """The non-blank rows of a CSV file with their line numbers."""
    reader = csv.reader(_read_lines(path, "CSV"))
    rows = [(reader.line_num, cells) for cells in reader if any(cell.strip() for cell in cells)]
    if not rows:
        raise _invalid("CSV", path, "", "a header or rows of values", "an empty file")
    return rows


def _csv_layout(
    row: tuple[int, list[str]], label_column: str | int | None, path: PathLike
) -> tuple[int | None, list[str] | None]:
    """Find the label column's index and whether the first row is a header (then its stripped names, else None)."""
    lineno, first = row
    names = [cell.strip() for cell in first]
    if isinstance(label_column, str):
        if label_column in names:
            return names.index(label_column), names
        if all(_is_number(cell, _CSV_MISSING) for cell in first):
            raise _invalid("CSV", path, f"line {lineno}", f"a header row naming the label column `{label_column}`",
                           "a row of numbers; pass `label_column` as an index, or None, for a file without a header")
        raise _invalid("CSV", path, f"line {lineno}", f"a label column `{label_column}`",
                       "columns " + ", ".join(names), did_you_mean(label_column, names))
    index = None
    if label_column is not None:
        if not -len(first) <= label_column < len(first):
            raise _invalid("CSV", path, "", f"`label_column` in {-len(first)}..{len(first) - 1} for its "
                           f"{len(first)} columns", str(label_column))
        index = label_column % len(first)
    header = any(not _is_number(cell, _CSV_MISSING) for i, cell in enumerate(first) if i != index)
    return index, (names if header else None)


def _csv_series(cells: list[str], names: list[str], label_index: int | None, path: PathLike, lineno: int) -> np.ndarray:
    """The value cells of one row -> `(1, L_i)`, empty cells as NaN and the trailing NaN dropped."""
    columns = [i for i in range(len(cells)) if i != label_index]
    try:
        values = _floats([cells[i] for i in columns], _CSV_MISSING)
    except _BadNumber as bad:
        raise _invalid("CSV", path, f"line {lineno}, column `{names[columns[bad.index]]}`", "a number",
                       _show(bad.token)) from None
    return _padded_row(values, partial(_invalid, "CSV", path, f"line {lineno}"))


def _csv_label(cell: str, name: str, kind: str, fail: Callable[..., DataError]) -> str | float:
    label = cell.strip()
    if kind == "real" and not _is_number(label):
        raise fail(f"a numeric target in column `{name}`", _show(label) if label else "an empty cell")
    if not label:
        raise fail(f"a class label in column `{name}`", "an empty cell")
    return float(label) if kind == "real" else label


# --- NumPy .npz (the archive reader behind `npz:PATH`, see striate.data.tabular) --------------------------------------

def load_npz_arrays(path: PathLike) -> dict[str, np.ndarray]:
    """Every array of the archive by key; refuses anything but a zip of plain (not pickled) arrays."""
    if not Path(path).is_file():
        raise _invalid(".npz", path, "", "an existing file", found_at(path))
    if not zipfile.is_zipfile(path):  # np.load would call any other file pickled data
        raise _invalid(".npz", path, "", "an .npz (zip) archive of named arrays", "a file that is not a zip archive")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as error:
        if "pickle" in str(error):
            raise _invalid(".npz", path, "", "numeric or string arrays", "a pickled object array") from None
        raise _invalid(".npz", path, "", "an .npz archive", f"unreadable data ({error})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise _invalid(".npz", path, "", "an .npz archive", f"unreadable data ({error})") from None


# --- The data sets aeon ships -----------------------------------------------------------------------------------------

def aeon_data_dir() -> Path | None:
    """The folder `aeon/datasets/data` of the installed aeon package, found without importing aeon; None without it."""
    try:
        spec = importlib.util.find_spec("aeon")
    except (ImportError, ValueError):
        return None
    locations = spec.submodule_search_locations if spec is not None else None
    for location in locations or []:
        folder = Path(location) / "datasets" / "data"
        if folder.is_dir():
            return folder
    return None


def _bundled_pairs() -> dict[str, tuple[Path, Path]]:
    """Name -> (train, test) for every `<folder>/<name>_TRAIN.ts` in aeon's data folder that has its `_TEST.ts`."""
    folder = aeon_data_dir()
    if folder is None:
        return {}
    pairs = {}
    for train in folder.glob("*/*_TRAIN.ts"):
        test = train.with_name(train.name.replace("_TRAIN.ts", "_TEST.ts"))
        if test.is_file():
            pairs[train.name.removesuffix("_TRAIN.ts")] = (train, test)
    return dict(sorted(pairs.items()))


def list_bundled() -> dict[str, str]:
    """Name -> `"classification"` or `"regression"` (from the header) for each `.ts` train/test pair aeon ships.

    Empty when aeon is not installed.
    """
    kinds = {}
    for name, (train, _) in _bundled_pairs().items():
        with open(train, encoding="utf-8-sig") as handle:
            header = _parse_ts_header(enumerate(handle, start=1), train)
        kinds[name] = "regression" if header.label_kind == "real" else "classification"
    return kinds


def find_bundled(name: str) -> dict[str, Path]:
    """The `{"train": ..., "test": ...}` `.ts` paths of a data set aeon ships, e.g. `GunPoint` or `CardanoSentiment`.

    Raises:
        DataError: When aeon is not installed, or it ships no data set of that name (the message lists those it has).
    """
    pairs = _bundled_pairs()
    if name in pairs:
        return {"train": pairs[name][0], "test": pairs[name][1]}
    if aeon_data_dir() is None:
        raise DataError(f"Unknown bundled data set `{name}`: expected the aeon package, which ships them, found it not "
                        "installed; run `pip install aeon`.")
    raise DataError(f"Unknown bundled data set `{name}`: expected one of {', '.join(pairs)}."
                    f"{did_you_mean(name, pairs)}")


# --- Stacking and normalising -----------------------------------------------------------------------------------------

def stack_series(
    series: list[np.ndarray], mode: str = "pad", length: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Stack series of different lengths into one array.

    Modes:
        - `"pad"`: each series is copied to the start and followed by NaN up to L = `length` (default: the longest).
        - `"resample"`: each channel is linearly interpolated to L = `length` (default: the longest) points spread
          evenly from its first to its last value; a NaN inside a series spreads to the points next to it.
        - `"truncate"`: each series is cut to L = `length` (default: the shortest) first values.

    Args:
        series: N arrays `(C, L_i)` with the same C.
        mode: `"pad"`, `"resample"` or `"truncate"`.
        length: The output length L; at least the longest series for `"pad"`, at most the shortest for `"truncate"`.

    Returns:
        `x` float32 `(N, C, L)` and `lengths` int64 `(N,)`: the valid time steps of each row (L_i when padding, L
        otherwise).

    Raises:
        DataError: When `series` is empty or its arrays are not `(C, L_i)` with one C and L_i >= 1.
        ConfigError: When `mode` is unknown or `length` does not fit the mode.

    Example:
        >>> x, lengths = stack_series([np.ones((2, 3)), np.ones((2, 5))])
        >>> x.shape, lengths.tolist(), np.isnan(x[0, 0]).tolist()
        ((2, 2, 5), [3, 5], [False, False, False, True, True])
    """
    _check_choice("mode", mode, STACK_MODES)
    channels, lengths = _series_shapes(series)
    target = _stack_length(mode, lengths, length)
    x = np.full((len(series), channels, target), np.nan, dtype=np.float32)  # (N, C, L)
    for index, values in enumerate(series):
        if mode == "pad":
            x[index, :, : values.shape[1]] = values
        elif mode == "truncate":
            x[index] = values[:, :target]
        else:
            x[index] = _resample(values, target)
    return x, (lengths if mode == "pad" else np.full(len(series), target, dtype=np.int64))


def _series_shapes(series: list[np.ndarray]) -> tuple[int, np.ndarray]:
    """Check the series and return their shared channel count C and their lengths `(N,)` int64."""
    if len(series) == 0:
        raise DataError("Invalid `series`: expected at least one array of shape (C, L), received an empty list.")
    for index, values in enumerate(series):
        shape = getattr(values, "shape", None)
        if shape is None or len(shape) != 2 or 0 in shape:
            raise DataError(f"Invalid `series[{index}]`: expected an array of shape (C, L) with C, L >= 1, received "
                            f"{f'shape {tuple(shape)}' if shape is not None else type(values).__name__}.")
        if shape[0] != series[0].shape[0]:
            raise DataError(f"Invalid `series[{index}]`: expected {series[0].shape[0]} channels like `series[0]`, "
                            f"received {shape[0]}.")
    return series[0].shape[0], np.array([values.shape[1] for values in series], dtype=np.int64)


def _stack_length(mode: str, lengths: np.ndarray, length: int | None) -> int:
    """The output length L for `mode`, checked against the series lengths `(N,)`."""
    if length is None:
        return int(lengths.min() if mode == "truncate" else lengths.max())
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise ConfigError(f"Invalid `length`: expected a positive int or None, received {length!r}.")
    if mode == "pad" and length < lengths.max():
        raise ConfigError(f"Invalid `length` for mode 'pad': expected at least the longest series, {lengths.max()}, "
                          f"received {length}; use mode 'truncate' or 'resample' to shorten.")
    if mode == "truncate" and length > lengths.min():
        raise ConfigError(f"Invalid `length` for mode 'truncate': expected at most the shortest series, "
                          f"{lengths.min()}, received {length}; use mode 'pad' or 'resample' to lengthen.")
    return int(length)


def _resample(values: np.ndarray, length: int) -> np.ndarray:
    """Linear interpolation of each channel, `(C, L_i)` -> `(C, length)`, keeping the first and last values."""
    positions = np.linspace(0.0, values.shape[1] - 1, length)
    steps = np.arange(values.shape[1], dtype=np.float64)
    return np.stack([np.interp(positions, steps, channel) for channel in values])  # C x (length,) -> (C, length)


def znormalize(x: np.ndarray) -> np.ndarray:
    """Z-normalise each series and channel over time: `(v - mean) / std`, with NaN ignored (std with ddof=0).

    A constant series (all of its non-NaN values equal) becomes 0; NaN stays NaN, so padding survives. Computed in
    float64; a floating input keeps its dtype, any other becomes float64.

    Args:
        x: `(..., L)`, typically `(N, C, L)`; normalised along the last axis.

    Returns:
        An array of the same shape.

    Example:
        >>> znormalize(np.array([[1.0, 2.0, 3.0, np.nan], [5.0, 5.0, 5.0, 5.0]])).round(4).tolist()
        [[-1.2247, 0.0, 1.2247, nan], [0.0, 0.0, 0.0, 0.0]]
    """
    values = np.asarray(x, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN series: "Mean of empty slice" and the like
        mean = np.nanmean(values, axis=-1, keepdims=True)  # (..., 1)
        std = np.nanstd(values, axis=-1, keepdims=True)  # (..., 1)
        spread = np.nanmax(values, axis=-1, keepdims=True) - np.nanmin(values, axis=-1, keepdims=True)
    varies = spread > 0  # exact: a rounded std of a constant series can be 1e-17 instead of 0
    scaled = np.where(varies, (values - mean) / np.where(varies, std, 1.0), 0.0)
    scaled[np.isnan(values)] = np.nan
    dtype = x.dtype if isinstance(x, np.ndarray) and x.dtype.kind == "f" else np.float64
    return scaled.astype(dtype)
