"""Sig text -> one dose and how many times a day, read only when the whole text fits a grammar.

The sig (`Dosage.text`, `Dosage.patientInstruction`) is the only dosage many EHR exports carry.
The grammar reads, in this order:

    [lead words] AMOUNT [UNIT] ["(" N mg [total] ")"] [to be taken] [ROUTE] FREQUENCY [TAIL]...

- lead words: "take", "takes", "give", "sig", or the words of a drug name ("sertraline hcl");
- AMOUNT: a number (50, 37.5), "one" to "four", or a half ("1/2", "half a");
- UNIT: mg, or a unit of the product (tablet, tab, capsule, cap); with no unit only before
  "to be taken" ("One to be taken each day", as UK dm+d sigs write it);
- "(50 mg total)": the dose in mg, as Epic writes it after a dose in tablets;
- ROUTE: by mouth, orally, PO, oral;
- FREQUENCY: once daily, daily, QD, every morning, at bedtime, QHS, twice daily, BID, Q12H,
  three times daily, TID, Q8H, four times daily, QID, every other day, weekly, ...;
- TAIL: in the morning, at bedtime, with food, for depression, ...

Anything else is not read: a range ("7.5 to 15 mg", "7.5-15 mg", "up to 45 mg", "50 or 100 mg")
gives `dose-range`, as-needed wording gives `as-needed`, and every other text `sig-unreadable`.
The reader never picks one number out of a text it does not fully understand.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

# Times a day of each frequency phrase. Longest phrases first in the pattern.
_FREQUENCIES: dict[str, float] = {
    "once daily": 1,
    "once a day": 1,
    "once per day": 1,
    "once every day": 1,
    "one time daily": 1,
    "one time a day": 1,
    "1 time daily": 1,
    "1 time a day": 1,
    "daily": 1,
    "every day": 1,
    "each day": 1,
    "a day": 1,
    "per day": 1,
    "qd": 1,
    "q.d.": 1,
    "od": 1,
    "q24h": 1,
    "q 24h": 1,
    "every 24 hours": 1,
    "every morning": 1,
    "each morning": 1,
    "in the morning": 1,
    "qam": 1,
    "q.a.m.": 1,
    "every evening": 1,
    "each evening": 1,
    "in the evening": 1,
    "every night": 1,
    "each night": 1,
    "at night": 1,
    "nightly": 1,
    "at bedtime": 1,
    "qhs": 1,
    "q.h.s.": 1,
    "hs": 1,
    "twice daily": 2,
    "twice a day": 2,
    "twice per day": 2,
    "two times daily": 2,
    "two times a day": 2,
    "2 times daily": 2,
    "2 times a day": 2,
    "bid": 2,
    "b.i.d.": 2,
    "q12h": 2,
    "q 12h": 2,
    "every 12 hours": 2,
    "three times daily": 3,
    "three times a day": 3,
    "3 times daily": 3,
    "3 times a day": 3,
    "tid": 3,
    "t.i.d.": 3,
    "q8h": 3,
    "q 8h": 3,
    "every 8 hours": 3,
    "four times daily": 4,
    "four times a day": 4,
    "4 times daily": 4,
    "4 times a day": 4,
    "qid": 4,
    "q.i.d.": 4,
    "every other day": 0.5,
    "qod": 0.5,
    "weekly": 1 / 7,
    "once weekly": 1 / 7,
    "once a week": 1 / 7,
    "every week": 1 / 7,
}
# Words that may follow the frequency without changing the dose.
_TAILS = (
    "in the morning",
    "in the evening",
    "at bedtime",
    "at night",
    "with food",
    "with breakfast",
    "with a meal",
    "with water",
    "with or without food",
    "after food",
    "before breakfast",
    "after breakfast",
    "with dinner",
    "with supper",
    "with evening meal",
    "before bed",
    "for depression",
    "for mood",
    "for anxiety",
)
_LEAD_WORDS = frozenset(
    {"take", "takes", "taking", "give", "sig", "patient", "pt", "hcl", "er", "xr", "sr", "xl"}
)
_AMOUNT_WORDS = {"one": 1.0, "two": 2.0, "three": 3.0, "four": 4.0, "half": 0.5, "half a": 0.5}
_UNIT_WORDS = {
    "mg": "mg",
    "milligram": "mg",
    "milligrams": "mg",
    "tablet": "unit",
    "tablets": "unit",
    "tab": "unit",
    "tabs": "unit",
    "capsule": "unit",
    "capsules": "unit",
    "cap": "unit",
    "caps": "unit",
}


def _alternation(words: object) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))  # type: ignore[call-overload]


_GRAMMAR = re.compile(
    r"^(?P<lead>(?:[a-z]+:?\s+){0,4}?)"
    r"(?P<amount>\d+(?:\.\d+)?|1/2|½|" + _alternation(_AMOUNT_WORDS) + r")"
    r"(?:\s*(?P<unit>" + _alternation(_UNIT_WORDS) + r")\b)?"
    r"(?:\s*\(\s*(?P<total>\d+(?:\.\d+)?)\s*mg(?:\s+total)?\s*\))?"
    r"(?P<taken>\s+(?:to be taken|to take))?"
    r"(?:\s+(?:by mouth|orally|oral|po|p\.o\.))?"
    r"\s+(?P<freq>" + _alternation(_FREQUENCIES) + r")"
    r"(?P<tails>(?:\s+(?:" + _alternation(_TAILS) + r"))*)$"
)
_RANGE = re.compile(
    r"\d\s*(?:-|to|or)\s*\d|\d\s*(?:mg|tablets?|tabs?|capsules?|caps?)?\s*(?:-|to|or)\s*\d"
    r"|\bup to\b|\bbetween\b|\bmax(?:imum)?\b|\bno more than\b"
)
_AS_NEEDED = re.compile(r"\b(?:prn|p\.r\.n\.|as needed|if needed|when needed|as required)\b")


@dataclass(frozen=True)
class Sig:
    """What a sig says: `amount` of `unit` ("mg", or "unit" of the product) `per_day` times a day;
    `total_mg` is the "(50 mg total)" of a dose in product units. `reason` is empty when the text
    was read, else why not (dose-range, as-needed, sig-unreadable)."""

    amount: float | None
    unit: str | None
    per_day: float | None
    total_mg: float | None = None
    reason: str = ""


_DASHES = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-"})


_SPELLED = re.compile(r"\b([1-4])\s*\((one|two|three|four)\)")
_DIGITS = {"one": "1", "two": "2", "three": "3", "four": "4"}


def normalise(text: str) -> str:
    """Lower case, one space, no trailing full stop; Epic's "2 (two) times a day" as "2 times a
    day" when the word agrees with the digit (else left as is, so not read)."""
    text = " ".join(text.lower().translate(_DASHES).split()).rstrip(" .;")
    return _SPELLED.sub(lambda m: m[1] if _DIGITS[m[2]] == m[1] else m[0], text)


@functools.lru_cache(maxsize=4096)  # a population repeats the same few sigs; Sig is frozen
def read_sig(text: str, name_words: frozenset[str] = frozenset()) -> Sig:
    """Read one sig; see the module doc for the grammar."""
    norm = normalise(text)
    if _RANGE.search(norm):
        return Sig(None, None, None, reason="dose-range")
    if _AS_NEEDED.search(norm):
        return Sig(None, None, None, reason="as-needed")
    match = _GRAMMAR.match(norm)
    if match is None:
        return Sig(None, None, None, reason="sig-unreadable")
    lead = [w.rstrip(":") for w in match["lead"].split()]
    if any(w not in _LEAD_WORDS and w not in name_words for w in lead):
        return Sig(None, None, None, reason="sig-unreadable")
    word = match["amount"]
    amount = 0.5 if word in ("1/2", "\u00bd") else _AMOUNT_WORDS.get(word) or float(word)
    unit = _UNIT_WORDS.get(match["unit"] or "")
    if unit is None:
        if not match["taken"]:  # "50 once daily": 50 of what?
            return Sig(None, None, None, reason="sig-unreadable")
        unit = "unit"
    total = float(match["total"]) if match["total"] else None
    if total is not None and unit == "mg":  # "50 mg (50 mg total)" says nothing new
        if total != amount:
            return Sig(None, None, None, reason="sig-unreadable")
        total = None
    if amount <= 0:
        return Sig(None, None, None, reason="sig-unreadable")
    return Sig(amount, unit, _FREQUENCIES[match["freq"]], total)
