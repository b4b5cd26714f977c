"""CDS Hooks 2.0 bodies as pydantic models, written from the specification text
(https://cds-hooks.hl7.org/2.0/, HL7/cds-hooks v2.0.1 input/pagecontent/index.md), independently
of the service's own request models. Response models forbid unknown fields, so a typo in a field
name fails the tests.

Also `no_empty(value)`: the spec's rule that JSON elements are never null or empty
("", [], {}) unless stated otherwise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Open(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


def _absolute(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an absolute URL: {value!r}")
    return value


class Coding(Strict):
    code: str = Field(min_length=1)
    system: str = Field(min_length=1)
    display: str | None = None


class Source(Strict):
    label: str = Field(min_length=1)
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None

    @field_validator("url", "icon")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        return None if value is None else _absolute(value)


class Action(Strict):
    type: Literal["create", "update", "delete"]
    description: str = Field(min_length=1)
    resource: dict[str, Any] | None = None
    resourceId: str | None = None

    @model_validator(mode="after")
    def _payload(self) -> Action:
        if self.type in ("create", "update"):
            if not self.resource or not isinstance(self.resource.get("resourceType"), str):
                raise ValueError(f"a {self.type} action carries a FHIR resource")
        elif self.resourceId is None:
            raise ValueError("a delete action names resourceId")
        return self


class Suggestion(Strict):
    label: str = Field(min_length=1)
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] | None = Field(default=None, min_length=1)


class Link(Strict):
    label: str = Field(min_length=1)
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None
    autolaunchable: bool | None = None

    @field_validator("url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        return _absolute(value)

    @model_validator(mode="after")
    def _context_only_smart(self) -> Link:
        if self.appContext is not None and self.type != "smart":
            raise ValueError("appContext is only valid on smart links")
        return self


class Card(Strict):
    uuid: str | None = None
    summary: str = Field(min_length=1, max_length=139)  # "<140-character"
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = Field(default=None, min_length=1)
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = Field(default=None, min_length=1)
    links: list[Link] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _rules(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("selectionBehavior is required when there are suggestions")
        if any(r.display is None for r in self.overrideReasons or []):
            raise ValueError("override reasons need a display")
        if self.selectionBehavior == "at-most-one":
            if sum(bool(s.isRecommended) for s in self.suggestions or []) > 1:
                raise ValueError("at-most-one allows one recommended suggestion")
        return self


class CdsResponse(Strict):
    cards: list[Card]
    systemActions: list[Action] | None = None


class Service(Strict):
    hook: str = Field(min_length=1)
    title: str | None = None
    description: str = Field(min_length=1)
    id: str = Field(min_length=1)
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class Discovery(Strict):
    services: list[Service]


class FhirAuthorization(Open):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str
    subject: str
    patient: str | None = None


class CdsRequest(Open):
    hook: str
    hookInstance: str
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _server(self) -> CdsRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirServer is required with fhirAuthorization")
        return self


class PatientViewContext(Open):
    userId: str
    patientId: str
    encounterId: str | None = None


class OrderSignContext(PatientViewContext):
    draftOrders: dict[str, Any]


class OrderSelectContext(OrderSignContext):
    selections: list[str] = Field(min_length=1)


class AcceptedSuggestion(Strict):
    id: str


class OverrideReason(Strict):
    reason: Coding | None = None
    userComment: str | None = None


class Feedback(Strict):
    card: str
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: str

    @model_validator(mode="after")
    def _rules(self) -> Feedback:
        datetime.fromisoformat(self.outcomeTimestamp)
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("accepted feedback lists acceptedSuggestions")
        return self


class FeedbackRequest(Strict):
    feedback: list[Feedback]


def no_empty(value: Any, where: str = "$") -> None:
    """Fail on null, "", [] or {} anywhere (CDS Hooks: 'JSON elements SHALL NOT be null or
    empty'; `cards: []` is the one exception)."""
    if value is None or value in ("", [], {}):
        raise AssertionError(f"{where} is null or empty")
    if isinstance(value, dict):
        for key, item in value.items():
            if not (key == "cards" and item == []):
                no_empty(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            no_empty(item, f"{where}[{i}]")
