"""Pages: the 3D review page of a revision and the meshes it streams (issue 8)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
