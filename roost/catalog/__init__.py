"""The metadata store (catalog): workspace, tokens, data sources, pipes, jobs, audit trail.

One implementation on SQLAlchemy Core serves SQLite (embedded default) and PostgreSQL.
"""

from roost.catalog.store import Catalog, open_catalog

__all__ = ["Catalog", "open_catalog"]
