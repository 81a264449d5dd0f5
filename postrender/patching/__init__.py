"""Patch semantics on plain objects: strategic merge, JSON6902 and JSON merge patch."""
