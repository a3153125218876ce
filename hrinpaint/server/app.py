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

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from hrinpaint import __version__
from hrinpaint.errors import InpaintError
from hrinpaint.methods import resolve_method
from hrinpaint.server.jobs import DONE, FAILED, Job, JobQueue, QueueFull
from hrinpaint.server.schemas import Catalogue, OptionsError, build_catalogue, parse_options, shipped_manifests
from hrinpaint.server.work import (
    InpaintJob,
    InpaintResult,
    RequestError,
    Workspace,
    check_mask_size,
    download_stem,
    probe,
    run_inpaint,
)

logger = logging.getLogger("hrinpaint.server")

STATIC_DIR = Path(__file__).parent / "static"
# multipart boundaries and the small form fields ride on top of the two files
_FORM_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class ServerSettings:
    """Limits of one server.

    Attributes:
        max_upload_bytes: largest request body (image and mask together).
        max_pixels: largest image (and mask), checked from the header before anything is decoded.
        queue_size: jobs that may wait while one runs; more are refused with 503.
        keep_seconds: how long a finished job's result waits to be fetched.
        temp_dir: where the per-job temporary directories go (None: the system's temporary directory).
        allowed_hosts: Host headers the server answers (empty: any). ``hrinpaint serve`` on loopback allows only
            ``127.0.0.1`` and ``localhost``, so a web page that rebinds its own name to 127.0.0.1 (DNS
            rebinding) cannot use the server from the user's browser.
        device, half: where network methods run (``auto``: CUDA, then MPS, then the CPU) and whether in float16
            on a GPU; the server's choice, not the client's.
    """

    max_upload_bytes: int = 100 * 1024 * 1024
    max_pixels: int = 100_000_000
    queue_size: int = 4
    keep_seconds: float = 300.0
    temp_dir: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    device: str = "auto"
    half: bool = False

    def __post_init__(self) -> None:
        if self.max_upload_bytes < 1 or self.max_pixels < 1:
            raise ValueError("max_upload_bytes and max_pixels must be positive")
        if self.queue_size < 0:
            raise ValueError(f"queue_size must be >= 0, got {self.queue_size}")


# Form fields of POST /api/inpaint and POST /api/jobs (module level: FastAPI resolves them by name).
image_field = Annotated[UploadFile, File(description="the photo: JPEG, PNG, WebP, TIFF or BMP")]
mask_field = Annotated[
    UploadFile, File(description="the mask, same size as the photo; non-zero (or painted alpha) = hole")
]
method_field = Annotated[
    str | None, Form(description="filler+lifter, e.g. telea+cra (default: the measured best, see GET /api/methods)")
]
options_field = Annotated[
    str | None,
    Form(
        description=(
            "JSON object following the InpaintOptions schema: pipeline options (working_size, grow, ...), "
            "mask reading (invert_mask, mask_threshold), quality, and 'filler' / 'lifter' objects following "
            "the chosen parts' schemas (TeleaFillerOptions, CraLifterOptions, ...)"
        )
    ),
]


class Health(BaseModel):
    status: str = "ok"
    version: str
    queue: dict[str, Any]


class JobCreated(BaseModel):
    id: str
    status_url: str
    result_url: str


class JobStatus(BaseModel):
    id: str
    state: str = Field(description="queued, running, done or failed")
    stage: str = Field(description="queued, reading, filling, writing, done or failed")
    done: int = Field(description="regions filled so far")
    total: int = Field(description="regions to fill (0 until the first region is done)")
    position: int = Field(description="place in the queue, 1 = next; 0 once it runs")
    seconds: float | None = Field(description="time since it started running")
    error: str | None = None
    error_status: int | None = Field(None, description="HTTP status of the failure")
    result_url: str


class UploadLimit:
    """ASGI middleware: refuses a request body over ``max_bytes`` from its Content-Length, before reading it."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            problem: tuple[int, str] | None = None
            if length is None and b"chunked" in headers.get(b"transfer-encoding", b""):
                problem = (411, "send the upload with a Content-Length")
            elif length is not None:
                try:
                    size = int(length)
                except ValueError:
                    size = -1
                if size < 0:
                    problem = (400, "bad Content-Length")
                elif size > self.max_bytes + _FORM_OVERHEAD:
                    problem = (
                        413,
                        f"the upload is {size / 2**20:.1f} MB, over the server's limit of "
                        f"{self.max_bytes / 2**20:.0f} MB",
                    )
            if problem is not None:
                response = JSONResponse({"detail": problem[1]}, status_code=problem[0], headers={"Connection": "close"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: ServerSettings | None = None, catalogue: Catalogue | None = None) -> FastAPI:
    """Builds the application; the worker thread starts with the app's lifespan (or on the first job)."""
    settings = settings or ServerSettings()
    catalogue = catalogue or build_catalogue()
    queue = JobQueue(capacity=settings.queue_size, keep_seconds=settings.keep_seconds)

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
    )
    app.state.settings = settings
    app.state.catalogue = catalogue
    app.state.jobs = queue
    app.add_middleware(UploadLimit, max_bytes=settings.max_upload_bytes)
    if settings.allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))

    @app.exception_handler(RequestError)
    async def request_error(_: Any, error: RequestError) -> JSONResponse:
        return JSONResponse({"detail": error.message}, status_code=error.status)

    @app.exception_handler(QueueFull)
    async def queue_full(_: Any, error: QueueFull) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": str(error.retry_after)})

    # ------------------------------------------------------------------------------------------ page

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # ------------------------------------------------------------------------------------------ API

    @app.get("/api/health", response_model=Health, tags=["server"])
    async def health() -> Health:
        """Liveness and the queue: whether a job runs, how many wait, how many may wait."""
        return Health(version=__version__, queue=queue.status())

    @app.get("/api/methods", tags=["methods"])
    async def methods() -> dict[str, Any]:
        """Methods (``filler+lifter``), each part's options as JSON schema, shipped weights and their measured
        numbers, the default method and the server's limits."""
        catalogue.refresh_weights(shipped_manifests())
        parts = {"fillers": catalogue.fillers, "lifters": catalogue.lifters}
        listed = {
            key: {
                name: {
                    "help": part.help,
                    "available": part.available,
                    "reason": part.reason,
                    "weights": part.weights,
                    "options": part.model.model_json_schema() if part.model is not None else None,
                }
                for name, part in group.items()
            }
            for key, group in parts.items()
        }
        method_list = []
        for name in catalogue.methods:
            spec = resolve_method(name)  # aliases name a filler+lifter pair
            filler, lifter = catalogue.fillers.get(spec.filler), catalogue.lifters.get(spec.lifter)
            if filler is None or lifter is None:  # registered after the server started
                continue
            reasons = [part.reason for part in (filler, lifter) if part.reason]
            method_list.append(
                {
                    "name": name,
                    "filler": spec.filler,
                    "lifter": spec.lifter,
                    "available": not reasons,
                    "reason": "; ".join(reasons) or None,
                }
            )
        return {
            "default": catalogue.default_method,
            "methods": method_list,
            **listed,
            "options": catalogue.options_model.model_json_schema(),
            "weights": catalogue.weights,
            "limits": {
                "max_upload_bytes": settings.max_upload_bytes,
                "max_pixels": settings.max_pixels,
                "queue_size": settings.queue_size,
            },
        }

    failures = {
        413: {"description": "upload or image too large"},
        415: {"description": "not an image"},
        422: {"description": "bad mask, method or options"},
        503: {"description": "queue full; see Retry-After"},
    }

    async def submit(image: UploadFile, mask: UploadFile, method: str | None, options: str | None) -> Job:
        """Checks the request, writes the uploads into a job's temporary directory and queues the job."""
        if queue.is_full():  # refuse before touching the uploads
            raise QueueFull(queue.retry_after())
        try:
            spec = resolve_method(method or None)
            parsed = parse_options(options, catalogue.options_model)
            filler, lifter = catalogue.fillers.get(spec.filler), catalogue.lifters.get(spec.lifter)
            if filler is None or lifter is None:
                raise OptionsError(f"method {spec.name} was added after the server started; restart it")
            filler_config = filler.validate(parsed.filler)
            lifter_config = lifter.validate(parsed.lifter)
        except (OptionsError, InpaintError) as error:
            raise RequestError(422, str(error)) from None
        image_bytes = await image.read()
        mask_bytes = await mask.read()
        image_header = probe(image_bytes, "image", settings.max_pixels)
        mask_header = probe(mask_bytes, "mask", settings.max_pixels)
        check_mask_size(image_header, mask_header)
        request = InpaintJob(
            method=spec.name,
            filler_config=filler_config,
            lifter_config=lifter_config,
            pipeline=catalogue.pipeline_options(parsed),
            invert_mask=parsed.invert_mask,
            mask_threshold=parsed.mask_threshold,
            quality=parsed.quality,
            max_pixels=settings.max_pixels,
            stem=download_stem(image.filename),
            device=settings.device,
            half=settings.half,
        )
        workspace = await run_in_threadpool(Workspace, image_bytes, mask_bytes, settings.temp_dir)
        del image_bytes, mask_bytes

        def work(job: Job) -> InpaintResult:
            try:
                return run_inpaint(job, request, workspace)
            except RequestError:
                raise
            except Exception:
                logger.exception("job %s (%s) failed", job.id, request.method)
                raise

        return queue.submit(work, cleanup=workspace.cleanup)

    @app.post(
        "/api/inpaint",
        tags=["inpaint"],
        response_class=Response,
        responses={200: {"content": {"image/*": {}}, "description": "the result, in the photo's format"}, **failures},
    )
    async def inpaint(
        image: image_field, mask: mask_field, method: method_field = None, options: options_field = None
    ) -> Response:
        """Fills the hole and returns the image in the photo's format (PNG for formats hrinpaint cannot write).

        Only hole pixels change; JPEG and WebP are re-encoded at ``quality``. An empty mask returns the photo
        unchanged, byte for byte."""
        job = await submit(image, mask, method, options)
        try:
            result = await asyncio.wrap_future(job.future)
        except RequestError:
            raise
        except Exception as error:
            raise _internal(error) from None
        finally:
            queue.forget(job.id)
        return _image_response(result)

    @app.post("/api/jobs", tags=["inpaint"], status_code=202, response_model=JobCreated, responses=failures)
    async def create_job(
        image: image_field, mask: mask_field, method: method_field = None, options: options_field = None
    ) -> JobCreated:
        """Queues the same work as ``POST /api/inpaint`` and answers at once; poll ``status_url`` for progress
        and fetch ``result_url`` once the state is ``done``."""
        job = await submit(image, mask, method, options)
        return JobCreated(id=job.id, status_url=f"/api/jobs/{job.id}", result_url=f"/api/jobs/{job.id}/result")

    def find(job_id: str) -> Job:
        job = queue.get(job_id)
        if job is None:
            raise RequestError(404, f"no job {job_id!r} (results are kept {settings.keep_seconds:.0f} s, fetched once)")
        return job

    @app.get("/api/jobs/{job_id}", tags=["inpaint"], response_model=JobStatus)
    async def job_status(job_id: str) -> JobStatus:
        """State and progress of a job: poll it (a few times a second at most)."""
        job = find(job_id)
        error, error_status = None, None
        if job.state == FAILED:
            failure = _as_request_error(job.future.exception())
            error, error_status = failure.message, failure.status
        return JobStatus(
            id=job.id,
            state=job.state,
            stage=job.stage,
            done=job.done,
            total=job.total,
            position=queue.position(job),
            seconds=job.seconds,
            error=error,
            error_status=error_status,
            result_url=f"/api/jobs/{job.id}/result",
        )

    @app.get(
        "/api/jobs/{job_id}/result",
        tags=["inpaint"],
        response_class=Response,
        responses={200: {"content": {"image/*": {}}}, 404: {"description": "unknown or expired"}, 409: {}},
    )
    async def job_result(job_id: str) -> Response:
        """The result's bytes (once: the job is forgotten after), or the job's error."""
        job = find(job_id)
        if job.state not in (DONE, FAILED):
            raise RequestError(409, f"job {job_id} is {job.state}; poll /api/jobs/{job_id} until it is done")
        queue.forget(job.id)
        if job.state == FAILED:
            raise _as_request_error(job.future.exception())
        return _image_response(job.future.result())

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in catalogue.models():  # the per-method option schemas that the 'options' field refers to
                components[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _image_response(result: InpaintResult) -> Response:
    return Response(
        result.data,
        media_type=result.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{result.filename}"',
            "Cache-Control": "no-store",
            "X-Hrinpaint-Method": result.method,
            "X-Hrinpaint-Filled-Pixels": str(result.filled_pixels),
            "X-Hrinpaint-Size": f"{result.width}x{result.height}",
            "X-Hrinpaint-Seconds": f"{result.seconds:.3f}",
            "Access-Control-Expose-Headers": "Content-Disposition, X-Hrinpaint-Method, X-Hrinpaint-Filled-Pixels",
        },
    )


def _internal(error: BaseException | None) -> RequestError:
    return RequestError(500, f"internal error ({type(error).__name__}: {error}); please report it")


def _as_request_error(error: BaseException | None) -> RequestError:
    return error if isinstance(error, RequestError) else _internal(error)
