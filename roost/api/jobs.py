"""Jobs API (reference §4.9)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from roost.api.responses import json_response
from roost.api.routing import Requirement, route
from roost.auth.principal import Principal
from roost.errors import NotFound

JOBS = Requirement("DATASOURCES:CREATE or PIPES:CREATE",
                   lambda p, r: p.may_create_datasources() or p.may_create_pipes())


@route("/v0/jobs", ["GET"], requires=JOBS)
async def list_jobs(request: Request, principal: Principal) -> Response:
    return json_response({"jobs": request.app.state.rt.catalog.list_jobs()})


@route("/v0/jobs/{job_id}", ["GET"], requires=JOBS)
async def get_job(request: Request, principal: Principal) -> Response:
    job = request.app.state.rt.catalog.get_job(request.path_params["job_id"])
    if job is None:
        raise NotFound(f"Job {request.path_params['job_id']} not found")
    return json_response(job)
