"""Jobs: long operations (delete rows, populate) run in a small pool and are polled by id."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from roost.runtime import Runtime

log = logging.getLogger("roost.jobs")


def start_job(rt: Runtime, kind: str, doc: dict[str, Any],
              fn: Callable[[str], dict[str, Any] | None]) -> dict[str, Any]:
    job_id = str(uuid.uuid4())
    job = rt.catalog.create_job(job_id, kind, {"is_cancellable": False, **doc})

    def run() -> None:
        rt.catalog.update_job(job_id, status="working", started=True)
        try:
            result = fn(job_id) or {}
        except Exception as e:
            msg = getattr(e, "message", None) or str(e)
            log.warning("job %s (%s) failed: %s", job_id, kind, msg)
            rt.catalog.update_job(job_id, status="error", error=msg)
            return
        rt.catalog.update_job(job_id, status="done", **result)

    rt.jobs_pool.submit(run)
    return job
