"""Bytes to text: EUC-KR declared only in <meta>, BOMs, HTTP charsets, mislabelled pages."""

from __future__ import annotations

import codecs

import pytest

from forest.crawler.decode import NotTextEncoding, charset_from_content_type, decode_html, normalise_encoding

KOREAN = "산림청 입찰공고: 똠방각하 펲 (cp949 전용 음절 포함)"


def test_euckr_declared_only_in_meta_decodes_byte_exact() -> None:
    html = f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=euc-kr"></head><body>{KOREAN}</body></html>'
    text, encoding = decode_html(html.encode("cp949"), content_type="text/html")

    assert encoding == "cp949"
    assert KOREAN in text
    assert text.encode("cp949") == html.encode("cp949")


def test_meta_charset_short_form() -> None:
    html = f'<meta charset="ks_c_5601-1987"><p>{KOREAN}</p>'
    text, encoding = decode_html(html.encode("cp949"))
    assert (encoding, KOREAN in text) == ("cp949", True)


def test_bom_wins_over_declarations() -> None:
    text, encoding = decode_html(
        codecs.BOM_UTF8 + f"<p>{KOREAN}</p>".encode(), content_type="text/html; charset=euc-kr"
    )
    assert encoding == "utf-8-sig"
    assert text == f"<p>{KOREAN}</p>"


def test_http_charset_is_used() -> None:
    text, encoding = decode_html(f"<p>{KOREAN}</p>".encode("cp949"), content_type="text/html; charset=EUC-KR")
    assert (encoding, text) == ("cp949", f"<p>{KOREAN}</p>")


def test_wrong_utf8_label_on_euckr_bytes_falls_through() -> None:
    html = f'<html><head><meta charset="euc-kr"></head><body>{KOREAN}</body></html>'
    text, encoding = decode_html(html.encode("cp949"), content_type="text/html; charset=utf-8")
    assert (encoding, KOREAN in text) == ("cp949", True)


def test_undeclared_korean_is_detected() -> None:
    body = ("<p>" + KOREAN + " 산림경영과 산불방지과 목재산업과 국유림관리과</p>") * 5
    text, _ = decode_html(body.encode("cp949"))
    assert KOREAN in text


def test_override_beats_everything() -> None:
    text, encoding = decode_html(
        f"<p>{KOREAN}</p>".encode("cp949"), content_type="text/html; charset=utf-8", override="euc-kr"
    )
    assert (encoding, text) == ("cp949", f"<p>{KOREAN}</p>")


def test_undecodable_without_hints_uses_replacement() -> None:
    text, _ = decode_html(b"<p>\xff\xfe\xfa</p>" * 0 + b"<p>ok</p>")
    assert text == "<p>ok</p>"


def test_helpers() -> None:
    assert charset_from_content_type('text/html; charset="UTF-8"') == "UTF-8"
    assert charset_from_content_type("text/html") is None
    assert normalise_encoding("KS_C_5601-1987") == "cp949"
    assert normalise_encoding("no-such-charset") is None


@pytest.mark.parametrize("label", ["base64", "rot13", "rot_13", "zlib", "hex", "bz2", "uu", "quopri", "undefined"])
def test_non_text_codecs_are_refused_wherever_they_are_named(label: str) -> None:
    page = f"<p>{KOREAN}</p>".encode()
    with pytest.raises(NotTextEncoding, match=f"the Content-Type charset {label!r} is not a text encoding"):
        decode_html(page, content_type=f"text/html; charset={label}")
    with pytest.raises(NotTextEncoding, match="the <meta> charset"):
        decode_html(f'<meta charset="{label}">'.encode() + page)
    with pytest.raises(NotTextEncoding, match=f"the configured encoding {label!r}"):
        decode_html(page, override=label)


def test_a_text_override_wins_over_a_non_text_declaration() -> None:
    text, encoding = decode_html(f"<p>{KOREAN}</p>".encode("cp949"), content_type="text/html; charset=base64",
                                 override="euc-kr")
    assert (text, encoding) == (f"<p>{KOREAN}</p>", "cp949")
