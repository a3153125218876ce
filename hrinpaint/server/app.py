"""The FastAPI application: the browser page, the HTTP API and its limits.

Endpoints (OpenAPI at ``/docs``):

- ``GET /``: the page (static files in ``hrinpaint/server/static``, no build step).
- ``GET /api/health``: liveness and the queue's state.
- ``GET /api/methods``: methods, each part's options schema, shipped weights with their measured numbers, limits.
- ``POST /api/inpaint``: multipart ``image``, ``mask``, ``method``, ``options`` (JSON); waits and returns the
  result's bytes in the image's format.
- ``POST /api/jobs`` (same form): queues the job and answers 202 with its id at once; ``GET /api/jobs/{id}``
  reports its state and progress (poll it); ``GET /api/jobs/{id}/result`` returns the bytes once, then forgets.

Every failure is JSON ``{"detail": "..."}`` with a status that names its kind: 400 bad form, 411 no
Content-Length, 413 too large, 415 not an image, 422 bad mask, method or options, 503 queue full (with
``Retry-After``), 507 out of memory, 500 a bug.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from hrinpaint import __version__
from hrinpaint.server.jobs import JobQueue, QueueFull
from hrinpaint.server.middleware import RequestGuard, UploadLimit
from hrinpaint.server.responses import content_disposition, internal_error
from hrinpaint.server.routes import ROUTERS
from hrinpaint.server.routes.page import STATIC_DIR, StaticPage
from hrinpaint.server.schemas import Catalogue, build_catalogue
from hrinpaint.server.settings import (
    BYTES_PER_PIXEL,
    LOOPBACK_NAMES,
    ServerSettings,
    allowed_hosts_for,
    is_loopback,
    machine_memory,
    pixel_limit_for,
)
from hrinpaint.server.state import ServerState
from hrinpaint.server.work import RequestError

__all__ = [
    "BYTES_PER_PIXEL",
    "LOOPBACK_NAMES",
    "STATIC_DIR",
    "RequestGuard",
    "ServerSettings",
    "UploadLimit",
    "allowed_hosts_for",
    "content_disposition",
    "create_app",
    "is_loopback",
    "machine_memory",
    "pixel_limit_for",
]

logger = logging.getLogger("hrinpaint.server")


def create_app(settings: ServerSettings | None = None, catalogue: Catalogue | None = None) -> FastAPI:
    """Builds the application; the worker thread starts with the app's lifespan (or on the first job)."""
    settings = settings or ServerSettings()
    catalogue = catalogue or build_catalogue()
    queue = JobQueue(capacity=settings.queue_size, keep_seconds=settings.keep_seconds, time_limit=settings.job_timeout)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        queue.start()
        try:
            yield
        finally:
            await run_in_threadpool(queue.stop)

    app = FastAPI(
        title="hrinpaint",
        version=__version__,
        description=(
            "Fill masked regions of photos at any resolution. The page is at `/`. Send the photo and a mask "
            "of the same size (non-zero = hole) to `POST /api/inpaint` and get the result back in the photo's "
            "format, or use `POST /api/jobs` and poll `GET /api/jobs/{id}` for progress."
        ),
        lifespan=lifespan,
        docs_url=None,  # the default /docs loads its script from a CDN; ours is rendered here and works offline
        redoc_url=None,
    )
    app.state.server = ServerState(settings=settings, catalogue=catalogue, queue=queue)
    app.state.settings = settings
    app.state.catalogue = catalogue
    app.state.jobs = queue
    app.add_middleware(UploadLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(RequestGuard, allowed_hosts=settings.allowed_hosts, check_origin=settings.check_origin)
    app.add_exception_handler(RequestError, _request_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(QueueFull, _queue_full)  # type: ignore[arg-type]
    app.mount("/static", StaticPage(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router)
    app.openapi = lambda: _openapi(app, catalogue)  # type: ignore[method-assign]
    return app


async def _request_error(_: Any, error: RequestError) -> JSONResponse:
    return JSONResponse({"detail": error.message}, status_code=error.status)


async def _unexpected(_: Any, error: Exception) -> JSONResponse:
    # a bug: logged with its traceback; the client gets JSON without the message (it may hold a path)
    logger.error("unexpected %s", type(error).__name__, exc_info=error)
    return JSONResponse({"detail": internal_error(error).message}, 500)


async def _queue_full(_: Any, error: QueueFull) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": str(error.retry_after)})


def _openapi(app: FastAPI, catalogue: Catalogue) -> dict[str, Any]:
    """FastAPI's document plus the per-method option schemas that the ``options`` form field refers to."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in catalogue.models():
            components[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
        app.openapi_schema = schema
    return app.openapi_schema
