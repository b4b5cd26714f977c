"""The public API is a curated, sorted __all__ whose names all exist (httpx's habit)."""

import trdfhir


def test_all_is_sorted_and_complete():
    assert trdfhir.__all__ == sorted(trdfhir.__all__)
    for name in trdfhir.__all__:
        assert hasattr(trdfhir, name), name


def test_errors_share_one_root():
    for name in (
        "InputError",
        "MappingError",
        "SettingsError",
        "AuthError",
        "FhirServerError",
        "StrictModeError",
    ):
        assert issubclass(getattr(trdfhir, name), trdfhir.TrdFhirError)
