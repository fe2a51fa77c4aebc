"""Django wiring for Cuspid: settings, URLs, the API, Celery, ASGI/WSGI."""

from config.celery import app as celery_app

__all__ = ["celery_app"]
