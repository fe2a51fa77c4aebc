"""Which module serves each declared route: the access tests' map from routes to features.

Each route-matrix test (``test_case_routes`` for the case pages and operations of issue 7,
``test_<feature>_routes`` for each review feature of issue 8) covers the routes its modules
serve; ``test_route_coverage`` checks that together they cover every patient and case route.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from django.urls import URLPattern, URLResolver, get_resolver

from cuspid.access import routes

Route = tuple[str, str]  # ("page", "cases:case_list") or ("api", "case_list")


def _pages(resolver: URLResolver, namespace: str = "") -> Iterator[tuple[str, str]]:
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace or ""
            yield from _pages(pattern, f"{namespace}{inner}:" if inner else namespace)
        elif (
            isinstance(pattern, URLPattern)
            and pattern.name
            and not routes.is_api_operation_view(pattern.callback)
        ):
            yield f"{namespace}{pattern.name}", pattern.callback.__module__


@cache
def route_modules() -> dict[Route, str]:
    """Every named page and API operation, with the module of the function that serves it."""
    from config.api import api

    found: dict[Route, str] = {("page", name): module for name, module in _pages(get_resolver())}
    # ninja keeps its routers in a private list; the public API has no way to walk them.
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                module = operation.view_func.__module__
                found[("api", operation.operation_id or "")] = module
    return found


def routes_served_by(*modules: str) -> set[Route]:
    """The declared routes whose functions live in one of ``modules``."""
    return {route for route, module in route_modules().items() if module in modules}
