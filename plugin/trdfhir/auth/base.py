"""What the FHIR client needs from any credentials: a header value, and a way to renew."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Auth(Protocol):
    def authorization(self) -> str | None:
        """The Authorization header value for the next request (None: send none)."""

    def renew(self) -> bool:
        """Called once after a 401: drop the current credentials and get fresh ones. False when
        nothing new can be obtained (the 401 then stands)."""


class BearerToken:
    """A fixed bearer token (from --token or the environment). Cannot be renewed."""

    def __init__(self, token: str) -> None:
        token = token.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        self._token = token

    def authorization(self) -> str | None:
        return f"Bearer {self._token}" if self._token else None

    def renew(self) -> bool:
        return False

    def __repr__(self) -> str:  # never show the token
        return "BearerToken(***)"
