"""Rights, roles and the caller: pure values, no I/O.

The seven client-API rights (:class:`~lanfax.model.codes.AccessRight`) and the eleven refined
ones (:class:`~lanfax.model.codes.AccessRightEx`) are grouped into three roles. A user has one
role, plus rights granted to it and minus rights revoked from it; :func:`effective_rights`
is the one function that decides what a user holds.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace

from lanfax.model.codes import AccessRight, AccessRightEx
from lanfax.model.errors import AccessDenied, InvalidInput

Right = AccessRight | AccessRightEx


class Role(enum.Enum):
    USER = "user"
    OPERATOR = "operator"
    ADMINISTRATOR = "administrator"


_A = AccessRight
_X = AccessRightEx

#: What each role holds. A user submits at low and normal priority and reads the server's
#: configuration and ports; an operator also submits at high priority, sees and manages
#: everyone's jobs and reads the archives; an administrator holds every right.
ROLE_RIGHTS: dict[Role, tuple[AccessRight, AccessRightEx]] = {
    Role.USER: (
        _A.JOB_SUBMIT | _A.CONFIG_QUERY | _A.PORT_QUERY,
        _X.SUBMIT_LOW | _X.SUBMIT_NORMAL | _X.QUERY_CONFIG,
    ),
    Role.OPERATOR: (
        _A.JOB_SUBMIT | _A.JOB_QUERY | _A.JOB_MANAGE | _A.CONFIG_QUERY | _A.PORT_QUERY,
        _X.SUBMIT_LOW
        | _X.SUBMIT_NORMAL
        | _X.SUBMIT_HIGH
        | _X.QUERY_JOBS
        | _X.MANAGE_JOBS
        | _X.QUERY_CONFIG
        | _X.QUERY_IN_ARCHIVE
        | _X.QUERY_OUT_ARCHIVE,
    ),
    Role.ADMINISTRATOR: (
        AccessRight(sum(m.value for m in AccessRight)),
        AccessRightEx(sum(m.value for m in AccessRightEx)),
    ),
}


def right_name(right: Right) -> str:
    """``AccessRightEx.QUERY_JOBS`` -> ``"query_jobs"`` (the wire name)."""
    return (right.name or str(int(right))).lower()


def all_right_names() -> list[str]:
    return [n.lower() for n in [*AccessRight.__members__, *AccessRightEx.__members__]] + [
        r.value for r in Role
    ]


def parse_right(name: str) -> Right:
    """A right by its wire name (either enum), or InvalidInput listing them all."""
    key = name.strip().upper()
    if key in AccessRight.__members__ and key != "NONE":
        return AccessRight[key]
    if key in AccessRightEx.__members__ and key != "NONE":
        return AccessRightEx[key]
    names = [n for n in all_right_names() if n != "none" and n not in {r.value for r in Role}]
    raise InvalidInput(f"{name!r} is not an access right", hint=f"use one of: {', '.join(names)}")


def parse_role(name: str) -> Role:
    try:
        return Role(name.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"{name!r} is not a role", hint=f"use one of: {', '.join(r.value for r in Role)}"
        ) from None


def effective_rights(
    role: Role, granted: Iterable[str] = (), revoked: Iterable[str] = ()
) -> tuple[AccessRight, AccessRightEx]:
    """The role's rights, plus ``granted``, minus ``revoked`` (wire names)."""
    basic, ext = ROLE_RIGHTS[role]
    for name in granted:
        r = parse_right(name)
        if isinstance(r, AccessRightEx):
            ext |= r
        else:
            basic |= r
    for name in revoked:
        r = parse_right(name)
        if isinstance(r, AccessRightEx):
            ext &= ~r
        else:
            basic &= ~r
    return basic, ext


def held_names(basic: AccessRight, ext: AccessRightEx) -> list[str]:
    held = [right_name(m) for m in AccessRight if m and m in basic and m.name]
    return held + [right_name(m) for m in AccessRightEx if m and m in ext and m.name]


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller of the API.

    ``all_jobs`` is False when the route let the caller in by the own-jobs rule only: the
    route must then show and change the caller's own jobs and nothing else.
    """

    user: str
    role: Role
    rights: AccessRight
    rights_ex: AccessRightEx
    address: str = ""
    #: how the caller proved who it is: "token", "password", or "none" (authentication off)
    via: str = "token"
    all_jobs: bool = True

    def holds(self, right: Right) -> bool:
        if isinstance(right, AccessRightEx):
            return right in self.rights_ex
        return right in self.rights

    def scoped(self, *, all_jobs: bool) -> Caller:
        return replace(self, all_jobs=all_jobs)

    def owns(self, user_name: str) -> bool:
        return self.all_jobs or user_name == self.user

    def check_job(self, job_id: int, user_name: str) -> None:
        """AccessDenied unless the caller may act on a job submitted by ``user_name``."""
        if not self.owns(user_name):
            raise AccessDenied(
                f"job {job_id} belongs to another user",
                hint="a user sees and manages its own jobs; others need query_jobs/manage_jobs",
            )

    def require(self, right: Right) -> None:
        if not self.holds(right):
            raise AccessDenied(
                f"user {self.user!r} lacks the right {right_name(right)}",
                hint=f"ask an administrator: lanfax user grant {self.user} {right_name(right)}",
            )

    def held(self) -> list[str]:
        return held_names(self.rights, self.rights_ex)


def access_check(caller: Caller, wanted: Iterable[str]) -> tuple[bool, list[str]]:
    """FaxAccessCheck for ``caller``: whether it holds every right named in ``wanted``
    (AccessRight or AccessRightEx wire names), and the names of all the rights it holds."""
    allowed = True
    for name in wanted:
        allowed &= caller.holds(parse_right(name))
    return allowed, caller.held()
