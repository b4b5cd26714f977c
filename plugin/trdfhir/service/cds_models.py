"""Pydantic models of what CDS clients send (CDS Hooks 2.0): the service request with its hook
contexts, and the feedback body. Used to validate requests; responses are plain dicts built by
cards.py (their models live in tests/api/cds_models.py, written separately from the spec)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .http import ServiceError

NonEmpty = Field(min_length=1, max_length=4096)
M = TypeVar("M", bound=BaseModel)


class _Model(BaseModel):
    """Field names are the spec's (camelCase)."""

    model_config = ConfigDict(strict=True, extra="allow")


class FhirAuthorization(_Model):
    access_token: str = Field(min_length=1, max_length=16_384)
    token_type: str
    expires_in: int
    scope: str
    subject: str
    patient: str | None = None

    @field_validator("token_type")
    @classmethod
    def _bearer(cls, value: str) -> str:
        if value.lower() != "bearer":
            raise ValueError("token_type must be Bearer")
        return value


class CdsRequest(_Model):
    hook: str = NonEmpty
    hookInstance: str = NonEmpty
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None

    @field_validator("fhirServer")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("fhirServer must be an http(s) URL")
            value = value.rstrip("/")
        return value

    @model_validator(mode="after")
    def _server_with_token(self) -> CdsRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirServer is required when fhirAuthorization is given")
        return self


class PatientViewContext(_Model):
    userId: str = NonEmpty
    patientId: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-.]+$")
    encounterId: str | None = None


class OrderSignContext(PatientViewContext):
    draftOrders: dict[str, Any]

    @field_validator("draftOrders")
    @classmethod
    def _bundle(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("resourceType") != "Bundle":
            raise ValueError("draftOrders must be a FHIR Bundle")
        entries = value.get("entry", [])
        if not isinstance(entries, list):
            raise ValueError("draftOrders.entry must be a list")
        # Each order is read by orders.read_draft_orders: a malformed field is read around, an
        # unreadable order skipped with a note; only a call with no usable order is a 400.
        return value


class OrderSelectContext(OrderSignContext):
    selections: list[str] = Field(min_length=1)


CONTEXTS: dict[str, type[PatientViewContext]] = {
    "patient-view": PatientViewContext,
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
}


class _Kept(_Model):
    """What the service stores (feedback): only the fields the spec defines, each bounded;
    anything else a client sends is accepted and dropped."""

    model_config = ConfigDict(strict=True, extra="ignore")


Id = Field(min_length=1, max_length=256)


class Coding(_Kept):
    code: str = Id
    system: str = Field(min_length=1, max_length=1024)
    display: str | None = Field(default=None, max_length=1024)


class OverrideReason(_Kept):
    reason: Coding | None = None
    userComment: str | None = Field(default=None, max_length=4096)


class AcceptedSuggestion(_Kept):
    id: str = Id


class Feedback(_Kept):
    card: str = Id
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = Field(default=None, max_length=100)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: str = Field(max_length=64)

    @field_validator("outcomeTimestamp")
    @classmethod
    def _timestamp(cls, value: str) -> str:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("outcomeTimestamp must be an ISO 8601 timestamp") from None
        return value

    @model_validator(mode="after")
    def _accepted_needs_suggestions(self) -> Feedback:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is required for an accepted outcome")
        return self


class FeedbackRequest(_Model):
    feedback: list[Feedback] = Field(min_length=1, max_length=1000)


def validate(model: type[M], data: Any, where: str) -> M:
    """`data` as `model`, or a 400 naming the first problem and where it is."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in (where, *first["loc"]) if p != "")
        raise ServiceError(f"{path}: {first['msg']}", location=path) from None
