"""The HTTP API: ``create_app(service)`` builds the FastAPI app of ``docs/http-api.md``.

Bodies are encoded with :mod:`lanfax.model.wire` (the client decodes the same shapes), errors
are problem+json (:mod:`lanfax.api.errors`). Routes are thin: they parse, call the
:class:`~lanfax.service.core.FaxService` facade and encode.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from starlette.responses import Response

from lanfax import __version__
from lanfax.api.accounts import install_account_routes
from lanfax.api.admin import install_admin_routes
from lanfax.api.archive import install_archive_routes
from lanfax.api.contacts import install_contact_routes
from lanfax.api.covers import install_cover_routes
from lanfax.api.drafts import install_draft_routes  # issue #11
from lanfax.api.encode import API, json_body, json_response
from lanfax.api.errors import install_error_handlers
from lanfax.api.events import install_event_routes
from lanfax.api.extensions import install_extension_routes
from lanfax.api.ipp import install_ipp_routes  # issue #11
from lanfax.api.jobs import install_job_routes, install_submit_route
from lanfax.api.limits import install_body_limits
from lanfax.api.metrics import install_metrics_route  # issue #18
from lanfax.api.nodes import install_node_routes  # issue #18
from lanfax.api.outbound import install_outbound_routes
from lanfax.api.pages import install_page_routes
from lanfax.api.privacy import private_status
from lanfax.api.reports import install_report_routes
from lanfax.api.routing import install_routing_routes
from lanfax.api.security import Caller, authenticated, install_security, public, requires
from lanfax.api.session import install_session_routes
from lanfax.api.stopping import install_stop_handling  # issue #20
from lanfax.model.codes import AccessRight, AccessRightEx, PortOpenMode
from lanfax.model.errors import InvalidInput
from lanfax.model.wire import enum_from_wire
from lanfax.service.core import FaxService
from lanfax.service.rights import access_check
from lanfax.service.security import Security


def _body_schema(example: Any, description: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}, "example": example}},
        }
    }


def create_app(service: FaxService, security: Security | None = None) -> FastAPI:
    """The FastAPI app over ``service`` (already started, or started by the caller's loop)."""
    app = FastAPI(
        title="lanfax",
        version=__version__,
        description="A fax service for a local network. See docs/http-api.md.",
        openapi_url=f"{API}/openapi.json",
        docs_url=f"{API}/docs",
        redoc_url=None,
        **_telemetry_settings(),  # issue #19
    )
    app.state.service = service
    install_error_handlers(app)
    r = APIRouter(prefix=API)

    # -- server -------------------------------------------------------------------------------

    @r.get("/health", summary="Liveness: the service is up", dependencies=[Depends(public())])
    async def health() -> Response:
        return json_response({"status": "ok", "version": __version__})

    @r.get(
        "/server",
        summary="Version, start time, queue state, devices, active jobs",
        dependencies=[Depends(authenticated())],
    )
    async def server() -> Response:
        return json_response(service.server_info())

    @r.get("/access", summary="FaxAccessCheck")
    async def access(
        caller: Annotated[Caller, Depends(authenticated())],
        rights: str = Query("", description="comma list of AccessRight/AccessRightEx names"),
    ) -> Response:
        wanted = [s for s in rights.split(",") if s.strip()]
        allowed, held = access_check(caller, wanted)
        return json_response({"allowed": allowed, "rights": held})

    # -- configuration and logging --------------------------------------------------------------

    @r.get(
        "/config",
        summary="FaxGetConfiguration: the ServerConfig",
        dependencies=[Depends(requires(AccessRightEx.QUERY_CONFIG))],
    )
    async def get_config() -> Response:
        return json_response(service.get_config().to_dict())

    @r.patch(
        "/config",
        summary="FaxSetConfiguration: change some settings (lanfax or Windows names)",
        openapi_extra=_body_schema({"retries": 5, "RetryDelay": 2}, "settings to change"),
        dependencies=[Depends(requires(AccessRightEx.MANAGE_CONFIG))],
    )
    async def patch_config(request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise InvalidInput("the body must be a JSON object", hint='e.g. {"retries": 5}')
        return json_response((await service.set_config(body)).to_dict())

    @r.get(
        "/logging",
        summary="FaxGetLoggingCategories",
        dependencies=[Depends(requires(AccessRightEx.QUERY_CONFIG))],
    )
    async def get_logging() -> Response:
        return json_response(service.get_logging())

    @r.put(
        "/logging",
        summary="FaxSetLoggingCategories",
        openapi_extra=_body_schema([{"category": "outbound", "level": "max"}], "categories"),
        dependencies=[Depends(requires(AccessRightEx.MANAGE_CONFIG))],
    )
    async def put_logging(request: Request) -> Response:
        return json_response(await service.set_logging(await json_body(request)))

    # -- ports --------------------------------------------------------------------------------

    port_query = [Depends(requires(AccessRight.PORT_QUERY))]
    port_set = [Depends(requires(AccessRight.PORT_SET))]

    @r.get("/ports", summary="FaxEnumPorts", dependencies=port_query)
    async def ports() -> Response:
        return json_response(service.ports())

    @r.get("/ports/{device_id}", summary="FaxGetPort", dependencies=port_query)
    async def port(device_id: int) -> Response:
        return json_response(service.port(device_id))

    @r.post(
        "/ports/{device_id}/handles",
        summary="FaxOpenPort (query or modify handle)",
        status_code=201,
        openapi_extra=_body_schema({"mode": "modify"}, "the handle's mode"),
    )
    async def open_port(
        device_id: int,
        request: Request,
        caller: Annotated[Caller, Depends(requires(AccessRight.PORT_QUERY))],
    ) -> Response:
        raw = await request.body()
        body = await json_body(request) if raw.strip() else {}
        if not isinstance(body, dict):
            raise InvalidInput("the body must be a JSON object", hint='e.g. {"mode": "query"}')
        mode = enum_from_wire(PortOpenMode, body.get("mode", "query"), "mode")
        if mode is PortOpenMode.MODIFY:
            caller.require(AccessRight.PORT_SET)
        handle = service.open_port(device_id, mode)
        return json_response({"handle": handle, "device_id": device_id, "mode": mode}, status=201)

    @r.delete(
        "/handles/{handle}",
        summary="FaxClose on a port handle",
        status_code=204,
        dependencies=port_query,
    )
    async def close_handle(handle: str) -> Response:
        service.close_handle(handle)
        return Response(status_code=204)

    @r.patch(
        "/ports/{device_id}",
        summary="FaxSetPort (needs a modify handle in X-Lanfax-Port-Handle)",
        openapi_extra=_body_schema({"rings": 3, "tsid": "+49 30 1234"}, "port fields"),
        dependencies=port_set,
    )
    async def set_port(
        device_id: int,
        request: Request,
        x_lanfax_port_handle: str | None = Header(None),
    ) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise InvalidInput("the body must be a JSON object", hint='e.g. {"rings": 3}')
        return json_response(await service.set_port(device_id, x_lanfax_port_handle, body))

    @r.get("/ports/{device_id}/status", summary="FaxGetDeviceStatus (live)")
    async def port_status(
        device_id: int, caller: Annotated[Caller, Depends(requires(AccessRight.PORT_QUERY))]
    ) -> Response:
        # issue #14: who calls whom is the business of those who may see every job.
        return json_response(private_status(service.device_status(device_id), caller))

    install_job_routes(r, service)
    install_routing_routes(r, service)
    install_archive_routes(r, service)
    install_report_routes(r, service)
    install_cover_routes(r, service)
    install_event_routes(r, service)
    install_draft_routes(r, service)  # issue #11
    install_outbound_routes(r, service)  # #13 outgoing routing
    install_account_routes(r, service)  # #13 accounts and personal inboxes
    install_contact_routes(r, service)
    install_extension_routes(r, service)
    install_page_routes(r, service)
    install_node_routes(r, service)  # issue #18: GET /api/v1/nodes
    security = security or Security(service)
    install_admin_routes(r, security)
    app.state.sessions = install_session_routes(r, security, service.clock)
    app.include_router(r)
    install_submit_route(app, service)  # issue #19: POST /jobs ahead of FastAPI's routing
    install_ipp_routes(app, service, security)  # issue #11: POST /ipp/faxout
    install_metrics_route(app, service)  # issue #18: GET /metrics (Prometheus)
    # issue #14 (safety): every request body is bounded (413 naming the limit).
    install_body_limits(
        app, lambda: (service.settings.max_json_bytes, service.settings.max_upload_bytes)
    )
    install_security(app, security)
    # issue #20: a stop that cuts requests short answers them (503), never a traceback.
    install_stop_handling(app)
    return app


# -- issue #19: FastAPI's native OpenTelemetry, off when nothing is set up to receive it ------


def _telemetry_settings() -> dict[str, Any]:
    """``telemetry=`` for FastAPI: every kind off when no OpenTelemetry is configured (#19).

    FastAPI >= 0.16x asks on every request whether a global tracer, meter or logger provider
    was set (three environment look-ups, ~4 % of a submission's CPU). lanfax sets none; when
    the operator does (``opentelemetry-instrument lanfax serve``, an ``OTEL_*`` variable, or
    ``FASTAPI_OTEL_AUTO_CONFIGURE``), FastAPI's defaults are kept. Older FastAPI: nothing."""
    import inspect
    import os

    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    if any(k.startswith(("OTEL_", "FASTAPI_OTEL_")) for k in os.environ):
        return {}
    try:
        from fastapi.telemetry import _asgi
        from opentelemetry import _logs, metrics, trace
    except ImportError:  # FastAPI moved its internals: keep its defaults
        return {}
    unconfigured = vars(_asgi).get("_unconfigured")
    if unconfigured is None:
        return {}
    providers = (
        trace.get_tracer_provider(),
        metrics.get_meter_provider(),
        _logs.get_logger_provider(),
    )
    if not all(unconfigured(p) for p in providers):
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
