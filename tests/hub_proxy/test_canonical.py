"""The canonical form of client URIs and names (:mod:`hub_proxy.canonical`).

Examples pin the decisions; properties (hypothesis) check what the hub's
security rests on, over URIs built from the characters that matter: a
canonical URI is canonical (idempotence); every spelling of one URI that RFC
3986 calls equivalent has the same canonical form; and the WHATWG parser the
MCP SDKs read URIs with (pydantic's ``Url``, the Rust ``url`` crate) leaves a
canonical URI exactly as it is -- so the string a policy matched is the
resource an upstream serves.
"""

from __future__ import annotations

from typing import Final

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic_core import Url

from hub_proxy.canonical import InvalidNameError, canonical_uri, check_name

SETTINGS: Final = settings(max_examples=500, database=None, deadline=None)


@pytest.mark.parametrize(
    ("uri", "canonical"),
    [
        ("demo://resource/x/../dynamic/text/1", "demo://resource/dynamic/text/1"),
        ("demo://resource/%2e%2e/dynamic/text/1", "demo://resource/dynamic/text/1"),
        ("demo://resource/a/%2E%2e/dynamic/text/1", "demo://resource/dynamic/text/1"),
        ("demo://resource/./dynamic/text/1", "demo://resource/dynamic/text/1"),
        ("DEMO://resource/dynamic/text/1", "demo://resource/dynamic/text/1"),
        ("demo://RESOURCE/dynamic/text/1", "demo://resource/dynamic/text/1"),
        ("demo://resource:/dynamic/text/1", "demo://resource/dynamic/text/1"),
        (
            "demo://resource/static/document/../../dynamic/text/1",
            "demo://resource/dynamic/text/1",
        ),
        ("demo://resource/%64ynamic/%7e%2f%2a", "demo://resource/dynamic/~%2F%2A"),
        ("demo://resource/caf\u00e9", "demo://resource/caf%C3%A9"),
        ("demo://resource/a|b{c}", "demo://resource/a%7Cb%7Bc%7D"),
        ("urn:ISBN:0451450523", "urn:ISBN:0451450523"),
        ("urn:a/../b", "urn:a/../b"),
        ("demo:/.//x", "demo:/.//x"),
        ("demo://u%3a:P@Host:080/a?Q%41#F%7e", "demo://u%3A:P@host:80/a?QA#F~"),
        ("HTTPS://Example.COM:443", "https://example.com/"),
        ("http://example.com:8080/a/./b/../c", "http://example.com:8080/a/c"),
        ("http://example.com/?it's", "http://example.com/?it%27s"),
        ("file://localhost/etc/passwd", "file:///etc/passwd"),
        ("file:/etc/passwd", "file:///etc/passwd"),
        ("file:///C:/a/../b", "file:///C:/b"),
        ("demo://[::1]/x", "demo://[::1]/x"),
    ],
)
def test_canonical_form(uri: str, canonical: str) -> None:
    assert canonical_uri(uri) == canonical


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("demo://resource/dynamic/text/1\t", "U+0009"),
        ("demo://resource/dyn\namic/text/1", "U+000A"),
        (" demo://resource/dynamic/text/1", "whitespace"),
        ("demo://resource/dynamic/text/1\x00", "U+0000"),
        ("demo://resource/\u200bdynamic", "U+200B"),
        ("demo://resource/\ud800", "surrogate"),
        ("demo://resource/\u00a0", "U+00A0"),
        ("demo://resource/100%", "percent-encoding"),
        ("demo://resource/%zz", "percent-encoding"),
        ("resource/dynamic/text/1", "scheme"),
        ("//resource/dynamic", "scheme"),
        ("1demo://resource", "scheme"),
        ("demo://resource:http/x", "port"),
        ("demo://resource:99999/x", "65535"),
        ("https:/example.com/x", "//host"),
        ("https:////example.com/x", "host"),
        ("https://ex%C3%A4mple.com/", "xn--"),
        ("https://0x7f.1/", "IPv4"),
        ("https://2130706433/", "IPv4"),
        ("file:etc/passwd", "absolute path"),
        ("demo://[zz]/", "IP literal"),
    ],
)
def test_refused_with_the_reason(uri: str, says: str) -> None:
    with pytest.raises(InvalidNameError, match=None) as refused:
        canonical_uri(uri)
    assert says in str(refused.value)


@pytest.mark.parametrize("name", ["echo", "get-sum", "Caf\u00e9", "time__convert", "a.b/c"])
def test_names_are_themselves(name: str) -> None:
    assert check_name(name, "tool") == name


@pytest.mark.parametrize(
    "name", ["", "echo ", " echo", "ec\tho", "echo\u200b", "\u202eohce", "ech\ud800o", "e\x7f"]
)
def test_names_with_invisible_characters_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError):
        check_name(name, "tool")


# --- properties ---------------------------------------------------------------------------

_PIECES: Final = (
    *"abzAZ09-._~!$&'()*+,;=:@/?#[]%",
    "%2e",
    "%2E",
    "%41",
    "%7e",
    "%2F",
    "%25",
    "%C3%A9",
    "..",
    "./",
    "../",
    "/./",
    "/../",
    "//",
    "\u00e9",
    "|",
    "\\",
    "{",
    "^",
    "`",
    '"',
    "<",
)
_SCHEMES: Final = ("demo:", "demo://", "DeMo://", "http://", "HTTPS://", "file:", "file://", "urn:")
uri_like = st.builds(
    lambda scheme, pieces: scheme + "".join(pieces),
    st.sampled_from(_SCHEMES),
    st.lists(st.sampled_from(_PIECES), max_size=24),
)


def _canonical_or_none(uri: str) -> str | None:
    try:
        return canonical_uri(uri)
    except InvalidNameError:
        return None


@SETTINGS
@given(uri=uri_like | st.text(max_size=40))
@example(uri="demo:/.//x")
def test_canonical_is_idempotent(uri: str) -> None:
    canonical = _canonical_or_none(uri)
    if canonical is not None:
        assert canonical_uri(canonical) == canonical


@SETTINGS
@given(uri=uri_like)
def test_a_canonical_uri_is_a_fixed_point_of_the_whatwg_parser(uri: str) -> None:
    """What an MCP SDK makes of the forwarded URI is the URI the policy matched."""
    canonical = _canonical_or_none(uri)
    if canonical is None:
        return
    try:
        parsed = str(Url(canonical))
    except ValueError:
        return  # the upstream's parser refuses it: nothing is served
    assert parsed == canonical, (uri, canonical)


_HEX: Final = "0123456789abcdefABCDEF"


@st.composite
def equivalent_spellings(draw: st.DrawFn) -> tuple[str, str]:
    """A canonical URI, and another spelling of it that RFC 3986 calls equivalent."""
    segments = draw(st.lists(st.text("abcXYZ019-_~.", min_size=1, max_size=6), max_size=5))
    segments = [s for s in segments if s not in (".", "..")]
    path = "".join(f"/{s}" for s in segments)
    canonical = f"demo://resource{path}"
    spelled = []
    for segment in segments:
        if draw(st.booleans()):
            spelled.append(draw(st.sampled_from(["x/..", ".", "%2e", "a/%2E%2e", "./b/.."])))
        chars = [
            f"%{ord(c):02X}".lower() if draw(st.booleans()) and c in "abc-_~." else c
            for c in segment
        ]
        spelled.append("".join(chars))
    scheme = draw(st.sampled_from(["demo", "DEMO", "Demo"]))
    host = draw(st.sampled_from(["resource", "RESOURCE", "Resource", "resource:", "r%65source"]))
    return canonical, f"{scheme}://{host}" + "".join(f"/{s}" for s in spelled)


@SETTINGS
@given(spellings=equivalent_spellings())
def test_equivalent_spellings_have_one_canonical_form(spellings: tuple[str, str]) -> None:
    canonical, spelled = spellings
    assert canonical_uri(spelled) == canonical_uri(canonical) == canonical
