"""Access control of the running service: authentication, rights, rate limits.

(Users, tokens and the audit trail are added in the following commits; until then every
caller is the administrator named by ``X-Lanfax-User``, as before.)
"""

from __future__ import annotations

from lanfax.service.rights import Caller, Role, right_name

__all__ = ["Caller", "Security", "right_name"]


class Security:
    """Authenticates callers and checks their request rate."""

    async def authenticate(
        self, *, authorization: str | None, user_header: str | None, address: str
    ) -> Caller:
        from lanfax.service.rights import ROLE_RIGHTS

        basic, ext = ROLE_RIGHTS[Role.ADMINISTRATOR]
        return Caller(user_header or "anonymous", Role.ADMINISTRATOR, basic, ext, address, "none")

    def check_rate(self, caller: Caller) -> None:
        return None
