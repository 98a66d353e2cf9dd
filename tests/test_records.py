"""The run-folder plumbing the DQN and self-play loops share: JSON-lines logs trimmed on resume, a clean stop on the
first Ctrl-C and an immediate one on the second, settings files refused in one line."""

from __future__ import annotations

import os
import signal

import pytest

from striate.errors import RunFolderError
from striate.train.records import StopOnSignal, append_jsonl, keep_rows, read_jsonl, read_settings


def test_rows_after_the_checkpoint_and_a_torn_last_line_are_dropped(tmp_path):
    path = tmp_path / "curve.jsonl"
    for step in (100, 200, 300):
        append_jsonl(path, {"step": step, "value": step / 10})
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"step": 400, "val')  # a crash in the middle of a write
    kept = keep_rows(path, "step", 200)
    assert [row["step"] for row in kept] == [100, 200]
    assert read_jsonl(path) == [{"step": 100, "value": 10.0}, {"step": 200, "value": 20.0}]
    path.write_text('{"step": 1}\nnot json\n')
    with pytest.raises(RunFolderError, match=r"curve\.jsonl line 2: expected one JSON object per line, as `x` writes"):
        read_jsonl(path, "x")
    assert read_jsonl(tmp_path / "missing.jsonl") == []


def test_first_signal_is_remembered_second_stops_at_once():
    before = signal.getsignal(signal.SIGINT)
    with StopOnSignal() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.number == signal.SIGINT and stop.name == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before  # the previous handler is back


def test_settings_of_another_command_or_broken_yaml_are_refused(tmp_path):
    (tmp_path / "config.yaml").write_text("a: 1\n")
    with pytest.raises(RunFolderError, match=r"expected a folder written by `striate rl train` \(with config\.yaml "
                                             r"and agent\.json\), found none"):
        read_settings(tmp_path, "striate rl train", "agent.json")
    (tmp_path / "agent.json").write_text("{}")
    assert read_settings(tmp_path, "striate rl train", "agent.json") == {"a": 1}
    (tmp_path / "config.yaml").write_text("a: [1,\n")
    with pytest.raises(RunFolderError, match=r"Cannot read .*config\.yaml: expected the YAML written by"):
        read_settings(tmp_path, "striate rl train", "agent.json")
    (tmp_path / "config.yaml").write_text("- 1\n")
    with pytest.raises(RunFolderError, match=r"expected a mapping of settings, found list"):
        read_settings(tmp_path, "striate rl train", "agent.json")
