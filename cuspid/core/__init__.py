"""Shared kernel: ids, clock, errors, base models, logging. Imports no other Cuspid app."""
