"""Batches: every photo of a folder through one method, in this process, in local worker processes or on Dask.

One task is one image: :func:`~hrinpaint.batch.plan.plan_tasks` pairs photos with masks by file stem,
:func:`~hrinpaint.batch.task.process` runs one task wherever it is sent and turns a bad input into a reported
:class:`Outcome`, and :func:`~hrinpaint.batch.run.run_batch` picks the engine and prints the same progress,
per-image lines and summary for all of them. Nothing here imports Dask, torch or OpenCV until it is used.
"""

from hrinpaint.batch.plan import BatchOptions, Outcome, Task, plan_tasks
from hrinpaint.batch.run import run_batch

__all__ = ["BatchOptions", "Outcome", "Task", "plan_tasks", "run_batch"]
