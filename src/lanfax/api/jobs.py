"""Job routes: submit (multipart), list, get, control, delete, page data, document."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from starlette.background import BackgroundTask
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response
from starlette.routing import Match, Route
from starlette.types import Message, Scope

from lanfax.api.encode import API, json_response
from lanfax.api.intake_wire import SCOPE_KEY, TRACE_KEY, Prepared, part_label
from lanfax.api.security import Caller, audit_committed, audit_with_commit, requires
from lanfax.api.simpleform import SIMPLE_MAX, simple_form
from lanfax.api.submitted import submitted
from lanfax.model.codes import AccessRight, AccessRightEx, JobType, Priority, QueueStatus
from lanfax.model.errors import InvalidInput, TooLarge
from lanfax.model.jobs import JobQuery
from lanfax.model.wire import enum_from_wire
from lanfax.service.core import FaxService
from lanfax.service.intake import staged_result
from lanfax.service.submit import Submission, contact_references, parse_submission
from lanfax.service.uploads import DEFER_MAX, read_uploads, stage_uploads

_SUBMIT_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["params", "file"],
                    "properties": {
                        "params": {"type": "string", "description": "JSON, see docs/http-api.md"},
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "documents, concatenated in order",
                        },
                    },
                }
            }
        },
    }
}


def _limited(request: Request, limit: int) -> Request:
    """The same request, reading at most ``limit`` body bytes (TooLarge beyond)."""
    length = request.headers.get("content-length")
    too_large = TooLarge(
        f"the upload is larger than {limit // (1024 * 1024)} MB",
        hint="send a smaller document, or raise server.max_upload_mb",
    )
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_large
    seen = 0
    receive = request.receive

    async def counting() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise too_large
        return message

    return Request(request.scope, counting)


_part_label = part_label  # (#19: in intake_wire, which intake workers import)


async def _params_text(value: Any) -> str:
    if isinstance(value, UploadFile):
        return (await value.read()).decode("utf-8", "replace")
    return str(value)


#: The refined right a submission at each priority needs.
_SUBMIT_RIGHT = {
    Priority.LOW: AccessRightEx.SUBMIT_LOW,
    Priority.NORMAL: AccessRightEx.SUBMIT_NORMAL,
    Priority.HIGH: AccessRightEx.SUBMIT_HIGH,
}


# Module-level: FastAPI resolves the (postponed) annotations in the module's namespace.
_QUERY_OWN = requires(AccessRightEx.QUERY_JOBS, own_jobs=True)
_MANAGE_OWN = requires(AccessRightEx.MANAGE_JOBS, own_jobs=True)
_SUBMIT = requires(AccessRight.JOB_SUBMIT)
#: The most file and other parts a submission may have.
_MAX_FILES, _MAX_FIELDS = 100, 10


def submission_handler(service: FaxService) -> Callable[[Request, Caller], Awaitable[Response]]:
    """``POST /jobs``: the multipart body (a ``params`` JSON part, ``file`` parts) checked,
    staged and submitted; 201 with the broadcast id and its jobs once they are durable."""

    async def parse(text: str, caller: Caller) -> Submission:
        """The ``params`` part's text as a submission the caller may make."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(
                f"params is not valid JSON: {exc}", hint="send params as a JSON object"
            ) from None
        settings = service.settings
        names = contact_references(data)  # --to @alice: the caller's address book
        directory = await service.contacts.directory(caller, names) if names else None
        submission = parse_submission(
            data,
            dialing=settings.dialing,
            max_recipients=settings.max_recipients,
            contacts=directory,
        )
        for p in submission.recipients:
            caller.require(_SUBMIT_RIGHT[p.priority])
        # issue #14: e-mail receipts only to the allowed domains (no open relay).
        service.submitter.check_receipt_addresses(submission)
        return submission

    async def prepared(request: Request, caller: Caller, taken: Prepared) -> Response:
        """#19: a submission an intake worker read, staged and checked
        (``[server] intake_workers``, :mod:`lanfax.api.intake`): the rest as below."""
        ready = staged_result(taken.staged)
        path = ready.path
        submission = await parse(taken.params, caller)
        audit = audit_with_commit(request, caller, 201)
        service.submitter.vouch(ready, trace=request.scope.get(TRACE_KEY))
        try:
            broadcast_id, jobs = await service.submit(
                submission,
                [path],
                user_name=caller.user,
                stage_dir=path,
                labels=[taken.label],
                audit=audit,
            )
        finally:
            # The staged file, when it was not taken, is removed by the intake's runner
            # (lanfax.api.intake) after any answer but 201, refusals before this handler too.
            service.submitter.unvouch(path)
        audit_committed(request, audit)
        return submitted(broadcast_id, jobs)  # json_response's bytes, in one pass (#19)

    async def submit(request: Request, caller: Caller) -> Response:
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            raise InvalidInput(
                "a submission is multipart/form-data",
                hint="send a 'params' part (JSON) and one or more 'file' parts",
            )
        limited = _limited(request, service.settings.max_upload_bytes)
        taken = request.scope.get(SCOPE_KEY)
        if isinstance(taken, Prepared):
            return await prepared(request, caller, taken)
        params_limit = service.settings.max_json_bytes
        form: FormData | None = None
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) <= SIMPLE_MAX:
            # #19: a small body in the plain shape is read in one pass; any other (and any
            # this reader declines) goes to starlette's parser below, from the same bytes.
            form = simple_form(
                await limited.body(),
                ctype,
                max_fields=_MAX_FIELDS,
                max_files=_MAX_FILES,
                max_field_size=params_limit,
            )
        try:
            # max_part_size bounds the parts that are not files (params); file parts are
            # bounded by the upload's limit as a whole.
            if form is None:
                form = await limited.form(
                    max_files=_MAX_FILES, max_fields=_MAX_FIELDS, max_part_size=params_limit
                )
        except HTTPException as exc:  # starlette's words for a body it cannot parse
            if "maximum size" in str(exc.detail):
                raise TooLarge(
                    f"the params part is larger than the limit of {params_limit // 1024} KB"
                    " (server.max_json_kb)",
                    hint="send shorter params, or raise server.max_json_kb",
                ) from None
            raise InvalidInput(
                f"the multipart body cannot be read: {exc.detail}",
                hint="send a 'params' part and 'file' parts as multipart/form-data; "
                "part headers (file names included) must be short",
            ) from None
        try:
            raw_params = form.get("params")
            if raw_params is None:
                raise InvalidInput("the 'params' part is missing", hint="see docs/http-api.md")
            submission = await parse(await _params_text(raw_params), caller)
            uploads = [f for f in form.getlist("file") if isinstance(f, UploadFile)]
            if not uploads:
                raise InvalidInput("no document was sent", hint="add at least one 'file' part")
            # The client's file name is only ever a label: never part of a path. The service
            # stages the files (and removes the stage again when one cannot be staged).
            labels = [_part_label(i, u.filename) for i, u in enumerate(uploads)]
            parts = [(label, u.read) for label, u in zip(labels, uploads, strict=True)]
            write_first = None
            if len(uploads) == 1 and (uploads[0].size or 0) <= DEFER_MAX:
                # One small file: written in the service's first trip to the pool (#19).
                deferred = await read_uploads(service.ctx, parts)
                stage, staged, write_first = deferred.stage, deferred.paths, deferred.write
            else:
                # Not fsynced here: the service fsyncs the file that becomes the document.
                stage, staged = await stage_uploads(service.ctx, parts, durable=False)
        finally:
            await form.close()
        # The submission's audit entry is committed with its jobs: never lost, no second commit.
        audit = audit_with_commit(request, caller, 201)
        broadcast_id, jobs = await service.submit(
            submission,
            staged,
            user_name=caller.user,
            stage_dir=stage,
            labels=labels,
            audit=audit,
            write_first=write_first,
        )
        audit_committed(request, audit)
        return submitted(broadcast_id, jobs)  # json_response's bytes, in one pass (#19)

    return submit


def install_job_routes(r: APIRouter, service: FaxService) -> None:
    submit_job = submission_handler(service)

    @r.post(
        "/jobs",
        summary="FaxSendDocument / FaxSendDocumentForBroadcast",
        status_code=201,
        openapi_extra=_SUBMIT_DOC,
    )
    async def submit(request: Request, caller: Annotated[Caller, Depends(_SUBMIT)]) -> Response:
        # Served by SubmitRoute (below) in front of FastAPI's router; this route documents
        # POST /jobs in the OpenAPI schema and serves it if the app is built without it.
        return await submit_job(request, caller)

    @r.get("/jobs", summary="FaxEnumJobs (keyset pages)")
    async def list_jobs(
        caller: Annotated[Caller, Depends(requires(AccessRightEx.QUERY_JOBS, own_jobs=True))],
        limit: int = Query(100, ge=1, le=1000),
        after: int | None = Query(None, description="ascending, job ids greater than this"),
        before: int | None = Query(None, description="descending, job ids less than this"),
        status: str | None = Query(None, description="comma list of queue states"),
        type: str | None = Query(None, description="send, receive, routing, fail_receive"),
        user: str | None = None,
        broadcast: str | None = None,
    ) -> Response:
        if after is not None and before is not None:
            raise InvalidInput("give after or before, not both", hint="pick one direction")
        statuses = None
        if status:
            statuses = frozenset(
                enum_from_wire(QueueStatus, s, "status") for s in status.split(",") if s.strip()
            )
        types = None
        if type:
            types = frozenset(
                enum_from_wire(JobType, s, "type") for s in type.split(",") if s.strip()
            )
        if not caller.all_jobs:
            if user is not None and user != caller.user:
                caller.require(AccessRightEx.QUERY_JOBS)
            user = caller.user  # the own-jobs rule: a user without the right sees its own
        query = JobQuery(
            limit=limit,
            after_id=after,
            before_id=before,
            statuses=statuses,
            job_types=types,
            user_name=user,
            broadcast_id=broadcast,
            descending=before is not None,
        )
        jobs = await service.list_jobs(query)
        nxt = jobs[-1].job_id if len(jobs) == limit else None
        return json_response({"jobs": jobs, "next": nxt})

    async def own_job(job_id: int, caller: Caller) -> None:
        if not caller.all_jobs:
            job = await service.get_job(job_id)
            caller.check_job(job_id, job.user_name)

    @r.get("/jobs/{job_id}", summary="FaxGetJob")
    async def get_job(job_id: int, caller: Annotated[Caller, Depends(_QUERY_OWN)]) -> Response:
        job = await service.get_job(job_id)
        caller.check_job(job_id, job.user_name)
        return json_response(job)

    def control(name: str, action: Callable[[int], Awaitable[Any]], summary: str) -> None:
        async def route(job_id: int, caller: Annotated[Caller, Depends(_MANAGE_OWN)]) -> Response:
            await own_job(job_id, caller)
            return json_response(await action(job_id))

        route.__name__ = f"job_{name}"
        r.add_api_route(f"/jobs/{{job_id}}/{name}", route, methods=["POST"], summary=summary)

    control("pause", service.pause, "FaxSetJob JC_PAUSE")
    control("resume", service.resume, "FaxSetJob JC_RESUME")
    control("cancel", service.cancel, "FaxAbort / FaxSetJob JC_DELETE on a queued job")
    control("restart", service.restart, "FaxSetJob JC_RESTART (failed or exceeded jobs)")

    @r.delete("/jobs/{job_id}", summary="Remove a finished job", status_code=204)
    async def delete_job(job_id: int, caller: Annotated[Caller, Depends(_MANAGE_OWN)]) -> Response:
        await own_job(job_id, caller)
        await service.delete(job_id)
        return Response(status_code=204)

    @r.get("/jobs/{job_id}/pagedata", summary="FaxGetPageData: first page as TIFF Class F")
    async def pagedata(job_id: int, caller: Annotated[Caller, Depends(_QUERY_OWN)]) -> Response:
        await own_job(job_id, caller)
        data, width, height = await service.page_data(job_id)
        return Response(
            data,
            media_type="image/tiff",
            headers={"X-Image-Width": str(width), "X-Image-Height": str(height)},
        )

    @r.get("/jobs/{job_id}/document", summary="The job's whole TIFF")
    async def document(job_id: int, caller: Annotated[Caller, Depends(_QUERY_OWN)]) -> Response:
        await own_job(job_id, caller)
        path = await service.job_document(job_id)
        # A joined cover + body file is made for this response only (issue #14).
        cleanup = (
            BackgroundTask(path.unlink, missing_ok=True)
            if service.spool.is_temporary(path)
            else None
        )
        return FileResponse(
            path,
            media_type="image/tiff",
            filename=f"job-{job_id}.tif",
            stat_result=await service.ctx.run(os.stat, path),
            background=cleanup,
        )


# -- issue #19: the submission's own route, in front of FastAPI's router ------------------------


class SubmitRoute(Route):
    """``POST /api/v1/jobs`` served without FastAPI's routing and dependency injection.

    A submission is the API's hot path (#19: 1,000 jobs/s from 8 client threads is the
    target). Through FastAPI it was matched twice against the API's routes one by one (its
    included router matches, then handles) and its one dependency (the caller) was solved by
    FastAPI's generic machinery: together ~1/5 of the event loop's time per submission
    (cProfile on the loop's thread). This route is the app's first: it matches that one
    method and path (anything else goes on to FastAPI's routes exactly as before), finds the
    caller with the same ``requires(JOB_SUBMIT)`` the FastAPI route declares, and runs the same
    handler (:func:`submission_handler`). It sits inside the same middleware (audit, failure
    budget, body limits, stop) and exception handlers (problem+json), and names itself
    ``submit`` as the FastAPI route did, so the audit trail reads the same. The FastAPI route
    stays: it documents ``POST /jobs`` in the OpenAPI schema (with its rights)."""

    def __init__(self, path: str, service: FaxService) -> None:
        handler = submission_handler(service)

        async def endpoint(request: Request) -> Response:
            # Errors (the caller's included) reach the app's exception handlers as from any
            # route: Route wraps the endpoint in starlette's request_response.
            return await handler(request, await _SUBMIT(request))

        super().__init__(path, endpoint, methods=["POST"], name="submit")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # Only a full match: a GET or DELETE on the path must reach FastAPI's routes (a
        # partial match here would turn their answers into this route's 405).
        if scope.get("method") != "POST":
            return Match.NONE, {}
        match, child = super().matches(scope)
        if match is not Match.FULL:
            return Match.NONE, {}
        child["route"] = self  # the audit's action name, as FastAPI's routes set it
        return match, child


def install_submit_route(app: FastAPI, service: FaxService) -> None:
    """Put :class:`SubmitRoute` first among the app's routes (call once the API is built)."""
    app.router.routes.insert(0, SubmitRoute(f"{API}/jobs", service))
