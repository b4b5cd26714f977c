"""Emit: an Assessment -> FHIR R4 resources for write-back (transaction Bundle).

    bundle = emit_bundle(assessment, now=datetime.now(UTC))

Pure and deterministic: no clock, no network, no random ids.
"""

from .bundle import emit_bundle

__all__ = ["emit_bundle"]
