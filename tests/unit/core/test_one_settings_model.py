"""One settings model: the clinical settings (`--set`), the service settings (TRDFHIR_*) and the
SMART app settings (`[smart]`, TRDFHIR_SMART_*) read an on/off value with the same words and
refuse a bad word with the same one-line error."""

import json
from pathlib import Path

import pytest

from trdfhir import SettingsError, load_mappings
from trdfhir.service.settings import load_service_settings
from trdfhir.service.smart_app import SmartAppSettings

CLINICAL = load_mappings().settings


def clinical(word: object) -> bool:
    return CLINICAL.with_overrides({"count_inferred_failures": word}).count_inferred_failures


def service(word: str) -> bool:
    return load_service_settings(env={"TRDFHIR_CDS_AUTH_REQUIRED": word}).cds_auth_required


def smart(word: str) -> bool:
    table = load_service_settings(env={"TRDFHIR_SMART_ALLOW_ANY_ISSUER": word}).smart
    return SmartAppSettings.from_mapping(table).allow_any_issuer


READERS = [clinical, service, smart]


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        (" Yes ", True),
        ("on", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("OFF", False),
        ("0", False),
    ],
)
def test_every_settings_model_reads_the_same_words(reader, word, expected):
    assert reader(word) is expected


@pytest.mark.parametrize("word", ["maybe", "y", "t", "2", "truee"])
def test_every_settings_model_refuses_a_bad_word_with_the_same_one_line(word):
    messages = []
    for reader in READERS:
        with pytest.raises(SettingsError) as caught:
            reader(word)
        messages.append(str(caught.value))
    labels = ["setting 'count_inferred_failures'", "cds_auth_required", "smart.allow_any_issuer"]
    for label, message in zip(labels, messages, strict=True):
        assert "\n" not in message
        assert message.startswith(f"{label} needs a bool, true or false (")
        assert "yes/no" in message and "on/off" in message and "1/0" in message
        assert message.endswith(f"got {word!r}")
    # the same text after the setting's name
    assert len({m.split(" needs a bool", 1)[1] for m in messages}) == 1


def test_file_values_are_booleans_or_0_1_in_every_model(tmp_path: Path):
    path = tmp_path / "service.toml"
    path.write_text("cds_auth_required = 0\n[smart]\nallow_any_issuer = true\nsecure_cookies = 1\n")
    settings = load_service_settings(path, env={})
    smart_settings = SmartAppSettings.from_mapping(settings.smart)
    assert settings.cds_auth_required is False
    assert (smart_settings.allow_any_issuer, smart_settings.secure_cookies) == (True, True)
    assert clinical(False) is False and clinical(1) is True
    with pytest.raises(SettingsError, match="needs a bool"):
        clinical(2)


def test_a_smart_variable_overrides_one_flag_and_keeps_the_rest_of_the_table(tmp_path: Path):
    path = tmp_path / "service.toml"
    path.write_text('[smart]\nclient_id = "trd"\nallow_any_issuer = true\n')
    settings = load_service_settings(path, env={"TRDFHIR_SMART_SECURE_COOKIES": "Off"})
    smart_settings = SmartAppSettings.from_mapping(settings.smart)
    assert smart_settings.client_id == "trd"
    assert smart_settings.allow_any_issuer is True
    assert smart_settings.secure_cookies is False


def test_the_cli_refuses_a_bad_word_with_exit_code_7_and_one_line(capsys, tmp_path: Path):
    from trdfhir.cli import main

    path = tmp_path / "empty.json"
    patient = {"resourceType": "Patient", "id": "p1"}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}
    path.write_text(json.dumps(bundle))
    argv = ["evaluate", str(path), "--as-of", "2026-11-01"]
    assert main([*argv, "--set", "count_inferred_failures=Yes"]) == 0
    capsys.readouterr()
    code = main([*argv, "--set", "count_inferred_failures=maybe"])
    out, err = capsys.readouterr()
    assert code == 7 and out == ""
    assert err.count("\n") == 1
    assert "setting 'count_inferred_failures' needs a bool, true or false (" in err


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("2.5", "setting 'trial_gap_days' needs a whole number, got 2.5"),
        ("-1", "setting 'trial_gap_days' cannot be negative, got -1"),
        ("nan", "setting 'trial_gap_days' needs a int, got 'nan'"),
        ("inf", "setting 'trial_gap_days' needs a int, got 'inf'"),
    ],
)
def test_a_command_line_number_meets_the_checks_of_a_file_number(word, message):
    with pytest.raises(SettingsError) as caught:
        CLINICAL.with_overrides({"trial_gap_days": word})
    assert str(caught.value) == message
    assert CLINICAL.with_overrides({"trial_gap_days": " 28 "}).trial_gap_days == 28
