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
import ipaddress
import logging
import os
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from hrinpaint import __version__
from hrinpaint.errors import ConfigError, InpaintError, JobCancelled, JobTimedOut
from hrinpaint.io import DEFAULT_MAX_PIXELS
from hrinpaint.methods import resolve_method
from hrinpaint.server.docs import render_docs
from hrinpaint.server.jobs import DONE, FAILED, Job, JobQueue, QueueFull
from hrinpaint.server.schemas import Catalogue, OptionsError, build_catalogue, parse_options, shipped_manifests
from hrinpaint.server.work import (
    InpaintJob,
    InpaintResult,
    RequestError,
    ascii_name,
    check_mask_size,
    download_stem,
    probe,
    run_inpaint,
    upload_name,
)

logger = logging.getLogger("hrinpaint.server")

STATIC_DIR = Path(__file__).parent / "static"
# multipart boundaries and the small form fields ride on top of the two files
_FORM_OVERHEAD = 64 * 1024


#: Memory a job may need per pixel of the photo, in bytes, for the default pixel limit. Measured: a 24 MP photo
#: with the default method peaks at 0.52 GB resident (~22 B/px with the interpreter), and decoding alone a 9000 x
#: 9000 zlib bomb took the server from 0.7 to 2.9 GB (27 B/px); 48 leaves room for the heavier methods.
BYTES_PER_PIXEL = 48
#: Names under which a loopback server answers (the Host header); other names are refused (DNS rebinding).
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def machine_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its cgroup's limit when lower."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 * 2**30  # not POSIX: assume a modest machine
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        with contextlib.suppress(OSError, ValueError):
            text = Path(limit_file).read_text().strip()
            if text.isdigit():
                total = min(total, int(text))
    return total


def pixel_limit_for(memory_bytes: int) -> int:
    """The default pixel limit for a server with ``memory_bytes``: half of it at :data:`BYTES_PER_PIXEL`."""
    return max(1_000_000, min(DEFAULT_MAX_PIXELS, memory_bytes // 2 // BYTES_PER_PIXEL))


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and every loopback address (127.0.0.0/8, ``::1``), bracketed or not."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_hosts_for(host: str, allow_host: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The Host names a server listening on ``host`` answers: loopback names on loopback, else ``allow_host``
    (plus ``host`` itself unless it is a wildcard address). Raises ConfigError when nothing would be allowed."""
    names = [name.strip().strip("[]").lower() for name in allow_host if name.strip()]
    if is_loopback(host):
        return tuple(dict.fromkeys([*LOOPBACK_NAMES, host.strip("[]").lower(), *names]))
    if host not in ("0.0.0.0", "::", ""):
        names.append(host.strip("[]").lower())
    if not names:
        raise ConfigError(
            f"--host {host} listens on every network: name the host names clients use with --allow-host "
            "(comma-separated; '*' allows any, which lets other web sites reach it through DNS rebinding)"
        )
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class ServerSettings:
    """Limits of one server.

    Attributes:
        max_upload_bytes: largest request body (image and mask together).
        max_pixels: largest image (and mask), checked from the header before anything is decoded; None derives it
            from the memory (:func:`pixel_limit_for`), and ``max_pixels_source`` says how.
        queue_size: jobs that may wait while one runs; more are refused with 503.
        keep_seconds: how long a finished job's result waits to be fetched.
        temp_dir: unused (uploads are decoded from memory); kept so that existing callers still work.
        allowed_hosts: Host names the server answers (empty: any). ``hrinpaint serve`` on a loopback address
            allows only the loopback names (:func:`allowed_hosts_for`), so a web page that rebinds its own name to
            127.0.0.1 (DNS rebinding) cannot use the server from the user's browser.
        job_timeout: seconds a job may run before it is stopped and answered 504 (None: no limit).
        memory_bytes: the memory ``max_pixels`` is derived from (None: this machine's, :func:`machine_memory`).
        check_origin: refuse POST and DELETE requests whose ``Origin`` is another site (a form on any web page
            the user visits could otherwise queue work on this machine).
        device, half: where network methods run (``auto``: CUDA, then MPS, then the CPU) and whether in float16
            on a GPU; the server's choice, not the client's.
    """

    max_upload_bytes: int = 100 * 1024 * 1024
    max_pixels: int | None = None
    queue_size: int = 4
    keep_seconds: float = 300.0
    temp_dir: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    job_timeout: float | None = 300.0
    memory_bytes: int | None = None
    check_origin: bool = True
    max_pixels_source: str = ""
    device: str = "auto"
    half: bool = False

    def __post_init__(self) -> None:
        if self.max_upload_bytes < 1:
            raise ConfigError(f"the upload limit must be positive, got {self.max_upload_bytes} bytes")
        if self.max_pixels is not None and self.max_pixels < 1:
            raise ConfigError(f"--max-pixels must be positive, got {self.max_pixels}")
        if not 0 <= self.queue_size <= 1000:
            raise ConfigError(f"--queue-size must be 0 to 1000, got {self.queue_size}")
        if self.job_timeout is not None and not 0 < self.job_timeout <= 86_400:
            raise ConfigError(f"--job-timeout must be above 0 and at most 86400 s, got {self.job_timeout:g}")
        if self.max_pixels is None:
            memory = self.memory_bytes or machine_memory()
            object.__setattr__(self, "max_pixels", pixel_limit_for(memory))
            object.__setattr__(
                self,
                "max_pixels_source",
                f"half of {memory / 2**30:.1f} GiB of memory at {BYTES_PER_PIXEL} bytes a pixel; --max-pixels sets it",
            )
        elif not self.max_pixels_source:
            object.__setattr__(self, "max_pixels_source", "set by the server's --max-pixels")

    @property
    def pixel_limit(self) -> int:
        assert self.max_pixels is not None  # set in __post_init__
        return self.max_pixels


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
    state: str = Field(description="queued, running, done, failed or cancelled")
    stage: str = Field(description="queued, reading, filling, writing, done or failed")
    done: int = Field(description="regions filled so far")
    total: int = Field(description="regions to fill (0 until the first region is done)")
    position: int = Field(description="place in the queue, 1 = next; 0 once it runs")
    seconds: float | None = Field(description="time since it started running")
    error: str | None = None
    error_status: int | None = Field(None, description="HTTP status of the failure")
    result_url: str


class JobCancel(BaseModel):
    id: str
    cancelled: bool = Field(description="True when it was waiting or running; False when it had already ended")


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


def _host_name(host_header: str) -> str:
    """The name in a Host header without its port: ``[::1]:8080`` -> ``::1``, ``localhost:80`` -> ``localhost``."""
    host_header = host_header.strip().lower()
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class RequestGuard:
    """ASGI middleware: answers only allowed Host names, and refuses state-changing requests from other sites.

    A browser sends ``Origin`` with every POST and DELETE that a page makes; a page of this server has the
    server's own origin (its scheme and the Host the browser used), any other web page does not. Clients that
    are not browsers send no ``Origin`` and pass.
    """

    def __init__(self, app: Any, allowed_hosts: tuple[str, ...], check_origin: bool) -> None:
        self.app = app
        self.allowed = frozenset(name.lower() for name in allowed_hosts)
        self.check_origin = check_origin

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
            host = headers.get("host", "")
            problem: tuple[int, str] | None = None
            if self.allowed and "*" not in self.allowed and _host_name(host) not in self.allowed:
                problem = (400, "this server does not answer to that host name (hrinpaint serve --allow-host)")
            elif self.check_origin and scope.get("method", "GET") not in ("GET", "HEAD", "OPTIONS"):
                origin = headers.get("origin")
                if origin is not None and not _same_origin(origin, host, scope.get("scheme", "http")):
                    problem = (403, "requests from other web sites are refused: use the page this server serves")
            if problem is not None:
                response = JSONResponse({"detail": problem[1]}, status_code=problem[0])
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _same_origin(origin: str, host: str, scheme: str) -> bool:
    parts = urllib.parse.urlsplit(origin.strip())
    return parts.scheme == scheme and bool(parts.netloc) and parts.netloc.lower() == host.strip().lower()


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
    app.state.settings = settings
    app.state.catalogue = catalogue
    app.state.jobs = queue
    app.add_middleware(UploadLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(RequestGuard, allowed_hosts=settings.allowed_hosts, check_origin=settings.check_origin)

    @app.exception_handler(RequestError)
    async def request_error(_: Any, error: RequestError) -> JSONResponse:
        return JSONResponse({"detail": error.message}, status_code=error.status)

    @app.exception_handler(Exception)
    async def unexpected(_: Any, error: Exception) -> JSONResponse:
        # a bug: logged with its traceback; the client gets JSON without the message (it may hold a path)
        logger.error("unexpected %s", type(error).__name__, exc_info=error)
        return JSONResponse({"detail": f"internal error ({type(error).__name__}); please report it"}, 500)

    @app.exception_handler(QueueFull)
    async def queue_full(_: Any, error: QueueFull) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": str(error.retry_after)})

    # ------------------------------------------------------------------------------------------ page

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(render_docs(app.openapi()), headers={"Cache-Control": "no-cache"})

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
            pair_reason = catalogue.incompatible.get((spec.filler, spec.lifter))
            if pair_reason and not reasons:
                reasons.append(pair_reason)
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
                "max_pixels": settings.pixel_limit,
                "max_pixels_source": settings.max_pixels_source,
                "queue_size": settings.queue_size,
                "job_timeout_seconds": settings.job_timeout,
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
        image_header = probe(image_bytes, "image", settings.pixel_limit)
        mask_header = probe(mask_bytes, "mask", settings.pixel_limit)
        check_mask_size(image_header, mask_header)
        request = InpaintJob(
            method=spec.name,
            filler_config=filler_config,
            lifter_config=lifter_config,
            pipeline=catalogue.pipeline_options(parsed),
            invert_mask=parsed.invert_mask,
            mask_threshold=parsed.mask_threshold,
            quality=parsed.quality,
            max_pixels=settings.pixel_limit,
            stem=download_stem(image.filename),
            image_name=upload_name(image.filename, "image"),
            mask_name=upload_name(mask.filename, "mask"),
            device=settings.device,
            half=settings.half,
        )
        uploads = [image_bytes, mask_bytes]  # in memory only; dropped when the job ends
        del image_bytes, mask_bytes

        def work(job: Job) -> InpaintResult:
            try:
                return run_inpaint(job, request, *uploads)
            except (RequestError, JobCancelled):
                raise
            except Exception:
                logger.exception("job %s (%s) failed", job.id, request.method)
                raise

        return queue.submit(work, cleanup=uploads.clear)

    @app.post(
        "/api/inpaint",
        tags=["inpaint"],
        response_class=Response,
        responses={200: {"content": {"image/*": {}}, "description": "the result, in the photo's format"}, **failures},
    )
    async def inpaint(
        request: Request,
        image: image_field,
        mask: mask_field,
        method: method_field = None,
        options: options_field = None,
    ) -> Response:
        """Fills the hole and returns the image in the photo's format (PNG for formats hrinpaint cannot write).

        Only hole pixels change; JPEG and WebP are re-encoded at ``quality``. An empty mask returns the photo
        unchanged, byte for byte. The job is cancelled if the client disconnects before it ends."""
        job = await submit(image, mask, method, options)
        waiting = asyncio.wrap_future(job.future)
        try:
            while not waiting.done():
                await asyncio.wait({waiting}, timeout=0.2)
                if not waiting.done() and await request.is_disconnected():
                    queue.cancel(job.id, JobCancelled("the client went away"))
                    raise RequestError(499, "the client went away")
            try:
                result = waiting.result()
            except Exception as error:
                raise _as_request_error(error) from None
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
        error, error_status, state = None, None, job.state
        if job.state == FAILED:
            failure = _as_request_error(job.future.exception())
            error, error_status = failure.message, failure.status
            if isinstance(job.cancel_error, JobCancelled) and not isinstance(job.cancel_error, JobTimedOut):
                state = "cancelled"
        return JobStatus(
            id=job.id,
            state=state,
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

    @app.delete("/api/jobs/{job_id}", tags=["inpaint"], response_model=JobCancel)
    async def cancel_job(job_id: str) -> JobCancel:
        """Cancels a job: a waiting one is dropped, a running one stopped (the worker is free within a moment);
        a finished one is forgotten with its result."""
        job = find(job_id)
        cancelled = queue.cancel(job.id)
        if not cancelled:
            queue.forget(job.id)
        return JobCancel(id=job.id, cancelled=cancelled)

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


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII ``filename`` and, when the name is not plain ASCII, the exact name as RFC 5987
    ``filename*`` (UTF-8, percent-encoded), which every current browser prefers."""
    fallback = ascii_name(filename)
    value = f'attachment; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"
    return value


def _image_response(result: InpaintResult) -> Response:
    return Response(
        result.data,
        media_type=result.media_type,
        headers={
            "Content-Disposition": content_disposition(result.filename),
            "Cache-Control": "no-store",
            "X-Hrinpaint-Method": result.method,
            "X-Hrinpaint-Filled-Pixels": str(result.filled_pixels),
            "X-Hrinpaint-Size": f"{result.width}x{result.height}",
            "X-Hrinpaint-Seconds": f"{result.seconds:.3f}",
            "Access-Control-Expose-Headers": "Content-Disposition, X-Hrinpaint-Method, X-Hrinpaint-Filled-Pixels",
        },
    )


def _internal(error: BaseException | None) -> RequestError:
    # the type only: a bug's message may hold a server path; the log has the rest
    return RequestError(500, f"internal error ({type(error).__name__}); please report it")


def _as_request_error(error: BaseException | None) -> RequestError:
    if isinstance(error, RequestError):
        return error
    if isinstance(error, JobTimedOut):
        return RequestError(504, f"{error}; try a smaller working size or a faster method")
    if isinstance(error, JobCancelled):
        return RequestError(409, str(error))
    return _internal(error)
