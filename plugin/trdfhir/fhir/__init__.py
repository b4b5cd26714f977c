"""FHIR helpers on plain dicts: dates, references, codings. No pydantic here (hot path)."""
