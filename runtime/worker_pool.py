"""Process pools of the long jobs (labelling, evaluation): worker set-up, a clean stop, and
the bookkeeping of a run however it ends.

Both jobs write one finished file per task, atomically, so a pool that fails or is
interrupted loses only the tasks in flight, and the same command resumes.
"""

from __future__ import annotations

import contextlib
import signal
import time
from concurrent.futures.process import BrokenProcessPool

__all__ = ["init_estimator_worker", "stop_workers", "record_failure", "finishing_run"]


def init_estimator_worker():
    """Set up a worker process that runs the kernel estimator (pool ``initializer``)."""
    import cv2

    from goodregions.kernels_fast import warmup

    # Ctrl-C reaches every process of the terminal's group. The executor would catch a worker's
    # KeyboardInterrupt and go on with the queued tasks, so a worker dies at once instead; its
    # output is never partial under a final name (os.replace), at worst a hidden .tmp file is left.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    cv2.setNumThreads(1)  # one process per core already; OpenCV's own threads would oversubscribe
    warmup()  # loads the on-disk compilation cache once per worker


def stop_workers(pool):
    """Cancel the queued tasks and end the workers now, not after their current task."""
    terminate = getattr(pool, "terminate_workers", None)  # public from Python 3.14
    if terminate is not None:
        terminate()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown() forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()


def record_failure(run, error, pool, *, job, kept):
    """Record why a run ended early, stop its workers, and explain a dead worker.

    Parameters
    ----------
    run : dict
        The run's manifest entry; its ``status`` becomes ``"interrupted"`` or ``"failed: ..."``.
    error : BaseException
        What ended the run.
    pool : ProcessPoolExecutor or None
        Its workers are ended now.
    job, kept : str
        Words of the message, e.g. ``"labelling"`` and ``"shards"``.

    Raises
    ------
    RuntimeError
        From ``error`` when a worker died (``BrokenProcessPool``); otherwise this returns and
        the caller re-raises ``error``.
    """
    run["status"] = "interrupted" if isinstance(error, KeyboardInterrupt) else f"failed: {type(error).__name__}"
    if pool is not None:
        stop_workers(pool)
    if isinstance(error, BrokenProcessPool):
        raise RuntimeError(f"a worker of the {job} run died (killed, out of memory, or Ctrl-C); the finished {kept} are kept: "
                           "run the same command again to resume") from error


@contextlib.contextmanager
def finishing_run(run, pool, *, job, kept, bar, start, save):
    """Close a run's manifest entry however the ``with`` body ends.

    On success ``run["status"]`` becomes ``"complete"``; on any exception
    :func:`record_failure` records it and stops ``pool``, and the exception propagates.
    Either way the progress ``bar`` is closed, ``run["seconds"]`` is set from ``start``
    (a ``time.perf_counter()`` value) and ``save()`` writes the manifest.
    """
    try:
        yield
        run["status"] = "complete"
    except BaseException as error:
        record_failure(run, error, pool, job=job, kept=kept)
        raise
    finally:
        bar.close()
        run["seconds"] = round(time.perf_counter() - start, 3)
        save()
