"""Analytical engines behind one small interface (chDB embedded; ClickHouse server later)."""

from roost.engine.base import Engine, EngineError, QueryResult

__all__ = ["Engine", "EngineError", "QueryResult"]
