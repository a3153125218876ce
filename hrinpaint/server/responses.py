"""How results and failures go back to the client: the image with its headers, and every failure as a
:class:`~hrinpaint.server.work.RequestError` whose status names its kind."""

from __future__ import annotations

import urllib.parse

from fastapi.responses import Response

from hrinpaint.errors import JobCancelled, JobTimedOut
from hrinpaint.server.work import InpaintResult, RequestError, ascii_name


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII ``filename`` and, when the name is not plain ASCII, the exact name as RFC 5987
    ``filename*`` (UTF-8, percent-encoded), which every current browser prefers."""
    fallback = ascii_name(filename)
    value = f'attachment; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"
    return value


def image_response(result: InpaintResult) -> Response:
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


def internal_error(error: BaseException | None) -> RequestError:
    # the type only: a bug's message may hold a server path; the log has the rest
    return RequestError(500, f"internal error ({type(error).__name__}); please report it")


def as_request_error(error: BaseException | None) -> RequestError:
    if isinstance(error, RequestError):
        return error
    if isinstance(error, JobTimedOut):
        return RequestError(504, f"{error}; try a smaller working size or a faster method")
    if isinstance(error, JobCancelled):
        return RequestError(409, str(error))
    return internal_error(error)
