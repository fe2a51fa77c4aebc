"""Every patient and case route is in a route-matrix test.

Issue 7's pages and operations are one table (``test_case_routes``); each review feature of
issue 8 has its own (``test_<feature>_routes``), which asks each route as the owning clinic,
another clinic, the connected lab, an unconnected lab and the lab after the share was
withdrawn. A route a feature adds without a row in its file fails here, by name.
"""

from __future__ import annotations

from pathlib import Path

from tests.access.route_modules import route_modules

ACCESS_TESTS = Path(__file__).parent
DOMAIN_PREFIXES = ("cuspid.cases.", "cuspid.patients.")


def _matrix_sources() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8") for path in sorted(ACCESS_TESTS.glob("test_*_routes.py"))
    )


def _quoted_forms(kind: str, name: str) -> tuple[str, ...]:
    # Pages are named with or without their namespace ("cases:x", or "x" beside a
    # namespace constant); operations by their id.
    short = name.split(":", 1)[-1]
    names = (name, short) if kind == "page" else (name,)
    return tuple(f'"{each}"' for each in names)


def test_every_patient_and_case_route_has_a_matrix_row() -> None:
    sources = _matrix_sources()
    served = {
        route
        for route, module in route_modules().items()
        if module.startswith(DOMAIN_PREFIXES) or module in ("cuspid.cases", "cuspid.patients")
    }
    assert len(served) > 60, "the route map lost the case routes"
    missing = sorted(
        f"{kind} {name}"
        for kind, name in served
        if not any(quoted in sources for quoted in _quoted_forms(kind, name))
    )
    assert missing == [], "routes no access-matrix test names"
