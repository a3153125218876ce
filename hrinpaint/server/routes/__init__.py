"""The routes, one router a concern: the page and its docs, the catalogue (health and methods), the inpainting
work (one-shot and queued jobs). :func:`hrinpaint.server.app.create_app` includes them in this order."""

from hrinpaint.server.routes import catalogue, inpaint, page

ROUTERS = (page.router, catalogue.router, inpaint.router)

__all__ = ["ROUTERS"]
