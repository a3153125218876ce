"""``GET /api/health`` (liveness and the queue) and ``GET /api/methods`` (methods, option schemas, weights, limits)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from hrinpaint import __version__
from hrinpaint.methods import resolve_method
from hrinpaint.server.schemas import shipped_manifests
from hrinpaint.server.state import Server, ServerState

router = APIRouter()


class Health(BaseModel):
    status: str = "ok"
    version: str
    queue: dict[str, Any]


@router.get("/api/health", response_model=Health, tags=["server"])
async def health(server: Server) -> Health:
    """Liveness and the queue: whether a job runs, how many wait, how many may wait."""
    return Health(version=__version__, queue=server.queue.status())


@router.get("/api/methods", tags=["methods"])
async def methods(server: Server) -> dict[str, Any]:
    """Methods (``filler+lifter``), each part's options as JSON schema, shipped weights and their measured
    numbers, the default method and the server's limits."""
    return describe_methods(server)


def describe_methods(server: ServerState) -> dict[str, Any]:
    """The answer of ``GET /api/methods``; shipped weights are listed afresh each time."""
    catalogue = server.catalogue
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
            "max_upload_bytes": server.settings.max_upload_bytes,
            "max_pixels": server.settings.pixel_limit,
            "max_pixels_source": server.settings.max_pixels_source,
            "queue_size": server.settings.queue_size,
            "job_timeout_seconds": server.settings.job_timeout,
        },
    }
