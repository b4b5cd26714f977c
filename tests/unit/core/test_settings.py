"""Settings: typed, overridable, and unknown keys are errors."""

import pytest

from trdfhir import SettingsError, load_mappings

DEFAULTS = load_mappings().settings


def test_overrides_accept_command_line_strings():
    s = DEFAULTS.with_overrides(
        {
            "antidepressant_adequate_days": "28",
            "partial_drop": "0.5",
            "count_inferred_failures": "false",
        }
    )
    assert (s.antidepressant_adequate_days, s.partial_drop, s.count_inferred_failures) == (
        28,
        0.5,
        False,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"no_such_setting": 1}, "unknown setting"),
        ({"trial_gap_days": "soon"}, "needs a int"),
        ({"trial_gap_days": 2.5}, "whole number"),
        ({"trial_gap_days": -1}, "cannot be negative"),
        ({"count_inferred_failures": "maybe"}, "needs a bool"),
    ],
)
def test_bad_overrides_are_clear_errors(overrides, message):
    with pytest.raises(SettingsError, match=message):
        DEFAULTS.with_overrides(overrides)
