"""Time-series readers against aeon's loaders on the data aeon ships, their errors, and stacking against loops."""

from __future__ import annotations

import doctest
import importlib.util
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import striate.data.series as series_module
from striate.data.series import (
    SeriesTable,
    aeon_data_dir,
    find_bundled,
    list_bundled,
    read_series_csv,
    read_ts,
    read_ucr_tsv,
    stack_series,
    znormalize,
)
from striate.errors import ConfigError, DataError

BUNDLED = list_bundled()
NEEDED = {"GunPoint": "classification", "ItalyPowerDemand": "classification", "BasicMotions": "classification",
          "JapaneseVowels": "classification", "CardanoSentiment": "regression", "Covid3Month": "regression"}


@pytest.fixture(scope="module")
def aeon_loaders():
    """aeon's own `.ts` and `.tsv` loaders: the reference, never used by striate itself."""
    datasets = pytest.importorskip("aeon.datasets")
    return datasets.load_from_ts_file, datasets.load_from_tsv_file


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def ts_file(tmp_path: Path, data: str, header: str = "@univariate true\n@classLabel true 1 2") -> Path:
    return write(tmp_path, "x.ts", f"@problemName x\n@timeStamps false\n{header}\n@data\n{data}")


# --- The data sets aeon ships -----------------------------------------------------------------------------------------

def test_list_bundled_finds_the_classification_and_regression_pairs():
    if aeon_data_dir() is None:
        pytest.skip("aeon is not installed")
    assert {name: BUNDLED.get(name) for name in NEEDED} == NEEDED
    assert set(BUNDLED.values()) == {"classification", "regression"}
    assert list(BUNDLED) == sorted(BUNDLED)


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_read_ts_equals_aeon_value_for_value(name, aeon_loaders):
    load_from_ts_file, _ = aeon_loaders
    for split, path in find_bundled(name).items():
        table = read_ts(path)
        x, y, meta = load_from_ts_file(str(path), return_meta_data=True)
        assert len(table.series) == len(x) == len(table.targets), split
        for ours, theirs in zip(table.series, x, strict=True):
            assert ours.dtype == np.float64
            np.testing.assert_array_equal(ours, theirs)
        if BUNDLED[name] == "regression":
            assert table.target_kind == "real" and table.class_labels is None
            np.testing.assert_array_equal(table.targets, y)
        else:  # aeon lower-cases every data line, labels included; striate keeps the file's case
            assert table.target_kind == "class"
            assert [label.lower() for label in table.targets] == y.tolist()
            assert [label.lower() for label in table.class_labels] == meta["class_values"]


def test_bundled_shapes_cover_multivariate_unequal_and_regression():
    if aeon_data_dir() is None:
        pytest.skip("aeon is not installed")
    motions = read_ts(find_bundled("BasicMotions")["train"])
    assert {values.shape for values in motions.series} == {(6, 100)}
    assert motions.class_labels == ["Standing", "Running", "Walking", "Badminton"]
    vowels = read_ts(find_bundled("JapaneseVowels")["test"])
    assert {values.shape[0] for values in vowels.series} == {12} and len({v.shape[1] for v in vowels.series}) > 5
    cardano = read_ts(find_bundled("CardanoSentiment")["train"])
    assert {values.shape for values in cardano.series} == {(2, 24)} and cardano.targets.dtype == np.float64
    x, lengths = stack_series(vowels.series)
    assert x.shape == (370, 12, lengths.max()) and lengths.tolist() == [v.shape[1] for v in vowels.series]


def test_find_bundled_paths_and_unknown_name():
    if aeon_data_dir() is None:
        pytest.skip("aeon is not installed")
    paths = find_bundled("GunPoint")
    assert paths == {"train": aeon_data_dir() / "GunPoint" / "GunPoint_TRAIN.ts",
                     "test": aeon_data_dir() / "GunPoint" / "GunPoint_TEST.ts"}
    with pytest.raises(DataError, match=r"^Unknown bundled data set `gunpoint`: expected one of ACSF1, .*GunPoint, .*"
                                        r"Did you mean `GunPoint`\?$"):
        find_bundled("gunpoint")


def test_aeon_data_dir_is_the_package_folder():
    spec = importlib.util.find_spec("aeon")
    if spec is None:
        assert aeon_data_dir() is None
    else:
        assert aeon_data_dir() == Path(spec.origin).parent / "datasets" / "data"


def test_bundled_lookup_does_not_import_aeon():
    code = ("import sys; import striate.data.series as s; before = set(sys.modules); s.list_bundled(); "
            "s.aeon_data_dir(); s.find_bundled('GunPoint') if s.list_bundled() else None; "
            "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] == 'aeon'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_without_aeon(monkeypatch):
    monkeypatch.setattr(series_module.importlib.util, "find_spec", lambda name: None)
    assert aeon_data_dir() is None and list_bundled() == {}
    with pytest.raises(DataError, match=r"^Unknown bundled data set `GunPoint`: expected the aeon package, which ships "
                                        r"them, found it not installed; run `pip install aeon`\.$"):
        find_bundled("GunPoint")


# --- .ts: hand-written files ------------------------------------------------------------------------------------------

def test_read_ts_missing_values_unequal_lengths_comments_and_crlf(tmp_path):
    text = ("# a comment\n@problemName demo\n@timeStamps false\n@missing true\n@univariate false\n@dimensions 2\n"
            "@equalLength false\n@classLabel true up down\n\n@DATA\n"
            "1,2,?:4, 5 ,6:up\n# between examples\n\n7.5,-1e3:nan,?:down\n")
    path = write(tmp_path, "demo.ts", text.replace("\n", "\r\n"))
    table = read_ts(path)
    np.testing.assert_array_equal(table.series[0], [[1, 2, np.nan], [4, 5, 6]])
    np.testing.assert_array_equal(table.series[1], [[7.5, -1000.0], [np.nan, np.nan]])
    assert table.targets.tolist() == ["up", "down"] and table.class_labels == ["up", "down"]
    assert table.target_kind == "class" and table.source == str(path)


def test_read_ts_without_labels_and_regression(tmp_path):
    table = read_ts(ts_file(tmp_path, "1,2\n3,4\n", header="@classLabel false"))
    assert table.targets is None and table.target_kind == "none" and table.class_labels is None
    np.testing.assert_array_equal(np.stack(table.series), [[[1, 2]], [[3, 4]]])
    table = read_ts(ts_file(tmp_path, "1,2:0.5\n3,4:-2\n", header="@targetlabel TRUE"))
    assert table.target_kind == "real" and table.targets.tolist() == [0.5, -2.0]


TS_ERRORS = [
    ("", "", r"x\.ts: expected a header and an @data line, found an empty file\."),
    ("# only a comment\n\n", "", r"x\.ts: expected a header and an @data line, found an empty file\."),
    ("@problemName x\n@univariate true\n", "", r"line 2: expected an @data line after the header, found the end of "
                                               r"the file\."),
    ("@problemName x\n1,2:1\n", "", r"line 2: expected a header line starting with '@' \(or the @data line\) before "
                                    r"the values, found '1,2:1'\."),
    ("@univariate maybe\n@data\n", "", r"line 1: expected 'true' or 'false' after @univariate, found 'maybe'\."),
    ("@missing\n@data\n", "", r"line 1: expected 'true' or 'false' after @missing, found nothing\."),
    ("@seriesLength -3\n@data\n", "", r"line 1: expected a positive integer after @seriesLength, found '-3'\."),
    ("@dimensions two\n@data\n", "", r"line 1: expected a positive integer after @dimensions, found 'two'\."),
    ("@classLabel true\n@data\n", "", r"line 1: expected the class labels after @classLabel true, found none\."),
    ("@classLabel yes 1\n@data\n", "", r"line 1: expected 'true <labels...>' or 'false' after @classLabel, found "
                                       r"'yes 1'\."),
    ("@problemName\n@data\n", "", r"line 1: expected a name after @problemName, found nothing\."),
    ("@classLable true 1 2\n@data\n", "", r"line 1: expected a known header key \(@problemName, .*, @data\), found "
                                          r"@classLable\. Did you mean `@classLabel`\?"),
    ("@timeStamps true\n@data\n", "", r"line 1: expected @timeStamps false \(timestamped \.ts files are not "
                                      r"supported\), found true\."),
    ("@classLabel true 1\n@targetLabel true\n@data\n", "", r"line 2: expected either @classLabel true or "
                                                           r"@targetLabel true, found both\."),
    ("@data now\n", "", r"line 1: expected nothing after @data, found 'now'\."),
    ("@classLabel true 1\n@data\n", "# nothing\n", r"x\.ts: expected at least one example after @data, found none\."),
]


@pytest.mark.parametrize(("header", "data", "message"), TS_ERRORS)
def test_read_ts_header_errors(tmp_path, header, data, message):
    with pytest.raises(DataError, match=r"^Invalid \.ts file .*" + message) as error:
        read_ts(write(tmp_path, "x.ts", header + data))
    assert "\n" not in str(error.value)


TS_ROW_ERRORS = [
    ("@dimensions 3\n@classLabel true 1 2", "1,2:3,4:5,6:1\n1,2:3,4:1\n",
     r"line 7: expected 3 dimensions separated by ':' plus a class label, found 2\."),
    ("@univariate false\n@classLabel true 1 2", "1,2:3,4:1\n1,2:1\n",
     r"line 7: expected 2 dimensions separated by ':' plus a class label, found 1\."),
    ("@univariate true\n@classLabel true 1 2", "1,2:3,4:1\n",
     r"line 6: expected 1 dimension separated by ':' plus a class label, found 2\."),
    ("@univariate true\n@classLabel true 1 2", "1,2\n",
     r"line 6: expected 1 dimension separated by ':' plus a class label, found 0\."),
    ("@univariate true\n@targetLabel true", "1,2:3:0.5\n",
     r"line 6: expected 1 dimension separated by ':' plus a target value, found 2\."),
    ("@univariate false\n@classLabel true 1 2", "1,2,3:4,5:1\n",
     r"line 6: expected the same number of values in all 2 dimensions of one example, found lengths 3, 2\."),
    ("@univariate true\n@classLabel true 1 2", "1,x,3:1\n",
     r"line 6: expected a number or '\?' in dimension 1, found 'x' at value 2\."),
    ("@univariate false\n@classLabel true 1 2", "1,2:1,2:1\n1,2:3,:2\n",
     r"line 7: expected a number or '\?' in dimension 2, found '' at value 2\."),
    ("@univariate false\n@classLabel true 1 2", "1,2::1\n",
     r"line 6: expected comma-separated values in dimension 2, found an empty field\."),
    ("@univariate true\n@classLabel true 1 2", "1,2:1\n1,2:3\n",
     r"line 7: expected a class label declared in @classLabel \(1, 2\), found '3'\."),
    ("@univariate true\n@classLabel true Standing Running", "1,2:standing\n",
     r"line 6: expected a class label declared in @classLabel \(Standing, Running\), found 'standing'\. "
     r"Did you mean `Standing`\?"),
    ("@univariate true\n@classLabel true 1 2", "1,2: \n",
     r"line 6: expected a class label after the last ':', found nothing\."),
    ("@univariate true\n@targetLabel true", "1,2:high\n",
     r"line 6: expected a numeric target value after the last ':', found 'high'\."),
    ("@equalLength true\n@classLabel true 1 2", "1,2,3:1\n1,2:2\n",
     r"line 7: expected 3 values per dimension \(@equalLength true, like line 6\), found 2\."),
    ("@seriesLength 3\n@classLabel true 1 2", "1,2:1\n",
     r"line 6: expected 3 values per dimension \(@seriesLength 3\), found 2\."),
]


@pytest.mark.parametrize(("header", "data", "message"), TS_ROW_ERRORS)
def test_read_ts_row_errors(tmp_path, header, data, message):
    with pytest.raises(DataError, match=r"^Invalid \.ts file .*x\.ts " + message + "$") as error:
        read_ts(ts_file(tmp_path, data, header=header))
    assert "\n" not in str(error.value)


def test_read_ts_unreadable_files(tmp_path):
    with pytest.raises(DataError, match=r"^Invalid \.ts file .*nope\.ts: expected an existing file, found "
                                        r"nothing\.$"):
        read_ts(tmp_path / "nope.ts")
    (tmp_path / "latin.ts").write_bytes(b"@problemName caf\xe9\n@data\n1:1\n")
    with pytest.raises(DataError, match=r"^Invalid \.ts file .*latin\.ts: expected UTF-8 text, found undecodable "
                                        r"bytes at offset 16\.$"):
        read_ts(tmp_path / "latin.ts")


# --- UCR .tsv ---------------------------------------------------------------------------------------------------------

def test_read_ucr_tsv_equals_aeon_and_the_ts_file(aeon_loaders):
    _, load_from_tsv_file = aeon_loaders
    for path in sorted(aeon_data_dir().glob("*/*.tsv")):
        table = read_ucr_tsv(path)
        x, y = load_from_tsv_file(str(path))
        np.testing.assert_array_equal(np.stack(table.series), x)
        assert table.targets.tolist() == [str(label) for label in y] and table.target_kind == "class"
        twin = read_ts(path.with_suffix(".ts"))
        np.testing.assert_array_equal(np.stack(table.series), np.stack(twin.series))
        np.testing.assert_array_equal(table.targets, twin.targets)


def test_read_ucr_tsv_round_trip_with_nan_padding(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(6, 9))
    lengths = np.array([9, 4, 7, 1, 9, 5])
    values[np.arange(9) >= lengths[:, None]] = np.nan  # UCR pads unequal lengths with NaN
    values[4, 2] = np.nan  # a missing value inside a series stays
    labels = np.array([1, -1, 2, 1, 2, -1])
    np.savetxt(tmp_path / "x.tsv", np.column_stack([labels, values]), delimiter="\t", fmt="%.17g")
    table = read_ucr_tsv(tmp_path / "x.tsv")
    assert [values.shape for values in table.series] == [(1, n) for n in lengths]
    for row, n, ours in zip(values, lengths, table.series, strict=True):
        np.testing.assert_array_equal(ours[0], row[:n])
    assert table.targets.tolist() == ["1", "-1", "2", "1", "2", "-1"] and table.class_labels is None


@pytest.mark.parametrize(("text", "message"), [
    ("", r": expected lines of a class label and tab-separated values, found an empty file\."),
    ("1,2,3\n", r" line 1: expected a class label and values separated by tabs, found no tab\."),
    ("1\t2\t3\t4\n2\t5\t6\n", r" line 2: expected 4 tab-separated fields \(a class label and 3 values, NaN padded\) "
                              r"like the first line, found 3\."),
    ("1\t2\t3\n\n2\t5\tx\n", r" line 3: expected a number in field 3, found 'x'\."),
    ("1\t2\t3\n2\tNaN\tNaN\n", r" line 2: expected at least one value that is not NaN, found only NaN\."),
    ("\t2\t3\n", r" line 1: expected a class label in the first field, found an empty field\."),
])
def test_read_ucr_tsv_errors(tmp_path, text, message):
    with pytest.raises(DataError, match=r"^Invalid UCR \.tsv file .*x\.tsv" + message + "$"):
        read_ucr_tsv(write(tmp_path, "x.tsv", text))


# --- CSV --------------------------------------------------------------------------------------------------------------

def test_read_series_csv_round_trip_with_header(tmp_path):
    rng = np.random.default_rng(1)
    values, labels = rng.normal(size=(5, 7)), np.array([3, 1, 2, 3, 1])
    header = ",".join(["t0", "t1", "t2", "label", "t3", "t4", "t5", "t6"])
    np.savetxt(tmp_path / "x.csv", np.column_stack([values[:, :3], labels, values[:, 3:]]), delimiter=",",
               fmt="%.17g", header=header, comments="")
    table = read_series_csv(tmp_path / "x.csv")
    np.testing.assert_array_equal(np.stack(table.series), values[:, None, :])
    assert table.targets.tolist() == ["3", "1", "2", "3", "1"] and table.target_kind == "class"
    real = read_series_csv(tmp_path / "x.csv", label_column=3, target_kind="real")
    np.testing.assert_array_equal(real.targets, labels.astype(np.float64))
    unlabelled = read_series_csv(tmp_path / "x.csv", label_column="label", target_kind="none")
    assert unlabelled.targets is None and unlabelled.target_kind == "none"


def test_read_series_csv_without_header_string_labels_and_empty_cells(tmp_path):
    path = write(tmp_path, "x.csv", "cat,1.5,2,3\ndog,4,,\n\nbird,,7,8\n")
    table = read_series_csv(path, label_column=0)
    assert table.targets.tolist() == ["cat", "dog", "bird"]
    np.testing.assert_array_equal(table.series[0], [[1.5, 2, 3]])
    np.testing.assert_array_equal(table.series[1], [[4]])  # trailing empty cells are padding
    np.testing.assert_array_equal(table.series[2], [[np.nan, 7, 8]])  # an empty cell inside is a missing value
    plain = read_series_csv(write(tmp_path, "y.csv", "1,2,3\n4,5,6\n"), label_column=None)
    assert plain.targets is None and np.stack(plain.series).tolist() == [[[1, 2, 3]], [[4, 5, 6]]]
    last = read_series_csv(write(tmp_path, "z.csv", "1,2,a\n4,5,b\n"), label_column=-1)
    assert last.targets.tolist() == ["a", "b"] and np.stack(last.series).tolist() == [[[1, 2]], [[4, 5]]]


@pytest.mark.parametrize(("text", "kwargs", "message"), [
    ("", {}, r": expected a header or rows of values, found an empty file\."),
    ("label,t0,t1\n1,0.5,0.25\n2,abc,1\n", {}, r" line 3, column `t0`: expected a number, found 'abc'\."),
    ("0.5,0.25,1\n0.5,x,2\n", {"label_column": 2}, r" line 2, column `1`: expected a number, found 'x'\."),
    ("id,t0,t1\n1,2,3\n", {}, r" line 1: expected a label column `label`, found columns id, t0, t1\."),
    ("lable,t0\n1,2\n", {}, r" line 1: expected a label column `label`, found columns lable, t0\. Did you mean "
                            r"`lable`\?"),
    ("1,2,3\n", {}, r" line 1: expected a header row naming the label column `label`, found a row of numbers; pass "
                    r"`label_column` as an index, or None, for a file without a header\."),
    ("1,2,3\n", {"label_column": 3}, r": expected `label_column` in -3\.\.2 for its 3 columns, found 3\."),
    ("label,t0,t1\n1,2,3\n1,2\n", {}, r" line 3: expected 3 cells like the first row, found 2\."),
    ("label,t0,t1\n", {}, r": expected at least one row of values after the header, found none\."),
    ("label,t0\nhigh,1\n", {"target_kind": "real"}, r" line 2: expected a numeric target in column `label`, found "
                                                    r"'high'\."),
    ("label,t0\n,1\n", {}, r" line 2: expected a class label in column `label`, found an empty cell\."),
    ("label,t0,t1\n1,,\n", {}, r" line 2: expected at least one value that is not NaN, found only NaN\."),
])
def test_read_series_csv_errors(tmp_path, text, kwargs, message):
    with pytest.raises(DataError, match=r"^Invalid CSV file .*x\.csv" + message + "$"):
        read_series_csv(write(tmp_path, "x.csv", text), **kwargs)


def test_read_series_csv_rejects_an_unknown_target_kind(tmp_path):
    with pytest.raises(ConfigError, match=r"^Invalid `target_kind`: expected one of 'class', 'real', 'none', "
                                          r"received 'reals'\. Did you mean `real`\?$"):
        read_series_csv(write(tmp_path, "x.csv", "label,t0\n1,2\n"), target_kind="reals")


# --- stack_series and znormalize against loops ------------------------------------------------------------------------

def random_series(lengths, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(channels, n)) for n in lengths]


def resample_reference(values: np.ndarray, length: int) -> np.ndarray:
    """Linear interpolation written out point by point, first and last values kept."""
    out = np.empty((values.shape[0], length))
    steps = values.shape[1] - 1
    for c in range(values.shape[0]):
        for j in range(length):
            position = j * steps / (length - 1) if length > 1 else 0.0
            left = min(math.floor(position), max(steps - 1, 0))
            frac = position - left
            right = min(left + 1, steps)
            out[c, j] = values[c, left] + (values[c, right] - values[c, left]) * frac
    return out


@pytest.mark.parametrize("length", [None, 12])
def test_stack_series_pad(length):
    series = random_series([5, 1, 9, 3])
    x, lengths = stack_series(series, length=length)
    expected = np.full((4, 3, length or 9), np.nan)
    for n, values in enumerate(series):
        for c in range(3):
            for t in range(values.shape[1]):
                expected[n, c, t] = values[c, t]
    assert x.dtype == np.float32 and lengths.dtype == np.int64
    np.testing.assert_array_equal(x, expected.astype(np.float32))
    assert lengths.tolist() == [5, 1, 9, 3]


@pytest.mark.parametrize("length", [None, 1, 4, 20])
def test_stack_series_resample(length):
    series = random_series([5, 1, 9, 2], seed=1)
    x, lengths = stack_series(series, mode="resample", length=length)
    target = length or 9
    expected = np.stack([resample_reference(values, target) for values in series])
    assert x.shape == (4, 3, target) and lengths.tolist() == [target] * 4
    np.testing.assert_allclose(x, expected.astype(np.float32), rtol=1e-6, atol=1e-6)
    if target == 9:  # the longest series is already at the target length: unchanged
        np.testing.assert_array_equal(x[2], series[2].astype(np.float32))


@pytest.mark.parametrize("length", [None, 2])
def test_stack_series_truncate(length):
    series = random_series([5, 3, 9], seed=2)
    x, lengths = stack_series(series, mode="truncate", length=length)
    target = length or 3
    expected = np.array([[[values[c, t] for t in range(target)] for c in range(3)] for values in series])
    np.testing.assert_array_equal(x, expected.astype(np.float32))
    assert lengths.tolist() == [target] * 3


@pytest.mark.parametrize(("args", "kwargs", "error", "message"), [
    ([[]], {}, DataError, r"Invalid `series`: expected at least one array of shape \(C, L\), received an empty list\."),
    ([[np.zeros((2, 3)), np.zeros(3)]], {}, DataError, r"Invalid `series\[1\]`: expected an array of shape \(C, L\) "
                                                       r"with C, L >= 1, received shape \(3,\)\."),
    ([[np.zeros((2, 0))]], {}, DataError, r"Invalid `series\[0\]`: expected an array of shape \(C, L\) with C, L >= 1, "
                                          r"received shape \(2, 0\)\."),
    ([[[1.0, 2.0]]], {}, DataError, r"Invalid `series\[0\]`: expected an array of shape \(C, L\) with C, L >= 1, "
                                    r"received list\."),
    ([[np.zeros((2, 3)), np.zeros((3, 3))]], {}, DataError, r"Invalid `series\[1\]`: expected 2 channels like "
                                                            r"`series\[0\]`, received 3\."),
    ([[np.zeros((1, 3))]], {"mode": "padd"}, ConfigError, r"Invalid `mode`: expected one of 'pad', 'resample', "
                                                          r"'truncate', received 'padd'\. Did you mean `pad`\?"),
    ([[np.zeros((1, 3)), np.zeros((1, 5))]], {"length": 4}, ConfigError,
     r"Invalid `length` for mode 'pad': expected at least the longest series, 5, received 4; use mode 'truncate' or "
     r"'resample' to shorten\."),
    ([[np.zeros((1, 3)), np.zeros((1, 5))]], {"mode": "truncate", "length": 4}, ConfigError,
     r"Invalid `length` for mode 'truncate': expected at most the shortest series, 3, received 4; use mode 'pad' or "
     r"'resample' to lengthen\."),
    ([[np.zeros((1, 3))]], {"mode": "resample", "length": 0}, ConfigError,
     r"Invalid `length`: expected a positive int or None, received 0\."),
])
def test_stack_series_errors(args, kwargs, error, message):
    with pytest.raises(error, match="^" + message + "$"):
        stack_series(*args, **kwargs)


def znormalize_reference(x: np.ndarray) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            valid = [float(v) for v in x[n, c] if not math.isnan(v)]
            if not valid:
                continue
            mean = math.fsum(valid) / len(valid)
            std = math.sqrt(math.fsum((v - mean) ** 2 for v in valid) / len(valid))
            for t, v in enumerate(x[n, c]):
                if not math.isnan(v):
                    out[n, c, t] = 0.0 if max(valid) == min(valid) else (v - mean) / std
    return out


def test_znormalize_against_a_loop_with_nan_and_constant_series():
    rng = np.random.default_rng(3)
    x = rng.normal(loc=5.0, scale=3.0, size=(4, 3, 11))
    x[0, 1, 4:] = np.nan  # padding
    x[1, 0, 2] = np.nan  # a missing value
    x[2, 2] = 0.1  # constant, whose float std is not exactly 0
    x[3, 1] = np.nan  # nothing at all
    x[3, 2, :] = np.nan
    x[3, 2, 5] = 7.0  # a single value
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = znormalize(x)
    expected = znormalize_reference(x)
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12)
    assert result.dtype == np.float64 and np.isnan(result).tolist() == np.isnan(x).tolist()
    assert (result[2, 2] == 0).all() and result[3, 2, 5] == 0
    assert znormalize(x.astype(np.float32)).dtype == np.float32
    assert znormalize(np.arange(6).reshape(1, 1, 6)).dtype == np.float64


def test_doctests_run():
    assert doctest.testmod(series_module, verbose=False).failed == 0


def test_series_table_fields():
    assert [field for field in SeriesTable.__dataclass_fields__] == ["series", "targets", "target_kind",
                                                                      "class_labels", "source"]
