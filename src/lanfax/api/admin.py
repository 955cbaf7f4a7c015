"""Users, tokens, the caller's identity and the audit trail over HTTP (docs/security.md).

Managing users and reading the audit trail needs ``manage_config``. Any logged-in user may
see who it is, list and revoke its own tokens, and create tokens for itself (typically with
HTTP Basic and its password: that is how a password becomes a token).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from lanfax.api.encode import json_body, json_response
from lanfax.api.security import Caller, authenticated, requires
from lanfax.model.audit import AuditQuery
from lanfax.model.codes import AccessRightEx
from lanfax.model.errors import InvalidInput
from lanfax.service.security import Security

_ADMIN = requires(AccessRightEx.MANAGE_CONFIG)
_ANYONE = authenticated()


def _body(example: Any, description: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}, "example": example}},
        }
    }


async def _object(request: Request, hint: str) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", hint=hint)
    return body


def _text(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{key} must be text", hint=f'e.g. {{"{key}": "..."}}')
    return value


def _names(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{key} must be a list of names", hint='e.g. ["manage_jobs"]')
    return list(value)


def install_admin_routes(r: APIRouter, security: Security) -> None:
    @r.get("/whoami", summary="The caller: user, role, rights, how it logged in")
    async def whoami(caller: Annotated[Caller, Depends(_ANYONE)]) -> Response:
        return json_response(
            {
                "user": caller.user,
                "role": caller.role.value,
                "rights": caller.held(),
                "via": caller.via,
            }
        )

    # -- users ----------------------------------------------------------------------------

    @r.get("/users", summary="List users", dependencies=[Depends(_ADMIN)])
    async def list_users() -> Response:
        return json_response([u.to_wire() for u in await security.list_users()])

    @r.post(
        "/users",
        summary="Add a user",
        status_code=201,
        dependencies=[Depends(_ADMIN)],
        openapi_extra=_body({"name": "alice", "role": "user", "password": "..."}, "the user"),
    )
    async def add_user(request: Request) -> Response:
        body = await _object(request, 'e.g. {"name": "alice", "role": "user"}')
        name = _text(body, "name", required=True) or ""
        user = await security.add_user(name, _text(body, "role") or "user", _text(body, "password"))
        return json_response(user.to_wire(), status=201)

    @r.get("/users/{name}", summary="One user", dependencies=[Depends(_ADMIN)])
    async def get_user(name: str) -> Response:
        return json_response((await security.get_user(name)).to_wire())

    @r.patch(
        "/users/{name}",
        summary="Grant or revoke rights or a role, or set the password",
        dependencies=[Depends(_ADMIN)],
        openapi_extra=_body({"grant": ["manage_jobs"], "revoke": [], "password": "..."}, "changes"),
    )
    async def change_user(name: str, request: Request) -> Response:
        body = await _object(request, 'e.g. {"grant": ["operator"]}')
        unknown = sorted(set(body) - {"grant", "revoke", "password"})
        if unknown or not body:
            raise InvalidInput(
                f"unknown or missing change(s): {', '.join(unknown) or '(none)'}",
                hint="send grant, revoke and/or password",
            )
        user = await security.get_user(name)
        if body.get("grant"):
            user = await security.grant(name, _names(body, "grant"))
        if body.get("revoke"):
            user = await security.revoke(name, _names(body, "revoke"))
        password = _text(body, "password")
        if password is not None:
            user = await security.set_password(name, password)
        return json_response(user.to_wire())

    @r.delete(
        "/users/{name}",
        summary="Remove a user (and its tokens)",
        status_code=204,
        dependencies=[Depends(_ADMIN)],
    )
    async def remove_user(name: str) -> Response:
        await security.remove_user(name)
        return Response(status_code=204)

    # -- tokens ---------------------------------------------------------------------------

    @r.get("/tokens", summary="List tokens (never their secret): yours, or ?all=true")
    async def list_tokens(
        caller: Annotated[Caller, Depends(_ANYONE)],
        all: bool = Query(False, description="every user's (needs manage_config)"),
        user: str | None = Query(None, description="this user's (needs manage_config)"),
    ) -> Response:
        if all or (user is not None and user != caller.user):
            caller.require(AccessRightEx.MANAGE_CONFIG)
            tokens = await security.list_tokens(None if all else user)
        else:
            tokens = await security.list_tokens(caller.user)
        return json_response([t.to_wire() for t in tokens])

    @r.post(
        "/tokens",
        summary="Create a token (shown once); for another user needs manage_config",
        status_code=201,
        openapi_extra=_body({"label": "laptop", "days": 90}, "the token"),
    )
    async def create_token(
        request: Request, caller: Annotated[Caller, Depends(_ANYONE)]
    ) -> Response:
        raw = await request.body()
        body = await _object(request, 'e.g. {"label": "laptop"}') if raw.strip() else {}
        user = _text(body, "user") or caller.user
        if user != caller.user:
            caller.require(AccessRightEx.MANAGE_CONFIG)
        days = body.get("days")
        if days is not None and (isinstance(days, bool) or not isinstance(days, int)):
            raise InvalidInput("days must be a whole number", hint="e.g. 90, or omit it")
        info, text = await security.create_token(user, _text(body, "label") or "", days=days)
        return json_response({**info.to_wire(), "token": text}, status=201)

    @r.delete("/tokens/{token_id}", summary="Revoke a token", status_code=204)
    async def revoke_token(token_id: str, caller: Annotated[Caller, Depends(_ANYONE)]) -> Response:
        info = await security.get_token(token_id)
        if info.user != caller.user:
            caller.require(AccessRightEx.MANAGE_CONFIG)
        await security.revoke_token(token_id)
        return Response(status_code=204)

    # -- audit ----------------------------------------------------------------------------

    @r.get("/audit", summary="The audit trail, newest first", dependencies=[Depends(_ADMIN)])
    async def audit(
        limit: int = Query(100, ge=1, le=1000),
        before: int | None = Query(None, ge=1, description="audit ids less than this"),
        user: str | None = Query(None, max_length=64),
        action: str | None = Query(None, max_length=100, description="a prefix"),
        since: Annotated[datetime | None, Query(description="ISO 8601")] = None,
    ) -> Response:
        if since is not None and since.tzinfo is None:
            since = since.astimezone()
        entries = await security.audit(
            AuditQuery(limit=limit, before=before, user_name=user, action=action, since=since)
        )
        nxt = entries[-1].audit_id if len(entries) == limit else None
        return json_response({"entries": [e.to_dict() for e in entries], "next": nxt})
