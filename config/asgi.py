"""ASGI entry point, served by uvicorn: Django behind the request body limit."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

django_application = get_asgi_application()

# Imported once Django is set up (get_asgi_application above does it).
from cuspid.core.uploads import RequestBodyLimit  # noqa: E402

application = RequestBodyLimit(django_application)
