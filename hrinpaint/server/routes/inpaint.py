"""The work: ``POST /api/inpaint`` (wait for the result) and the queued jobs, ``POST /api/jobs``, ``GET
/api/jobs/{id}`` (state and progress), ``GET /api/jobs/{id}/result`` (the bytes, once) and ``DELETE
/api/jobs/{id}`` (cancel)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from hrinpaint.errors import InpaintError, JobCancelled, JobTimedOut
from hrinpaint.methods import resolve_method
from hrinpaint.server.jobs import DONE, FAILED, Job, QueueFull
from hrinpaint.server.responses import as_request_error, image_response
from hrinpaint.server.schemas import OptionsError, parse_options
from hrinpaint.server.state import Server, ServerState
from hrinpaint.server.work import (
    InpaintJob,
    InpaintResult,
    RequestError,
    check_mask_size,
    download_stem,
    probe,
    run_inpaint,
    upload_name,
)

logger = logging.getLogger("hrinpaint.server")

router = APIRouter(tags=["inpaint"])

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

FAILURES = {
    413: {"description": "upload or image too large"},
    415: {"description": "not an image"},
    422: {"description": "bad mask, method or options"},
    503: {"description": "queue full; see Retry-After"},
}


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


async def submit(
    server: ServerState, image: UploadFile, mask: UploadFile, method: str | None, options: str | None
) -> Job:
    """Checks the request, reads the uploads into memory and queues the job."""
    queue, catalogue, settings = server.queue, server.catalogue, server.settings
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


@router.post(
    "/api/inpaint",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}, "description": "the result, in the photo's format"}, **FAILURES},
)
async def inpaint(
    request: Request,
    server: Server,
    image: image_field,
    mask: mask_field,
    method: method_field = None,
    options: options_field = None,
) -> Response:
    """Fills the hole and returns the image in the photo's format (PNG for formats hrinpaint cannot write).

    Only hole pixels change; JPEG and WebP are re-encoded at ``quality``. An empty mask returns the photo
    unchanged, byte for byte. The job is cancelled if the client disconnects before it ends."""
    queue = server.queue
    job = await submit(server, image, mask, method, options)
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
            raise as_request_error(error) from None
    finally:
        queue.forget(job.id)
    return image_response(result)


@router.post("/api/jobs", status_code=202, response_model=JobCreated, responses=FAILURES)
async def create_job(
    server: Server, image: image_field, mask: mask_field, method: method_field = None, options: options_field = None
) -> JobCreated:
    """Queues the same work as ``POST /api/inpaint`` and answers at once; poll ``status_url`` for progress
    and fetch ``result_url`` once the state is ``done``."""
    job = await submit(server, image, mask, method, options)
    return JobCreated(id=job.id, status_url=f"/api/jobs/{job.id}", result_url=f"/api/jobs/{job.id}/result")


@router.get("/api/jobs/{job_id}", response_model=JobStatus)
async def job_status(job_id: str, server: Server) -> JobStatus:
    """State and progress of a job: poll it (a few times a second at most)."""
    job = server.find(job_id)
    error, error_status, state = None, None, job.state
    if job.state == FAILED:
        failure = as_request_error(job.future.exception())
        error, error_status = failure.message, failure.status
        if isinstance(job.cancel_error, JobCancelled) and not isinstance(job.cancel_error, JobTimedOut):
            state = "cancelled"
    return JobStatus(
        id=job.id,
        state=state,
        stage=job.stage,
        done=job.done,
        total=job.total,
        position=server.queue.position(job),
        seconds=job.seconds,
        error=error,
        error_status=error_status,
        result_url=f"/api/jobs/{job.id}/result",
    )


@router.get(
    "/api/jobs/{job_id}/result",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}, 404: {"description": "unknown or expired"}, 409: {}},
)
async def job_result(job_id: str, server: Server) -> Response:
    """The result's bytes (once: the job is forgotten after), or the job's error."""
    job = server.find(job_id)
    if job.state not in (DONE, FAILED):
        raise RequestError(409, f"job {job_id} is {job.state}; poll /api/jobs/{job_id} until it is done")
    server.queue.forget(job.id)
    if job.state == FAILED:
        raise as_request_error(job.future.exception())
    return image_response(job.future.result())


@router.delete("/api/jobs/{job_id}", response_model=JobCancel)
async def cancel_job(job_id: str, server: Server) -> JobCancel:
    """Cancels a job: a waiting one is dropped, a running one stopped (the worker is free within a moment);
    a finished one is forgotten with its result."""
    job = server.find(job_id)
    cancelled = server.queue.cancel(job.id)
    if not cancelled:
        server.queue.forget(job.id)
    return JobCancel(id=job.id, cancelled=cancelled)
