"""PII redaction before a conversation leaves the machine.

Personal data (phone numbers, emails, card numbers, dates of birth, street
addresses, postcodes, SSNs, member ids and people's names) is replaced by placeholders such
as `[PHONE_1]`.
Within one conversation the same value always gets the same placeholder
("555-123-4567" and "(555) 123 4567" are one phone), numbered in order of first
appearance, so the agent can still follow the call, and redacting a longer
prefix of the same conversation keeps every earlier placeholder: replay sends
the conversation so far at each turn.

Detectors lean towards precision where a false positive would hide what the
agent needs: dates are redacted only in a birth context (appointment dates
stay), numbers introduced as order or reference numbers are left alone. Transcripts
carry ASR and typing errors, so a card number is any run of 13-19 digits (grouped or
not, typed or spoken digit by digit) whether or not it passes the Luhn check.

Names are found by rules, not a language model (Presidio's name recogniser needs a spaCy
model that cannot be downloaded at run time here): the profile's name fields, and a capitalised
name after a cue ("this is", "my name is", "speaking with", "Mrs", "my son", "Hi ..."). Once
known, a name and each of its parts are redacted wherever they recur in the call.

Pure and deterministic: a `Redactor` holds only its kinds; the placeholder
table lives for one call of `redact_input` / `redact_transcript` / `redact_text`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..types import PII_KINDS, AgentInput, Transcript, Turn

KINDS = PII_KINDS
# When two detections overlap, the earlier kind here wins ("123-45-6789" is an SSN, not a phone).
_ORDER = ("email", "ssn", "card", "member_id", "dob", "address", "postcode", "phone", "name")
_PRIORITY = {kind: i for i, kind in enumerate(_ORDER)}

PLACEHOLDER = re.compile(r"\[(PHONE|EMAIL|CARD|DOB|ADDRESS|POSTCODE|SSN|MEMBER_ID|NAME)_(\d+)\]")
# What a report header calls each kind.
KIND_LABEL = {
    "phone": "phone numbers",
    "email": "emails",
    "card": "card numbers",
    "dob": "dates of birth",
    "address": "street addresses",
    "postcode": "postcodes",
    "ssn": "social security numbers",
    "member_id": "member and account ids",
    "name": "names",
}


def kinds_in(texts: Iterable[str | None]) -> list[str]:
    """The kinds whose placeholders appear in the texts (what a redaction actually replaced), in KINDS order."""
    found = {m.group(1).lower() for t in texts if t for m in PLACEHOLDER.finditer(t)}
    return [k for k in KINDS if k in found]


# ---------------------------------------------------------------- number words (voice transcripts)


def _words(text: str) -> list[str]:
    return text.split()


_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_DIGIT_WORD = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
# "five five five, one two three, four five six seven", "double five": a spoken digit run.
_SPOKEN_DIGITS = rf"(?:(?:double|triple)[ -])?{_DIGIT_WORD}(?:[ ,-]{{1,2}}(?:(?:double|triple)[ -])?{_DIGIT_WORD})+"


def _spoken_to_digits(text: str) -> str:
    out, repeat = [], 1
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in ("double", "triple"):
            repeat = 2 if word == "double" else 3
        elif word in _DIGIT_WORDS:
            out.append(_DIGIT_WORDS[word] * repeat)
            repeat = 1
    return "".join(out)


_UNITS = {
    w: i
    for i, w in enumerate(
        _words(
            "zero one two three four five six seven eight nine ten eleven twelve"
            " thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
        )
    )
}
_TENS = {w: 10 * i for i, w in enumerate(_words("twenty thirty forty fifty sixty seventy eighty ninety"), 2)}
_ORDINALS = {
    w: i
    for i, w in enumerate(
        _words(
            "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth"
            " fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth"
        ),
        1,
    )
} | {"thirtieth": 30}
_NUMBER_WORD = r"\b(?:" + "|".join(sorted([*_UNITS, *_TENS, "hundred"], key=len, reverse=True)) + r")\b"
_ORDINAL_WORD = r"\b(?:(?:twenty|thirty)[ -])?(?:" + "|".join(sorted(_ORDINALS, key=len, reverse=True)) + r")\b"
# Spoken birth years: "nineteen eighty five", "twenty ten", "two thousand and three".
_YEAR_WORDS = (
    rf"(?:(?:eighteen|nineteen|twenty)(?:[ -]{_NUMBER_WORD}){{1,2}}"
    rf"|two[ -]thousand(?:[ -](?:and[ -])?{_NUMBER_WORD}){{0,2}})"
)


def _words_to_int(text: str) -> int | None:
    """Spoken years and days: "nineteen eighty five" -> 1985, "two thousand and three" -> 2003, "third" -> 3."""
    words = [w for w in re.findall(r"[a-z]+", text.lower()) if w != "and"]
    if not words:
        return None
    if len(words) == 1 and words[0] in _ORDINALS:
        return _ORDINALS[words[0]]
    if len(words) == 2 and words[0] in _TENS and words[1] in _ORDINALS:
        return _TENS[words[0]] + _ORDINALS[words[1]]
    if "thousand" in words:  # two thousand [and] three
        i = words.index("thousand")
        head, tail = _small(words[:i]), _small(words[i + 1 :]) if words[i + 1 :] else 0
        return None if head is None or tail is None else head * 1000 + tail
    # nineteen eighty five: two two-digit halves
    for cut in range(1, len(words)):
        a, b = _small(words[:cut]), _small(words[cut:])
        if a is not None and b is not None and 10 <= a <= 99 and b <= 99:
            return a * 100 + b
    return _small(words)


def _small(words: list[str]) -> int | None:
    """0-999 from words, or None."""
    current = 0
    for w in words:
        if w in _UNITS:
            current += _UNITS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred" and current:
            current *= 100
        else:
            return None
    return current


# ---------------------------------------------------------------- detectors


@dataclass(frozen=True)
class Hit:
    """One detected value: where it is in the text and the normalised value it stands for."""

    start: int
    end: int
    kind: str
    value: str


_NOT_A_NUMBER_CONTEXT = re.compile(
    r"(?i)\b(?:order|invoice|reference|ref|confirmation|tracking|booking|ticket|case|receipt|transaction|"
    r"claim|reservation|item|sku|model|serial|extension|ext)\.?\s*(?:number|no\.?|num|#|id|code)?"
    r"\s*(?:is|was|:|#)?\s*$"
)


def _after_non_pii_label(text: str, start: int) -> bool:
    return _NOT_A_NUMBER_CONTEXT.search(text[max(0, start - 40) : start]) is not None


# Phones: optional +country code, optional (area), groups of digits joined by single spaces, dots or dashes.
_PHONE = re.compile(
    r"(?<![\w$£€@+/.,:-])(?:(?:\+|\b00)\d{1,3}[ .-]?)?(?:\b1[ .-])?(?:\(\d{1,5}\)[ .-]?)?\d{2,}(?:[ .-]\d{2,}){0,5}"
    r"(?![\w@/]|[.,:-]\d)"
)
_DATE_LIKE = re.compile(r"(?:\d{1,2}[-. ]\d{1,2}[-. ](?:19|20)\d{2}|(?:19|20)\d{2}[-. ]\d{1,2}[-. ]\d{1,2})")
_PHONE_CONTEXT = re.compile(r"(?i)\b(?:phone|number|call|reach|mobile|cell|text|contact|fax|tel)\b[^.?!\d]{0,20}$")
_SPOKEN_PHONE = re.compile(rf"(?i)\b(?:plus\s+)?{_SPOKEN_DIGITS}\b")


def _phone_key(digits: str) -> str:
    # The last ten digits: "+1 555 123 4567" is "555-123-4567", "+44 20 7946 0958" is "020 7946 0958".
    return digits[-10:]


def _phones(text: str) -> Iterator[Hit]:
    for m in _PHONE.finditer(text):
        raw = m.group()
        digits = re.sub(r"\D", "", raw)
        international = raw.startswith(("+", "00"))
        separated = bool(re.search(r"[ .()-]", raw))
        if international:
            ok = 8 <= len(digits) <= 15
        elif separated:
            ok = 7 <= len(digits) <= 11 and not _DATE_LIKE.fullmatch(raw)
        else:  # a bare run of digits is a phone only at full length or when introduced as one
            ok = len(digits) in (10, 11) or (7 <= len(digits) <= 11 and bool(_PHONE_CONTEXT.search(text[: m.start()])))
        if ok and not _after_non_pii_label(text, m.start()):
            yield Hit(m.start(), m.end(), "phone", _phone_key(digits))
    for m in _SPOKEN_PHONE.finditer(text):
        digits = _spoken_to_digits(m.group())
        if 7 <= len(digits) <= 15 and not _after_non_pii_label(text, m.start()):
            yield Hit(m.start(), m.end(), "phone", _phone_key(digits))


_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_TLD = r"(?:com|org|net|edu|gov|io|co|uk|us|ca|au|de|fr|ie|nz|info|biz|me)"
_SPOKEN_SEP = r"(?:\s+(?:dot|period|underscore|dash|hyphen)\s+|[._-])"
# "john dot smith at gmail dot com", "jane underscore doe at example dot co dot uk"
_SPOKEN_EMAIL = re.compile(
    rf"(?i)\b[a-z0-9]+(?:{_SPOKEN_SEP}[a-z0-9]+)*\s+(?:at|@)\s+[a-z0-9-]+(?:(?:\s+dot\s+|\.)[a-z0-9-]+)*"
    rf"(?:\s+dot\s+|\.){_TLD}\b"
)


def _email_key(raw: str) -> str:
    s = raw.lower()
    s = re.sub(r"\s+(?:dot|period)\s+", ".", s)
    s = re.sub(r"\s+underscore\s+", "_", s)
    s = re.sub(r"\s+(?:dash|hyphen)\s+", "-", s)
    s = re.sub(r"\s+(?:at|@)\s+", "@", s)
    return re.sub(r"\s+", "", s)


def _emails(text: str) -> Iterator[Hit]:
    for m in _EMAIL.finditer(text):
        yield Hit(m.start(), m.end(), "email", _email_key(m.group()))
    for m in _SPOKEN_EMAIL.finditer(text):
        yield Hit(m.start(), m.end(), "email", _email_key(m.group()))


# 13-19 digits, grouped by spaces or dashes or not; no card number starts with 0 (an 00 or + prefix is a phone).
_CARD = re.compile(r"(?<![\w.,/+-])[1-9](?:[ -]?\d){12,18}(?![\w]|[.,/-]\d)")


def _cards(text: str) -> Iterator[Hit]:
    """Card-like digit runs, with or without a valid Luhn check digit: a typo or an ASR slip
    in a card number is still a card number."""
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and not _after_non_pii_label(text, m.start()):
            yield Hit(m.start(), m.end(), "card", digits)
    for m in _SPOKEN_PHONE.finditer(text):  # "four zero zero zero one two three four ..."
        digits = _spoken_to_digits(m.group())
        phone_like = digits[0] == "0" or m.group().lower().startswith("plus")
        if 13 <= len(digits) <= 19 and not phone_like and not _after_non_pii_label(text, m.start()):
            yield Hit(m.start(), m.end(), "card", digits)


_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w]|-\d)")
_SSN_CONTEXT = re.compile(
    rf"(?i)\b(?:ssn|social(?:\s+security)?(?:\s+number)?)(?:\s+(?:is|was))?[\s:#,]*"
    rf"(?P<v>\d{{9}}|\d{{3}}[ -]\d{{2}}[ -]\d{{4}}|{_SPOKEN_DIGITS})\b"
)


def _ssns(text: str) -> Iterator[Hit]:
    for m in _SSN.finditer(text):
        yield Hit(m.start(), m.end(), "ssn", re.sub(r"\D", "", m.group()))
    for m in _SSN_CONTEXT.finditer(text):
        raw = m.group("v")
        digits = re.sub(r"\D", "", raw) or _spoken_to_digits(raw)
        if len(digits) == 9:
            yield Hit(m.start("v"), m.end("v"), "ssn", digits)


_ID_WORD = r"(?:id|identifier|number|no\.?|num|#|code)"
_ID_LABEL = (
    rf"(?i:\b(?:(?:member(?:ship)?|policy|patient|account|acct|subscriber|mrn|medicare|medicaid|nhs)(?:\s+{_ID_WORD})?"
    rf"|(?:insurance|medical\s+record|health\s+plan|plan|group|client|customer)\s+{_ID_WORD})"
    r"(?:\s+(?:is|was|it's))?\s*[:#]?\s*)"
)
# An id has a digit; after its first chunk, only digit-bearing chunks or single capitals join it ("88412-A", "HX 44").
_ID_WRITTEN = (
    r"(?:[A-Z]{1,4}[ -](?=\d))?(?=[A-Za-z0-9-]*\d)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
    r"(?:[ -](?:[A-Z0-9]*\d[A-Z0-9]*|[B-HJ-Z])\b)*"
)
_MEMBER_ID = re.compile(rf"{_ID_LABEL}(?P<v>{_ID_WRITTEN}|(?i:{_SPOKEN_DIGITS}))")


def _member_ids(text: str) -> Iterator[Hit]:
    for m in _MEMBER_ID.finditer(text):
        raw = m.group("v")
        if re.fullmatch(rf"(?i){_SPOKEN_DIGITS}", raw):
            value = _spoken_to_digits(raw)
        else:
            value = re.sub(r"[^A-Z0-9]", "", raw.upper())
        if len(value) >= 4:
            yield Hit(m.start("v"), m.end("v"), "member_id", value)


_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        _words("january february march april may june july august september october november december")
    )
}
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"  # noqa: E501
_DAY = rf"(?:\d{{1,2}}(?:st|nd|rd|th)?\b|{_ORDINAL_WORD})"
_YEAR = rf"(?:\d{{4}}\b|'?\d{{2}}\b|{_YEAR_WORDS})"
_DATE = (
    rf"(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:\d{{4}}|\d{{2}})\b|\d{{4}}-\d{{1,2}}-\d{{1,2}}\b"
    rf"|(?:the\s+)?{_DAY}(?:\s+of)?\s+{_MONTH},?(?:\s+{_YEAR})?"
    rf"|{_MONTH}\s+(?:the\s+)?{_DAY},?(?:\s+{_YEAR})?)"
)
_BIRTH = r"(?:born|d\.?o\.?b\b\.?|date\s+of\s+birth|birth\s*date|birthday)"
_FILLER = r"(?:is|was|on|in|of|it's|its|it\s+is|as|=)"
_DOB = re.compile(
    rf"(?i)\b{_BIRTH}\W{{0,3}}(?:{_FILLER}\W{{1,3}}){{0,3}}(?P<v>{_DATE})"
    rf"|(?<![\w/.-])(?P<w>{_DATE})\s+(?:is|was)\s+(?:my|his|her|their|the\s+patient's)\s+{_BIRTH}"
)
_ANY_DATE = re.compile(rf"(?i)(?<![\w/.-])(?:{_DATE})")


def _date_key(raw: str, known: Callable[[str], bool] = lambda _k: False) -> str:
    """A comparable form of a date: 1985-03-03 when it can be told, else the digits and words as written."""
    s = raw.lower().replace(",", " ")
    month = next((n for name, n in _MONTHS.items() if re.search(rf"\b{name[:3]}", s)), None)
    if month is not None:
        rest = re.sub(rf"\b{_MONTH}", " ", s).replace(" of ", " ").replace("the ", " ")
        year = None
        if m := re.search(r"\b(\d{4})\b", rest):
            year, rest = int(m.group(1)), rest.replace(m.group(1), " ")
        day: int | None  # a spoken ordinal that does not parse leaves it None
        if m := re.search(r"(\d{1,2})(?:st|nd|rd|th)?", rest):
            day, rest = int(m.group(1)), rest.replace(m.group(0), " ", 1)
        elif m := re.search(_ORDINAL_WORD, rest):
            day, rest = _words_to_int(m.group()), rest.replace(m.group(), " ", 1)
        else:
            day = None
        if year is None and rest.strip():
            year = _words_to_int(rest) if not re.search(r"\d", rest) else _year(re.sub(r"\D", "", rest))
        if day is not None:
            return f"{year:04d}-{month:02d}-{day:02d}" if year else f"????-{month:02d}-{day:02d}"
        return re.sub(r"\s+", " ", s).strip()
    nums = [int(x) for x in re.findall(r"\d+", s)]
    if len(nums) == 3:
        if len(re.match(r"\d+", s.strip()).group()) == 4:  # type: ignore[union-attr]
            y, a, b = nums
            return f"{y:04d}-{a:02d}-{b:02d}"
        a, b, y = nums[0], nums[1], _year(str(nums[2]) if nums[2] >= 100 else f"{nums[2]:02d}")
        us, eu = f"{y:04d}-{a:02d}-{b:02d}", f"{y:04d}-{b:02d}-{a:02d}"
        if a > 12 or a == b:
            return eu
        if b > 12:
            return us
        # 03/04/1985: month first or day first cannot be told; match a form already seen in the call
        if known(eu) and not known(us):
            return eu
        return us if known(us) else f"{y:04d}-{min(a, b):02d}|{max(a, b):02d}"
    return re.sub(r"\s+", " ", s).strip()


def _year(digits: str) -> int:
    y = int(digits)
    if len(digits) == 2:  # a birth year written '85
        return 1900 + y if y > 25 else 2000 + y
    return y


def _dobs(text: str) -> Iterator[Hit]:
    for m in _DOB.finditer(text):
        group = "v" if m.group("v") is not None else "w"
        raw = m.group(group).rstrip(", ")
        yield Hit(m.start(group), m.start(group) + len(raw), "dob", "")  # keyed later, against dates seen


_SUFFIX = (
    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|terrace|ter|way|close|"
    r"crescent|cres|square|sq|parkway|pkwy|highway|hwy|circle|cir|mews|grove|gardens)"
)
_STOP = (
    r"(?:the|a|an|to|of|in|on|at|for|and|or|but|my|your|our|their|his|her|about|from|with|is|are|was|were|be|"
    r"i|you|we|it|am|pm|minutes?|hours?|days?|weeks?|months?|years?|times?|people|questions?|dollars?|pounds?|"
    r"euros?|percent|items?|orders?|blocks?|miles?|kilometers?|kilometres?|doors?|floors?)"
)
_ADDR_WORD = rf"(?!{_STOP}\b)[a-z][a-z'.-]*"
_UNIT = r"(?:apt|apartment|unit|suite|ste|flat|floor|fl|room|rm|#)\.?\s*#?\s*(?:\d+[a-z]?|[a-z]\d*)\b"
_US_TAIL = r"(?:[ ,]+(?:[A-Z][a-z]+\s?){1,3},?\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?)"
_UK_POSTCODE = r"(?:[ ,]+(?:[A-Z][a-z]+\s?){0,3},?\s*[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})"
_ADDRESS = re.compile(
    rf"(?<![\w-])(?:(?i:{_UNIT}),?\s+)?\d{{1,6}}[a-zA-Z]?(?:-\d{{1,5}})?,?\s+(?i:(?:{_ADDR_WORD}\s+){{0,3}}"
    rf"{_ADDR_WORD}\s+{_SUFFIX}\b\.?(?:\s+(?-i:[NS][EW]?|[EW])\b)?(?:,?\s+{_UNIT})?)(?:{_US_TAIL}|{_UK_POSTCODE})?"
    rf"|(?i:\bp\.?\s?o\.?\s+box\s+\d+)"
)
_STREET_ABBR = {
    "street": "st",
    "avenue": "ave",
    "road": "rd",
    "boulevard": "blvd",
    "lane": "ln",
    "drive": "dr",
    "court": "ct",
    "place": "pl",
    "terrace": "ter",
    "crescent": "cres",
    "square": "sq",
    "parkway": "pkwy",
    "highway": "hwy",
    "circle": "cir",
    "apartment": "apt",
    "suite": "ste",
}


def _address_key(raw: str) -> str:
    words = re.findall(r"[a-z0-9]+", raw.lower())
    return " ".join(_STREET_ABBR.get(w, w) for w in words)


def _addresses(text: str) -> Iterator[Hit]:
    for m in _ADDRESS.finditer(text):
        raw = m.group().rstrip(" ,.")
        yield Hit(m.start(), m.start() + len(raw), "address", _address_key(raw))


# Names. A capitalised word ("Margaret", "O'Neil", "McDonald", "Smith-Jones"), one to three of them.
_CAP = r"[A-Z](?:[a-z]*[A-Z][a-z]+|'[A-Z][a-z]+|[a-z]+)(?:-[A-Z][a-z]+)?"
_CAP_NAME = rf"{_CAP}(?:[ \t]+{_CAP}){{0,2}}"
_LOW_NAME = r"[a-z][a-z'-]+(?:[ \t]+[a-z][a-z'-]+)?"
# Said before a name: introductions, greetings, being put through, thanks.
_INTRO = (
    r"(?:my\s+name\s+is|my\s+name's|the\s+name\s+is|the\s+name's|name\s+is|name's|"
    r"(?:you're|you\s+are|you've\s+got|am\s+i)\s+(?:speaking|talking)\s+(?:with|to)|speaking\s+(?:with|to)|"
    r"talking\s+(?:with|to)|this\s+is|it's|it\s+is|i'm|i\s+am|call\s+me|ask(?:ing)?\s+for|on\s+behalf\s+of|"
    r"put\s+(?:me|you)\s+through\s+to|(?:book|booked|booking|appointment|session)\s+(?:in\s+)?with|"
    r"hi|hello|hey|dear|thanks|thank\s+you|bye|goodbye|good\s+(?:morning|afternoon|"
    r"evening)|morning|afternoon|evening)"
)
_STRONG_INTRO = r"(?:my\s+name\s+is|my\s+name's|the\s+name\s+is|the\s+name's|name\s+is|name's|this\s+is)"
_TITLE = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Doctor|Nurse|Prof|Professor|Sir|Madam|Dame|Lady|Lord)"
_RELATION = (
    r"(?:son|daughter|husband|wife|partner|mother|father|mum|mom|dad|brother|sister|child|baby|grandson|"
    r"granddaughter|grandmother|grandfather|grandma|grandpa|nan|carer|caregiver|fiance|fiancee|boyfriend|girlfriend|"
    r"colleague|boss|tenant|landlord|buyer|seller|client|patient)"
)
# Each cue is searched on its own, so one cannot hide another ("this is Dr Patel": the title finds Patel).
_NAME_CUES = tuple(
    re.compile(p)
    for p in (
        rf"(?i:\b{_INTRO})[,.]?[ \t]+(?P<n>{_CAP_NAME})",
        rf"\b{_TITLE}\.?[ \t]+(?P<n>{_CAP}(?:[ \t]+{_CAP})?)",
        rf"(?i:\b(?:my|our|his|her|their|your)[ \t]+{_RELATION}),?[ \t]+(?P<n>{_CAP_NAME})",
        rf"(?<![\w'])(?P<n>{_CAP_NAME})[ \t]+(?:speaking|here|calling)\b",
    )
)
_LOW_NAME_CUE = re.compile(rf"\b{_STRONG_INTRO}[ \t]+(?P<n>{_LOW_NAME})")
# Words a capitalised run can hold that are no name: it stops the name there ("Sam And ...").
_NOT_NAME = frozenset(
    _words(
        "i a an the and or but so to of in on at for from with by as is are was were be been am it its it's this that "
        "these those there here what who when where why how yes no not okay ok oh um uh er hmm well hi hello hey "
        "thanks "
        "thank you sorry please sure fine good great just really very also still now then today tomorrow yesterday "
        "calling speaking back again about again looking trying wondering worried concerned afraid happy glad ready "
        "going having getting actually only new sir madam mr mrs ms miss mx dr doctor nurse prof professor "
        "monday tuesday wednesday thursday friday saturday sunday january february march april may june july august "
        "september october november december morning afternoon evening night week weekend day "
        "street st road rd avenue ave lane drive way close court place square crescent "
        "my your our his her their me him them us we he she they"
    )
)
# A capitalised run holding one of these is an organisation, not a person ("this is Harbourview Family Clinic").
_ORG_WORDS = frozenset(
    _words(
        "clinic salon realty realtors realtor properties property estates estate agency agents family practice surgery "
        "hospital centre center medical health healthcare dental office team group services service support reception "
        "desk billing care company inc ltd llc spa studio homes pharmacy bank insurance line department triage front "
        "customer relations patient appointments bookings sales lettings"
    )
)


def _name_value(raw: str) -> str | None:
    """The name in a captured run, lower-cased ("margaret hale"), or None when it is no name."""
    words = raw.split()
    if any(w.lower() in _ORG_WORDS for w in words):
        return None
    kept = []
    for w in words:
        if w.lower() in _NOT_NAME:
            break
        kept.append(w.lower())
    return " ".join(kept) or None


def _names(text: str) -> Iterator[Hit]:
    """Names introduced by a cue. In a lower-cased (ASR) transcript, after "my name is" / "this is" only."""
    for cue in _NAME_CUES:
        for m in cue.finditer(text):
            yield from _name_hit(m)
    if not re.search(r"[A-Z]", text):
        for m in _LOW_NAME_CUE.finditer(text):
            yield from _name_hit(m)


def _name_hit(m: re.Match[str]) -> Iterator[Hit]:
    value = _name_value(m.group("n"))
    if value is not None:
        words = list(re.finditer(r"\S+", m.group("n")))[: len(value.split())]
        yield Hit(m.start("n"), m.start("n") + words[-1].end(), "name", value)


# UK (SW1A 1AA, M1 1AE) and Canadian (K1A 0B1) postcodes have a shape of their own; a US ZIP code
# (62704, 62704-1234) is five digits like many others, so only after a state or a "zip code" label.
_UK_POSTCODE_ONLY = r"(?:GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2})"
_CA_POSTCODE = r"(?:[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d)"
_ZIP = r"\d{5}(?:-\d{4})?"
_US_STATE = (
    r"(?:A[LKZR]|C[AOT]|DE|DC|FL|GA|HI|I[DLNA]|K[SY]|LA|M[EDAINSOT]|N[EVHJMYCD]|O[HKR]|PA|RI|S[CD]|T[NX]|UT|V[TA]|"
    r"W[AVIY])"
)
_US_STATE_NAME = (
    r"(?i:alabama|alaska|arizona|arkansas|california|colorado|connecticut|delaware|florida|georgia|hawaii|idaho|"
    r"illinois|indiana|iowa|kansas|kentucky|louisiana|maine|maryland|massachusetts|michigan|minnesota|mississippi|"
    r"missouri|montana|nebraska|nevada|new\s+hampshire|new\s+jersey|new\s+mexico|new\s+york|north\s+carolina|"
    r"north\s+dakota|ohio|oklahoma|oregon|pennsylvania|rhode\s+island|south\s+carolina|south\s+dakota|tennessee|"
    r"texas|utah|vermont|virginia|washington|west\s+virginia|wisconsin|wyoming)"
)
_POSTCODE_LABEL = (
    r"(?i:\b(?:post\s?code|postal\s+code|zip(?:\s+code)?|zip\s*/\s*postal\s+code)(?:\s+(?:is|was|it's))?\s*[:#]?\s*)"
)
_POSTCODE = re.compile(
    rf"{_POSTCODE_LABEL}(?P<a>(?i:{_UK_POSTCODE_ONLY}|{_CA_POSTCODE})(?![\w])|{_ZIP}\b|(?i:{_SPOKEN_DIGITS})\b)"
    rf"|(?<![\w-])(?P<b>{_UK_POSTCODE_ONLY}|{_CA_POSTCODE})(?![\w-])"
    rf"|(?:\b{_US_STATE}|\b{_US_STATE_NAME}),?\s+(?P<c>{_ZIP})\b"
)


def _postcode_key(raw: str) -> str:
    return _spoken_to_digits(raw) if not re.search(r"\d", raw) else re.sub(r"[^A-Z0-9]", "", raw.upper())


def _postcodes(text: str) -> Iterator[Hit]:
    for m in _POSTCODE.finditer(text):
        group = next(g for g in ("a", "b", "c") if m.group(g) is not None)
        raw = m.group(group)
        value = _postcode_key(raw)
        if len(value) >= 5 or group != "a" or re.search(r"[A-Za-z]", raw):
            yield Hit(m.start(group), m.end(group), "postcode", value)


_DETECTORS: dict[str, Callable[[str], Iterator[Hit]]] = {
    "phone": _phones,
    "email": _emails,
    "card": _cards,
    "dob": _dobs,
    "address": _addresses,
    "postcode": _postcodes,
    "ssn": _ssns,
    "member_id": _member_ids,
    "name": lambda text: _names(text),
}

_NORMALISE: dict[str, Callable[[str], str]] = {
    "phone": lambda s: _phone_key(re.sub(r"\D", "", s) or _spoken_to_digits(s)),
    "email": _email_key,
    "card": lambda s: re.sub(r"\D", "", s),
    "address": _address_key,
    "postcode": _postcode_key,
    "ssn": lambda s: re.sub(r"\D", "", s) or _spoken_to_digits(s),
    "member_id": lambda s: _spoken_to_digits(s) if not re.search(r"\d", s) else re.sub(r"[^A-Z0-9]", "", s.upper()),
}

# A turn that asks for one of these makes the next turn's bare answer that kind:
# "What's your date of birth?" -> "March 3rd, 1985."
_ASKS = {
    "dob": re.compile(rf"(?i)\b{_BIRTH}"),
    "member_id": re.compile(
        rf"(?i)\b(?:member(?:ship)?|policy|patient|subscriber|account|insurance|medicare|medicaid|nhs)\s+{_ID_WORD}"
        r"|\bmrn\b"
    ),
    "ssn": re.compile(r"(?i)\b(?:ssn|social\s+security)\b"),
}
_BARE_ID = re.compile(rf"(?<![\w-])(?:{_ID_WRITTEN}|(?i:{_SPOKEN_DIGITS}))(?![\w-])")
_BARE_SSN = re.compile(rf"(?<![\w-])(?:\d{{9}}|\d{{3}}[ -]\d{{2}}[ -]\d{{4}}|(?i:{_SPOKEN_DIGITS}))(?![\w-])")


def _answers(text: str, kind: str) -> Iterator[Hit]:
    """The value in a turn that answers a question for `kind`, said without any label."""
    if kind == "dob":
        for m in _ANY_DATE.finditer(text):
            raw = m.group().rstrip(", ")
            yield Hit(m.start(), m.start() + len(raw), "dob", "")
        return
    for m in (_BARE_ID if kind == "member_id" else _BARE_SSN).finditer(text):
        raw = m.group()
        spoken = not re.search(r"\d", raw)
        value = _spoken_to_digits(raw) if spoken else re.sub(r"[^A-Z0-9]", "", raw.upper())
        if kind == "ssn" and len(value) == 9:
            yield Hit(m.start(), m.end(), "ssn", value)
            return
        if kind == "member_id" and len(value) >= 4 and not _DATE_LIKE.fullmatch(raw):
            yield Hit(m.start(), m.end(), "member_id", value)
            return  # one id answers the question; later numbers are left to the other detectors


_REPEATABLE = {"dob": _ANY_DATE, "member_id": _BARE_ID, "ssn": _BARE_SSN}


def asked_for(text: str, kinds: Iterable[str]) -> frozenset[str]:
    """The kinds of personal data a turn asks for (or mentions), so the next turn's bare answer is redacted."""
    return frozenset(k for k in kinds if k in _ASKS and _ASKS[k].search(text))


# Profile keys (lower-cased, separators dropped) that name a kind of personal data.
_PROFILE_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("email", ("email", "mail")),
    ("ssn", ("ssn", "socialsecurity")),
    ("dob", ("dob", "dateofbirth", "birthdate", "birthday", "born")),
    ("card", ("cardnumber", "creditcard", "debitcard", "pan")),
    ("phone", ("phone", "mobile", "cell", "telephone", "tel", "callerid", "ani", "contactnumber", "fax")),
    ("address", ("address", "street", "addressline", "postal", "mailing")),
    ("member_id", ("memberid", "membernumber", "member", "policy", "patientid", "patientnumber", "account", "mrn")),
    ("member_id", ("subscriber", "insuranceid", "medicare", "medicaid", "nhsnumber", "customerid", "clientid")),
)
# A value under such a key is that data only if it looks like it ("account_type": "gold" is not an id).
_PROFILE_SHAPE = {
    "email": re.compile(r"@|(?i:\sat\s)"),
    "dob": re.compile(rf"\d|(?i:\b{_MONTH})"),
    "address": re.compile(r"[A-Za-z]{2}"),
    "name": re.compile(r"[A-Za-z]{2}"),
}


# Keys that hold a person's name, matched whole ("plan_name" or "username" are no person's name).
_PROFILE_NAME_KEYS = frozenset(
    _words(
        "name firstname lastname fullname surname forename givenname familyname middlename preferredname nickname "
        "displayname callername customername patientname contactname clientname membername agentname repname "
        "guardianname parentname spousename"
    )
)


def profile_kind(key: str) -> str | None:
    """The kind of personal data a customer-profile key holds ("member_id" -> member_id), if any."""
    k = re.sub(r"[^a-z0-9]", "", key.lower())
    if k in _PROFILE_NAME_KEYS:
        return "name"
    for kind, names in _PROFILE_KEYS:
        if k in names or any(len(n) > 3 and n in k for n in names):
            return kind
    return None


# ---------------------------------------------------------------- the per-conversation table


@dataclass
class _Table:
    """Placeholders for one conversation: (kind, value) -> [KIND_n], in order of first appearance."""

    kinds: frozenset[str]
    names: dict[tuple[str, str], str] = field(default_factory=dict)
    used: dict[str, set[int]] = field(default_factory=dict)
    # Values already redacted, as written, so one repeated back out of context is redacted too.
    seen: dict[str, tuple[str, str]] = field(default_factory=dict)
    # A known name and each of its parts -> the name's value: "Margaret", "Hale", "Mrs Hale" are one person.
    name_parts: dict[str, str] = field(default_factory=dict)

    def learn_name(self, value: str) -> str:
        """The value a detected name stands for in this call (a part of a known name is that name)."""
        words = value.split()
        if value not in self.name_parts and len(words) == 1 and words[0] in self.name_parts:
            value = self.name_parts[words[0]]
        self.name_parts.setdefault(value, value)
        for w in words:
            if len(w) >= 2 and w not in _NOT_NAME:
                self.name_parts.setdefault(w, value)
        return self.name_parts[value]

    def _known_names(self, text: str) -> Iterator[Hit]:
        """Known names said again without a cue; capitalised, unless the whole text is lower case."""
        if not self.name_parts:
            return
        lower_only = not re.search(r"[A-Z]", text)
        alts = "|".join(re.escape(n) for n in sorted(self.name_parts, key=len, reverse=True))
        for m in re.finditer(rf"(?i)(?<![\w'])(?:{alts})(?![\w])", text):
            if lower_only or m.group()[0].isupper():
                yield Hit(m.start(), m.end(), "name", self.name_parts[" ".join(m.group().lower().split())])

    def placeholder(self, kind: str, value: str, surface: str) -> str:
        key = (kind, value)
        if key not in self.names:
            numbers = self.used.setdefault(kind, set())
            n = max(numbers, default=0) + 1
            numbers.add(n)
            self.names[key] = f"[{kind.upper()}_{n}]"
        if len(surface.strip()) >= 6:
            self.seen.setdefault(surface.strip().lower(), key)
        return self.names[key]

    def reserve(self, text: str) -> None:
        """Placeholders already in the text (redacted upstream) keep their numbers; new values get others."""
        for m in PLACEHOLDER.finditer(text):
            self.used.setdefault(m.group(1).lower(), set()).add(int(m.group(2)))

    def known_date(self, key: str) -> bool:
        return ("dob", key) in self.names

    def _repeats(self, text: str) -> Iterator[Hit]:
        """Values already seen in this call, said again without context (an agent reading them back)."""
        for kind, pattern in _REPEATABLE.items():
            if kind in self.kinds:
                for m in pattern.finditer(text):
                    raw = m.group().rstrip(", ")
                    value = _date_key(raw, self.known_date) if kind == "dob" else _NORMALISE[kind](raw)
                    if (kind, value) in self.names:
                        yield Hit(m.start(), m.start() + len(raw), kind, value)
        low = text.lower()
        for surface, (kind, value) in self.seen.items():
            start = low.find(surface)
            while start != -1:
                end = start + len(surface)
                if (start == 0 or not low[start - 1].isalnum()) and (end == len(low) or not low[end].isalnum()):
                    yield Hit(start, end, kind, value)
                start = low.find(surface, end)

    def redact(self, text: str, expect: frozenset[str] = frozenset()) -> str:
        if not text:
            return text
        self.reserve(text)
        hits: list[Hit] = []
        for kind in sorted(self.kinds):
            hits.extend(_DETECTORS[kind](text))
        for kind in sorted(expect & self.kinds):
            hits.extend(_answers(text, kind))
        hits = [Hit(h.start, h.end, h.kind, self.learn_name(h.value)) if h.kind == "name" else h for h in hits]
        hits.extend(self._repeats(text))
        if "name" in self.kinds:
            hits.extend(self._known_names(text))
        taken = [(m.start(), m.end()) for m in PLACEHOLDER.finditer(text)]
        chosen: list[Hit] = []
        for hit in sorted(hits, key=lambda h: (_PRIORITY[h.kind], h.start, -(h.end - h.start))):
            if all(hit.end <= a or hit.start >= b for a, b in taken):
                chosen.append(hit)
                taken.append((hit.start, hit.end))
        out, pos = [], 0
        for hit in sorted(chosen, key=lambda h: h.start):
            surface = text[hit.start : hit.end]
            value = hit.value or _date_key(surface, self.known_date)
            out.append(text[pos : hit.start])
            out.append(self.placeholder(hit.kind, value, surface))
            pos = hit.end
        out.append(text[pos:])
        return "".join(out)

    def redact_value(self, kind: str, value: Any) -> Any:
        """A profile value under a key that names its kind: the whole value is the personal data."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return value
        raw = str(value).strip()
        if PLACEHOLDER.fullmatch(raw):
            self.reserve(raw)
            return value
        shape = _PROFILE_SHAPE.get(kind, re.compile(r"\d|(?i:\b" + _DIGIT_WORD + r"\b)"))
        if not shape.search(raw):
            return self.redact(value) if isinstance(value, str) else value
        if kind == "name":
            return self.placeholder(kind, self.learn_name(" ".join(raw.lower().split())), raw)
        norm = _date_key(raw, self.known_date) if kind == "dob" else _NORMALISE[kind](raw)
        return self.placeholder(kind, norm or raw.lower(), raw)

    def redact_profile(self, value: Any, kind: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: self.redact_profile(v, profile_kind(str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact_profile(v, kind) for v in value]
        if kind in self.kinds:
            return self.redact_value(kind, value)
        if isinstance(value, str):
            return self.redact(value)
        return value


# ---------------------------------------------------------------- public API


class Redactor:
    """Replaces personal data of the given kinds with per-conversation placeholders."""

    def __init__(self, kinds: Iterable[str] = KINDS):
        kinds = list(kinds)
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ConfigError(
                f"field redaction.kinds: unknown kind(s) {', '.join(unknown)} (known: {', '.join(KINDS)})"
            )
        self.kinds = frozenset(kinds)

    def _table(self) -> _Table:
        return _Table(self.kinds)

    def redact_text(self, text: str) -> str:
        """One text on its own (placeholders numbered within it)."""
        return self._table().redact(text)

    def redact_turns(self, customer: dict[str, Any], turns: list[Turn]) -> tuple[dict[str, Any], list[Turn]]:
        """The profile first, then the turns in order: a prefix of the turns redacts the same way."""
        return self._redact_turns(self._table(), customer, turns)

    def _redact_turns(
        self, table: _Table, customer: dict[str, Any], turns: list[Turn]
    ) -> tuple[dict[str, Any], list[Turn]]:
        profile = table.redact_profile(customer)
        redacted, expect = [], frozenset[str]()
        for t in turns:
            redacted.append(t.model_copy(update={"text": table.redact(t.text, expect)}))
            expect = asked_for(t.text, self.kinds)
        return profile, redacted

    def redact_input(self, ctx: AgentInput) -> AgentInput:
        """What an agent is sent at one turn, with personal data replaced."""
        customer, turns = self.redact_turns(ctx.customer, ctx.turns)
        return ctx.model_copy(update={"customer": customer, "turns": turns})

    def redact_transcript(self, t: Transcript) -> Transcript:
        """A whole case, for reports: the same placeholders the agent saw at every turn."""
        customer, turns = self.redact_turns(t.customer, t.turns)
        return t.model_copy(update={"customer": customer, "turns": turns})

    def redact_case(self, t: Transcript, texts: list[str | None]) -> tuple[Transcript, list[str | None]]:
        """A case and texts said about it (the agent's replies, summaries), with one set of
        placeholders: a phone number is [PHONE_1] in the conversation and in the reply."""
        table = self._table()
        customer, turns = self._redact_turns(table, t.customer, t.turns)
        out = [table.redact(x) if x else x for x in texts]
        return t.model_copy(update={"customer": customer, "turns": turns}), out


def is_loopback_url(url: str | None) -> bool:
    """True when the URL's host is this machine (127.0.0.0/8, ::1, localhost): nothing leaves it."""
    if not url:
        return False
    try:
        host = urlsplit(url if "//" in url else f"//{url}").hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def should_redact(mode: str, url: str | None) -> bool:
    """`[redaction] mode`: always, never, or auto (only when the endpoint is not on loopback)."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    return not is_loopback_url(url)
