"""How a failed or interrupted pool run is recorded (labelling and evaluation share it)."""

import time
from concurrent.futures.process import BrokenProcessPool

import pytest

from goodregions.runtime.worker_pool import finishing_run, record_failure


class FakePool:
    def __init__(self):
        self.stopped = False

    def terminate_workers(self):
        self.stopped = True


def test_an_interrupt_is_recorded_and_the_workers_end():
    run, pool = {"status": "running"}, FakePool()
    record_failure(run, KeyboardInterrupt(), pool, job="labelling", kept="shards")  # returns: the caller re-raises
    assert run["status"] == "interrupted" and pool.stopped


def test_a_dead_worker_becomes_a_clear_error_that_says_how_to_resume():
    run, pool = {"status": "running"}, FakePool()
    with pytest.raises(RuntimeError, match="a worker of the evaluation run died .* the finished cases are kept: run the same command again"):
        record_failure(run, BrokenProcessPool("gone"), pool, job="evaluation", kept="cases")
    assert run["status"] == "failed: BrokenProcessPool" and pool.stopped


def test_an_error_without_a_pool_is_only_recorded():
    run = {"status": "running"}
    record_failure(run, ValueError("bad"), None, job="labelling", kept="shards")
    assert run["status"] == "failed: ValueError"


class FakeBar:
    closed = False

    def close(self):
        self.closed = True


def test_a_finished_run_is_complete_timed_and_saved():
    run, bar, saved = {"status": "running"}, FakeBar(), []
    with finishing_run(run, None, job="labelling", kept="shards", bar=bar, start=time.perf_counter() - 2.0,
                       save=lambda: saved.append(dict(run))):
        pass
    assert run["status"] == "complete" and run["seconds"] >= 2.0 and bar.closed
    assert saved == [run]  # saved once, after the status and the seconds were set


def test_a_failing_run_is_recorded_saved_and_re_raised():
    run, bar, saved, pool = {"status": "running"}, FakeBar(), [], FakePool()
    with pytest.raises(KeyboardInterrupt):
        with finishing_run(run, pool, job="evaluation", kept="cases", bar=bar, start=time.perf_counter(),
                           save=lambda: saved.append(dict(run))):
            raise KeyboardInterrupt
    assert run["status"] == "interrupted" and pool.stopped and bar.closed and saved[0]["status"] == "interrupted"
    with pytest.raises(RuntimeError, match="a worker of the evaluation run died"):
        with finishing_run(run, pool, job="evaluation", kept="cases", bar=bar, start=time.perf_counter(), save=lambda: None):
            raise BrokenProcessPool("gone")
