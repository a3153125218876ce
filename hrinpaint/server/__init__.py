"""The local server: a page in the browser and an HTTP API over the same pipeline as the CLI.

``hrinpaint serve`` runs it; :func:`create_app` builds the FastAPI application (for tests or another ASGI server).
"""

from hrinpaint.server.app import ServerSettings, create_app

__all__ = ["ServerSettings", "create_app"]
