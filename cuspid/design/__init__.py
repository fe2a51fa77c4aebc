"""The AI-assisted design engine (issue 9): mesh I/O and normalisation, tooth segmentation
with FDI numbering, crown proposals and their measured quality.

A pure library: it imports no Django and no other Cuspid app (an import-linter contract), so
it runs the same in a Celery task, on the command line (``python -m cuspid.design``) and in
a notebook. Geometry is numpy, scipy and trimesh; coordinates are millimetres.
"""
