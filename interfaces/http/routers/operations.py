"""Health probes and metrics: no credentials, no product names or versions."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from interfaces.http.problems import problem
from interfaces.http.responses import problems

router = APIRouter(tags=["operations"])


# HEAD too: load balancers often probe with it.
@router.get("/health/live")
@router.head("/health/live", include_in_schema=False)
async def health_live() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/health/ready", responses=problems(503))
@router.head("/health/ready", include_in_schema=False)
async def health_ready(request: Request) -> Response:
    """Ready when the database answers and its schema is at the head migration."""
    if await request.app.state.readiness():
        return JSONResponse({"status": "ok"})
    return problem("service_unavailable", "the database is unreachable or not migrated")


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    body = generate_latest(request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
