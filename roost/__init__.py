"""Roost: a self-hosted, Tinybird-compatible real-time analytics API server."""

__version__ = "0.1.0"
