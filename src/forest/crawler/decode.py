"""Bytes to text for HTML pages, the way Korean public-agency sites actually label (or mislabel) them."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Labels that mean EUC-KR in practice: browsers decode all of them as its superset cp949 (UHC),
# and real boards do contain the extra UHC syllables.
_CP949_ALIASES = {
    "euc-kr",
    "euc_kr",
    "euckr",
    "ks_c_5601-1987",
    "ks_c_5601",
    "ksc5601",
    "ksc_5601",
    "korean",
    "cp949",
    "ms949",
    "uhc",
    "windows-949",
    "x-windows-949",
}
_META_SNIFF_BYTES = 4096
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.IGNORECASE)


def normalise_encoding(label: str | None) -> str | None:
    """A Python codec name for a charset label, or None when the label is unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if name in _CP949_ALIASES:
        return "cp949"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def charset_from_content_type(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header value, if any."""
    if not content_type:
        return None
    match = _HEADER_CHARSET.search(content_type)
    return match.group(1) if match else None


def meta_charset(content: bytes) -> str | None:
    """The charset declared by a `<meta>` tag in the first 4 KiB."""
    match = _META_CHARSET.search(content[:_META_SNIFF_BYTES])
    return match.group(1).decode("ascii", "replace") if match else None


def decode_html(content: bytes, *, content_type: str | None = None, override: str | None = None) -> tuple[str, str]:
    """Decode a page; returns (text, encoding used).

    Order: a configured override, the BOM, the HTTP charset, the `<meta>` charset, detection,
    then UTF-8 with replacement. A declared charset that does not decode cleanly is skipped,
    because Korean sites often declare UTF-8 on EUC-KR pages and vice versa.
    """
    forced = normalise_encoding(override)
    if forced:
        return content.decode(forced, "replace"), forced
    for bom, name in _BOMS:
        if content.startswith(bom):
            return content.decode(name, "replace"), name
    declared = [
        name
        for name in (
            normalise_encoding(charset_from_content_type(content_type)),
            normalise_encoding(meta_charset(content)),
        )
        if name
    ]
    for name in dict.fromkeys(declared):
        try:
            return content.decode(name), name
        except (UnicodeDecodeError, LookupError):
            continue
    best = from_bytes(content).best()
    if best is not None and best.encoding:
        name = normalise_encoding(best.encoding) or best.encoding
        return content.decode(name, "replace"), name
    fallback = declared[0] if declared else "utf-8"
    return content.decode(fallback, "replace"), fallback
