"""The worker's Celery pool: the stock thread pool, whose threads each wait on one job of the process's loop."""

from __future__ import annotations

from typing import Any

from celery.concurrency import thread

from forest.worker import runtime


class TaskPool(thread.TaskPool):
    """Celery's thread pool, able to give up its jobs.

    A cold shutdown (`SIGQUIT`, a second Ctrl-C) asks the pool to kill each running job, which the thread
    pool refuses (NotImplementedError), and the worker then never exits: its threads keep waiting on
    their jobs. Here a job is a coroutine on the process's loop, so the pool cancels them instead and the
    threads return; the reaper hands the jobs to another worker, as after a kill.
    """

    def terminate_job(self, pid: int, signal: Any = None) -> None:
        """Give up every job of the process (a thread pool's jobs share its pid, so one cannot be told apart)."""
        runtime.abandon()
