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


class NotTextEncoding(ValueError):
    """A label naming a codec that does not turn bytes into text (base64, rot13, zlib…); `where` it was found."""

    def __init__(self, label: str, where: str) -> None:
        super().__init__(f"{where} {label!r} is not a text encoding")
        self.label = label
        self.where = where


def normalise_encoding(label: str | None, *, where: str = "the charset label") -> str | None:
    """A Python codec name for a charset label, or None when the label is unknown.

    Raises NotTextEncoding for a codec Python knows that is not a text encoding: `bytes.decode` would
    raise LookupError on it, and a page must never decide which of Python's codecs runs on its bytes.
    """
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if name in _CP949_ALIASES:
        return "cp949"
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    if not _is_text_encoding(codec):
        raise NotTextEncoding(label.strip(), where)
    return codec


def _is_text_encoding(codec: str) -> bool:
    # `bytes.decode` itself refuses bytes-to-bytes and str-to-str codecs (base64, zlib, rot13) with a
    # LookupError, the one public test of "text encoding" (not on b"", which short-cuts to ""); with
    # "ignore" a text codec decodes any byte, while "undefined" fails on every input.
    try:
        b"a".decode(codec, "ignore")
    except (LookupError, UnicodeError):
        return False
    return True


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
    because Korean sites often declare UTF-8 on EUC-KR pages and vice versa. Raises NotTextEncoding
    when the override or a declaration names a codec that is not a text encoding (`charset=base64`).
    """
    forced = normalise_encoding(override, where="the configured encoding")
    if forced:
        return content.decode(forced, "replace"), forced
    for bom, name in _BOMS:
        if content.startswith(bom):
            return content.decode(name, "replace"), name
    declared = [
        name
        for name in (
            normalise_encoding(charset_from_content_type(content_type), where="the Content-Type charset"),
            normalise_encoding(meta_charset(content), where="the <meta> charset"),
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
