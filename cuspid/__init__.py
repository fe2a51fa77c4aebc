"""Cuspid: one Django app per domain (see docs/architecture.md)."""
