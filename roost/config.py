"""Settings from command-line flags and ROOST_* environment variables (flags win)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 7181
    data_dir: Path = Path("./roost-data")
    catalog_url: str | None = None  # default: sqlite under data_dir
    engine_threads: int = 4
    workspace_name: str = "roost"
    # limits
    events_max_body: int = 10 * 1024 * 1024
    append_max_body: int = 32 * 1024 * 1024 * 1024
    max_execution_time: int = 10
    max_result_bytes: int = 100 * 1024 * 1024
    max_memory_usage: int = 4 * 1024 * 1024 * 1024
    # Events API batching
    events_flush_interval: float = 1.0
    events_flush_rows: int = 100_000
    events_flush_bytes: int = 16 * 1024 * 1024
    public_url: str | None = None
    demo: bool = False
    log_level: str = "info"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def engine_path(self) -> Path:
        return self.data_dir / "engine"

    @property
    def catalog(self) -> str:
        if self.catalog_url:
            return self.catalog_url
        return f"sqlite:///{(self.data_dir / 'catalog.db').resolve()}"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        s = cls(
            host=os.environ.get("ROOST_HOST") or "127.0.0.1",
            port=_env_int("ROOST_PORT", 7181),
            data_dir=Path(os.environ.get("ROOST_DATA_DIR") or "./roost-data"),
            catalog_url=os.environ.get("ROOST_CATALOG_URL") or None,
            engine_threads=_env_int("ROOST_ENGINE_THREADS", 4),
            events_max_body=_env_int("ROOST_EVENTS_MAX_BODY", 10 * 1024 * 1024),
            max_execution_time=_env_int("ROOST_MAX_EXECUTION_TIME", 10),
            max_result_bytes=_env_int("ROOST_MAX_RESULT_BYTES", 100 * 1024 * 1024),
            max_memory_usage=_env_int("ROOST_MAX_MEMORY_USAGE", 4 * 1024 * 1024 * 1024),
            public_url=os.environ.get("ROOST_PUBLIC_URL") or None,
        )
        for k, v in overrides.items():
            if v is not None:
                setattr(s, k, Path(str(v)) if k == "data_dir" and not isinstance(v, Path) else v)
        return s
