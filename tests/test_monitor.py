"""The training view (TensorBoard events, sample GIFs) failing on a full disk: one warning line,
no thread traceback, and training goes on."""

from __future__ import annotations

import errno
import os
import threading

import pytest
import torch

pytest.importorskip("tensorboard")
from tensorboard.summary.writer import record_writer  # noqa: E402

from genvid.train.monitor import Monitor  # noqa: E402


def _disk_full(self, data) -> None:  # noqa: ANN001
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def thread_errors(monkeypatch) -> list:
    """What reaches the thread exception hook that was there before genvid's (printed)."""
    reached: list = []
    monkeypatch.setattr(threading, "excepthook", reached.append)
    return reached


@pytest.mark.parametrize("fills", ["before the run", "during the run"])
def test_a_full_disk_stops_the_events_with_one_warning_and_no_thread_traceback(
    fills, tmp_path, monkeypatch, capfd, thread_errors
):
    if fills == "before the run":
        monkeypatch.setattr(record_writer.RecordWriter, "write", _disk_full)
    monitor = Monitor(tmp_path / "tb", steps=4, start_step=0)
    monkeypatch.setattr(record_writer.RecordWriter, "write", _disk_full)
    for step in range(1, 5):
        monitor.log(step, {"loss": 1.0, "examples_per_s": 2.0})
    monitor.log_samples(4, torch.zeros(2, 3, 1, 8, 8, dtype=torch.uint8))
    monitor.close()
    err = capfd.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("genvid: warning")]
    assert len(warnings) == 1, err
    assert "No space left on device" in warnings[0] and "training goes on" in warnings[0]
    assert str(tmp_path) in warnings[0]
    assert "Traceback" not in err and thread_errors == []
    assert monitor.events_failed


def test_other_threads_exceptions_still_reach_the_hook(tmp_path, thread_errors):
    Monitor(tmp_path / "tb", steps=1, start_step=0).close()  # installs the quieting hook

    def fail() -> None:
        raise RuntimeError("a bug elsewhere")

    thread = threading.Thread(target=fail)
    thread.start()
    thread.join()
    assert [str(args.exc_value) for args in thread_errors] == ["a bug elsewhere"]


def test_events_are_written_when_the_disk_has_room(tmp_path, capfd):
    monitor = Monitor(tmp_path / "tb", steps=2, start_step=0)
    monitor.log(1, {"loss": 1.5, "examples_per_s": 2.0})
    monitor.close()
    assert not monitor.events_failed
    assert "warning" not in capfd.readouterr().err
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [e.value for e in events.Scalars("train/loss")] == [1.5]
