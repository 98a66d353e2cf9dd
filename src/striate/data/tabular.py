"""Arrays and tables: NPZ files (`X`, `y`) of any input kind, CSV rows with class, multi-label or real targets.

`npz:PATH` reads `X` `(N, L)` or `(N, C, L)` signals, `(N, C, H, W)` images (uint8 or float) and `y`: integer or
string classes `(N,)`, float targets `(N,)` / `(N, T)` (`target=real`), or 0/1 labels `(N, K)` (`target=multilabel`);
an optional `classes` array names the columns. `csv:PATH` reads one example per row: the numeric columns are the
input values (a univariate series), `label_columns` names the target columns (comma-separated): one column of class
names, several 0/1 columns for multi-label data, or real-valued columns for regression (`target=real`); a single
column of label names joined by `|` is read as multi-label with `target=multilabel`. Arrays are loaded with
`allow_pickle=False`: an NPZ from anyone cannot run code.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from striate.data._dataset import Dataset, label_order
from striate.data._registry import register_dataset
from striate.errors import ConfigError, DataError

TARGETS = ("auto", "class", "multilabel", "real")


@register_dataset("npz", location="PATH", kinds="signal | image, class | multilabel | real",
                  description="an .npz with arrays X and y (and optional classes); option target=class|multilabel|real")
def load_npz(location: str, target: str = "auto") -> Dataset:
    arrays = _read_npz(Path(location))
    x, y = arrays["X"], arrays["y"]
    kind = _input_kind(x, location)
    if kind == "signal" and x.ndim == 2:
        x = x[:, None, :]  # (N, L) -> (N, 1, L)
    names = [str(c) for c in arrays["classes"]] if "classes" in arrays else None
    y_tensor, classes, target_kind = _targets(y, _check_target(target, y), names, location)
    x_tensor = torch.from_numpy(np.ascontiguousarray(x if x.dtype == np.uint8 else x.astype(np.float32)))
    lengths = _lengths(x.astype(np.float32)) if kind == "signal" else None
    return Dataset(x_tensor, y_tensor, classes, name=Path(location).stem, input_kind=kind, target_kind=target_kind,
                   lengths=lengths)


@register_dataset("csv", location="PATH", kinds="signal, class | multilabel | real",
                  description="a CSV with one example per row: numeric input columns and label_columns (class, 0/1 "
                              "multi-label or real targets); options label_columns, target=class|multilabel|real")
def load_csv(location: str, label_columns: str = "label", target: str = "auto") -> Dataset:
    header, rows = _read_csv(Path(location))
    wanted = [name.strip() for name in str(label_columns).split(",") if name.strip()]
    missing = [name for name in wanted if name not in header]
    if missing:
        raise DataError(f"CSV {location} has no column {missing[0]!r}: expected label_columns among "
                        f"{', '.join(header)}.")
    label_index = [header.index(name) for name in wanted]
    value_index = [i for i in range(len(header)) if i not in label_index]
    x = _numeric([[row[i] for i in value_index] for row in rows], [header[i] for i in value_index], location)
    labels = np.array([[row[i] for i in label_index] for row in rows], dtype=str)
    y, classes, kind = _csv_targets(labels, wanted, _check_target(target, None), location)
    return Dataset(torch.from_numpy(x[:, None, :]), y, classes, name=Path(location).stem, input_kind="signal",
                   target_kind=kind)


def folder_targets(files: list[Path], labels_csv: str, target: str) -> tuple[torch.Tensor, list[str], str]:
    """Targets for image files from a labels CSV with a `file` column (names relative to the folder, or bare file
    names) and label columns (multi-label names joined by `|` in one `labels` column, 0/1 columns, or real values)."""
    header, rows = _read_csv(Path(labels_csv))
    if "file" not in header:
        raise DataError(f"Labels CSV {labels_csv} has no `file` column: expected file plus label columns, found "
                        f"{', '.join(header)}.")
    column = header.index("file")
    table = {row[column]: [cell for i, cell in enumerate(row) if i != column] for row in rows}
    names = [name for i, name in enumerate(header) if i != column]
    cells = []
    for path in files:
        row = table.get(path.name, table.get(f"{path.parent.name}/{path.name}"))
        if row is None:
            raise DataError(f"Labels CSV {labels_csv} has no row for image {path.name}: expected one row per image "
                            "file in its `file` column.")
        cells.append(row)
    return _csv_targets(np.array(cells, dtype=str), names, _check_target(target, None), labels_csv)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    from striate.data.series import load_npz_arrays

    arrays = load_npz_arrays(path)  # a zip of plain arrays only: never pickles
    missing = [key for key in ("X", "y") if key not in arrays]
    if missing:
        raise DataError(f"NPZ file {path} has no array `{missing[0]}`: expected keys X and y (optional classes), "
                        f"found {', '.join(arrays) or 'none'}.")
    unknown = sorted(set(arrays) - {"X", "y", "classes"})
    if unknown:
        raise DataError(f"NPZ file {path} has an array `{unknown[0]}`: expected only X, y and classes.")
    for key in ("X", "y"):
        if arrays[key].ndim == 0:
            raise DataError(f"NPZ file {path} has a single number as `{key}`: expected an array with one entry per "
                            "example.")
    if len(arrays["X"]) != len(arrays["y"]) or len(arrays["X"]) == 0:
        raise DataError(f"NPZ file {path} has {len(arrays['X'])} inputs in X and {len(arrays['y'])} targets in y: "
                        "expected the same number, at least one.")
    return arrays


def _lengths(x: np.ndarray) -> torch.Tensor | None:
    """Valid steps of NaN-padded series `(N, C, L)` (NaN in every channel after a series' end), or None if full."""
    valid = ~np.isnan(x).all(axis=1)  # (N, L)
    lengths = np.where(valid.any(axis=1), valid.shape[1] - np.argmax(valid[:, ::-1], axis=1), 0)
    return None if (lengths == x.shape[-1]).all() else torch.from_numpy(lengths.astype(np.int64))


def _input_kind(x: np.ndarray, location: str) -> str:
    if x.ndim in (2, 3) and x.dtype != np.uint8 and np.issubdtype(x.dtype, np.number):
        return "signal"
    if x.ndim == 4 and np.issubdtype(x.dtype, np.number):
        return "image"
    raise DataError(f"NPZ file {location} has X of shape {x.shape} and dtype {x.dtype}: expected numeric (N, L) or "
                    "(N, C, L) series, or (N, C, H, W) images.")


def _check_target(target: str, y: np.ndarray | None) -> str:
    if target not in TARGETS:
        raise ConfigError(f"Invalid `target` {target!r}: expected one of {', '.join(TARGETS)}.")
    if target != "auto" or y is None:
        return target
    if y.ndim == 2:
        return "multilabel"
    return "real" if np.issubdtype(y.dtype, np.floating) else "class"


def _targets(y: np.ndarray, kind: str, names: list[str] | None, location: str):
    if kind == "real":
        values = y.astype(np.float32)
        return torch.from_numpy(values), names, "real"
    if kind == "multilabel":
        if y.ndim != 2 or not np.isin(y, (0, 1)).all():
            raise DataError(f"NPZ file {location} has y of shape {y.shape}: expected (N, K) zeros and ones for "
                            "multi-label targets.")
        return torch.from_numpy(y.astype(np.float32)), names, "multilabel"
    if y.ndim != 1:
        raise DataError(f"NPZ file {location} has y of shape {y.shape}: expected (N,) class labels (or "
                        "target=multilabel / target=real).")
    return _class_targets([str(v) for v in y.tolist()], names)


def _class_targets(labels: list[str], names: list[str] | None):
    classes = names or sorted(set(labels), key=label_order)
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise DataError(f"Labels {unknown[:3]} are not among the declared classes {classes}.")
    return torch.tensor([index[label] for label in labels], dtype=torch.int64), classes, "class"


def _csv_targets(cells: np.ndarray, names: list[str], kind: str, location: str):
    if kind == "auto":
        kind = "multilabel" if cells.shape[1] > 1 else "class"
    if kind == "real":
        return torch.from_numpy(_numeric(cells.tolist(), names, location)), names, "real"
    if kind == "class":
        if cells.shape[1] != 1:
            raise DataError(f"CSV {location} has {cells.shape[1]} label columns: expected one column of class names "
                            "(or target=multilabel / target=real).")
        return _class_targets(cells[:, 0].tolist(), None)
    if cells.shape[1] == 1:  # names joined by |
        sets = [{part.strip() for part in cell.split("|") if part.strip()} for cell in cells[:, 0]]
        labels = sorted(set().union(*sets))
        y = np.array([[name in row for name in labels] for row in sets], dtype=np.float32)
        return torch.from_numpy(y), labels, "multilabel"
    y = _numeric(cells.tolist(), names, location)
    if not np.isin(y, (0, 1)).all():
        raise DataError(f"CSV {location} has label columns {names} with values other than 0 and 1: expected 0/1 "
                        "columns for multi-label targets (or target=real).")
    return torch.from_numpy(y), names, "multilabel"


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        raise DataError(f"CSV file not found: expected a file at {path}.")
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"Cannot read CSV {path}: expected UTF-8 comma-separated values ({error}).") from None
    if len(rows) < 2:
        raise DataError(f"CSV {path} holds {max(len(rows) - 1, 0)} data rows: expected a header row and at least one "
                        "example.")
    header = [name.strip() for name in rows[0]]
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"CSV {path} line {number} has {len(row)} fields: expected {len(header)} as in the header.")
    return header, rows[1:]


def _numeric(rows: list[list[str]], names: list[str], location: str) -> np.ndarray:
    out = np.empty((len(rows), len(names)), dtype=np.float32)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            try:
                out[r, c] = float(cell) if cell.strip() not in ("", "?", "nan", "NaN") else np.nan
            except ValueError:
                raise DataError(f"CSV {location} line {r + 2} column {names[c]!r}: expected a number, found "
                                f"{cell!r}.") from None
    return out
