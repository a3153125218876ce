"""What every route reads: the server's settings, its method catalogue and its job queue, as one dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from hrinpaint.server.jobs import Job, JobQueue
from hrinpaint.server.schemas import Catalogue
from hrinpaint.server.settings import ServerSettings
from hrinpaint.server.work import RequestError


@dataclass(frozen=True)
class ServerState:
    """One application's settings, catalogue and queue (``app.state.server``; also ``app.state.settings``,
    ``.catalogue`` and ``.jobs``)."""

    settings: ServerSettings
    catalogue: Catalogue
    queue: JobQueue

    def find(self, job_id: str) -> Job:
        """The job, or a 404 that says how long results are kept."""
        job = self.queue.get(job_id)
        if job is None:
            keep = self.settings.keep_seconds
            raise RequestError(404, f"no job {job_id!r} (results are kept {keep:.0f} s, fetched once)")
        return job


def server_state(request: Request) -> ServerState:
    """FastAPI dependency: the state of the application that received ``request``."""
    return request.app.state.server


#: A route parameter that receives the :class:`ServerState` (no part of the request or of the OpenAPI schema).
Server = Annotated[ServerState, Depends(server_state)]
