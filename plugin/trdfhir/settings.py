"""Settings: the thresholds and durations of the clinical spec.

Defaults live in `mappings/settings.json` (each with its source and confidence); this class
gives them types. Override with `Settings.with_overrides({...})`, `--set KEY=VALUE` or a
JSON settings file.

`parse_flag` is the one reader of on/off settings for all three settings models (these
clinical settings, the service's `ServiceSettings` and the SMART app's `[smart]` table): the
same words, in any case, everywhere, and the same one-line error. (Not pydantic-settings: the
clinical settings come from mappings/settings.json and `--set`, not the environment; the service
and SMART models are frozen dataclasses whose pinned one-line messages would each need a
translation of pydantic's multi-line ValidationError, and pydantic's own bool words (t/f, y/n)
differ from ours, so a validator of our own would be needed anyway. This function is that one
parser, with no new dependency.)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import SettingsError

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})
FLAG_WORDS = "true/false, yes/no, on/off, 1/0 in any case"


def parse_flag(label: str, value: Any) -> bool:
    """An on/off setting from a file (a boolean, or 0/1), the environment or `--set` (a word).

    `label` names the setting in the error: `cds_auth_required`, `smart.secure_cookies`,
    `setting 'partial_counts_as_failure'`."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
    raise SettingsError(f"{label} needs a bool, true or false ({FLAG_WORDS}), got {value!r}")


@dataclass(frozen=True, kw_only=True)
class Settings:
    trial_gap_days: int
    antidepressant_adequate_days: int
    intolerance_max_days: int
    lithium_augmentation_min_days: int
    augmentation_min_days: int
    combination_min_days: int
    psychotherapy_session_gap_days: int
    procedure_course_gap_days: int
    conway_psychotherapy_min_sessions: int
    markowitz_psychotherapy_min_sessions: int
    guidi_fava_psychotherapy_min_days: int
    guidi_fava_medication_min_days: int
    ect_min_sessions: int
    rtms_min_sessions: int
    esketamine_min_sessions: int
    episode_gap_days: int
    remission_hold_days: int
    episode_start_grace_days: int
    baseline_before_days: int
    baseline_after_days: int
    end_window_days: int
    response_drop: float
    partial_drop: float
    worsening_rise: float
    partial_counts_as_failure: bool
    count_inferred_failures: bool
    pdc_min: float
    tsh_upper: float
    vitamin_d_min: float
    lab_lookback_days: int
    functional_lookback_days: int
    acute_months: int
    chronic_months: int
    implausible_dose_factor: float
    mgh_combination_counts: bool
    current_trial_recent_days: int
    esm_crd_days: int
    switch_mania_weeks: int
    wsas_significant_min: float
    wsas_severe_above: float
    ketamine_min_sessions: int
    active_order_cap_days: int

    @classmethod
    def from_rows(cls, rows: Mapping[str, Any]) -> Settings:
        """Build from the `key -> value` rows of mappings/settings.json."""
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(names - set(rows))
        unknown = sorted(set(rows) - names)
        if missing or unknown:
            raise SettingsError(
                f"mappings/settings.json does not match the Settings fields "
                f"(missing: {', '.join(missing) or '-'}; unknown: {', '.join(unknown) or '-'})"
            )
        return cls(**{name: _coerce(name, rows[name]) for name in names})

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        names = {f.name for f in dataclasses.fields(self)}
        for key in overrides:
            if key not in names:
                raise SettingsError(
                    f"unknown setting '{key}'; known settings: {', '.join(sorted(names))}"
                )
        return dataclasses.replace(
            self, **{k: _coerce(k, v, like=getattr(self, k)) for k, v in overrides.items()}
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_TYPES: dict[str, type] = {
    f.name: {"int": int, "float": float, "bool": bool}[str(f.type)]
    for f in dataclasses.fields(Settings)
}


def _coerce(name: str, value: Any, like: Any = None) -> Any:
    """Type-check a setting, accepting the strings a command line gives."""
    kind = _TYPES[name]
    if kind is bool:
        return parse_flag(f"setting '{name}'", value)
    if isinstance(value, str):  # --set KEY=VALUE: then the same checks as a file's number
        try:
            number = float(value.strip())
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise SettingsError(f"setting '{name}' needs a {kind.__name__}, got '{value}'")
        value = int(number) if number.is_integer() else number
    if kind in (int, float) and isinstance(value, int | float) and not isinstance(value, bool):
        if kind is int and value != int(value):
            raise SettingsError(f"setting '{name}' needs a whole number, got {value}")
        if value < 0:
            raise SettingsError(f"setting '{name}' cannot be negative, got {value}")
        return kind(value)
    raise SettingsError(f"setting '{name}' needs a {kind.__name__}, got {value!r}")
