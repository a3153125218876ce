"""``GET /``: the browser page (static files, no build step); ``GET /docs``: the API reference, rendered here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from hrinpaint.server.docs import render_docs

STATIC_DIR = Path(__file__).parent.parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/docs")
async def docs(request: Request) -> HTMLResponse:
    return HTMLResponse(render_docs(request.app.openapi()), headers={"Cache-Control": "no-cache"})


class StaticPage(StaticFiles):
    """The page's files, each answered with ``Cache-Control: no-cache``.

    The page is several ES modules that import each other by name; a browser that kept some of an older version
    from its cache would run a mix of two versions. ``no-cache`` makes it ask each time (a 304 from the ETag when
    nothing changed), as ``index.html`` already does.
    """

    def file_response(
        self, full_path: Any, stat_result: os.stat_result, scope: Any, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        return response
