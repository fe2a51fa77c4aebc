"""Reads about identity records, filtered by who asks."""
