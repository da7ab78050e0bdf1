"""Korean amounts: 한글 numerals (일십사억칠천...), digit/unit mixes (14억 7,456만, 1.47억, 5천만) and plain digits.

The project's own code: no maintained library reads 한글 numerals or 억/만 units.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_DIGITS = {"영": 0, "공": 0, "일": 1, "이": 2, "삼": 3, "사": 4, "오": 5, "육": 6, "륙": 6, "칠": 7, "팔": 8, "구": 9}
_SMALL_UNITS = {"십": 10, "백": 100, "천": 1000}
_BIG_UNITS = {"만": 10**4, "억": 10**8, "조": 10**12}

HANGUL_NUMERAL_CHARS = "".join(_DIGITS) + "".join(_SMALL_UNITS) + "".join(_BIG_UNITS)


def korean_amount(text: str) -> Decimal | None:
    """The value of a Korean amount without its currency marks, e.g. '14억 7,456만 7,273' or '일십사억칠천만'.

    Digits may carry commas and a decimal point ('1.47억'); 한글 digits and units may be mixed with digits
    ('5천만', '1억2천'). Returns None when the text is not an amount.
    """
    total = Decimal(0)  # sum of finished big-unit groups (억, 만 ...)
    group = Decimal(0)  # the group being built, below the next big unit
    number: Decimal | None = None  # the digits just read, waiting for a unit
    last_big: int | None = None
    seen = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isdigit():
            j = i
            while j < n and (text[j].isdigit() or text[j] in ",."):
                j += 1
            raw = text[i:j].rstrip(",.").replace(",", "")
            try:
                number = Decimal(raw)
            except InvalidOperation:
                return None
            i = i + len(text[i:j].rstrip(",."))
            seen = True
            continue
        if ch in _DIGITS:
            if number is not None:
                return None  # two digits in a row ('일이') is not a Korean numeral
            number = Decimal(_DIGITS[ch])
            seen = True
        elif ch in _SMALL_UNITS:
            group += (number if number is not None else Decimal(1)) * _SMALL_UNITS[ch]
            number = None
            seen = True
        elif ch in _BIG_UNITS:
            unit = _BIG_UNITS[ch]
            if last_big is not None and unit >= last_big:
                return None  # '만 ... 억' out of order
            if number is not None:
                group += number
            total += (group if group else Decimal(1)) * unit
            group, number, last_big = Decimal(0), None, unit
            seen = True
        elif ch in " \u00a0":
            pass
        else:
            return None
        i += 1
    if not seen:
        return None
    if number is not None:
        group += number
    value = total + group
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def korean_words(value: int) -> str:
    """The 한글 numeral a notice writes for `value`, e.g. 1474567273 -> '일십사억칠천사백오십육만칠천이백칠십삼'.

    Boards write '일십' and '일천' with the leading 일; this mirrors that usage.
    """
    if value <= 0:
        return "영"
    names = "영일이삼사오육칠팔구"
    out: list[str] = []
    for big_name, big in (("조", 10**12), ("억", 10**8), ("만", 10**4), ("", 1)):
        chunk = (value // big) % 10**4
        if not chunk:
            continue
        for small_name, small in (("천", 1000), ("백", 100), ("십", 10), ("", 1)):
            digit = (chunk // small) % 10
            if digit:
                out.append(names[digit] + small_name)
        out.append(big_name)
    return "".join(out)
