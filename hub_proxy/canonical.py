"""Names and URIs from clients, in the one spelling that policies match and upstreams get.

A policy is a set of globs over strings, but an upstream does not look
strings up: it *parses* them.  The MCP SDKs read a resource URI with a WHATWG
URL parser (``new URL`` in TypeScript, pydantic's ``AnyUrl`` -- the Rust
``url`` crate -- in Python), which removes dot segments (``x/../dynamic`` and
``%2e%2e``), lowercases the scheme, drops an empty port and strips tabs,
newlines and leading or trailing spaces.  A hub that matched the raw string
and forwarded it let ``demo://resource/x/../dynamic/text/1`` past a deny on
``demo://resource/dynamic/*`` -- the upstream served the denied resource, and
the audit said "allowed".  So a client's URI is brought into one canonical
form before anything looks at it, that form is what policies match, what
routing uses, what the audit records, and what is forwarded: the upstream
never sees the client's spelling, so it has nothing left to re-interpret.

The canonical form (:func:`canonical_uri`) is RFC 3986's syntax-based
normalization (section 6.2.2), plus its scheme-based normalization (6.2.3)
where the WHATWG parser applies one:

* the scheme and the host in lower case (percent-escapes in upper case);
* percent-encodings of unreserved characters decoded (``%41`` is ``A``,
  ``%2E`` is ``.``), every other one in upper-case hex;
* dot segments removed (RFC 3986 section 5.2.4), after that decoding, from a
  hierarchical path (one after an authority, or starting with ``/``); an
  opaque one (``urn:isbn:...``, ``mailto:...``) has no segments to a WHATWG
  parser, which leaves it alone, and so does this;
* characters a URI may not hold raw (non-ASCII, ``"<>\\^`{|}`` and brackets
  outside an IP literal) percent-encoded as UTF-8, as RFC 3987 maps an IRI;
* an empty port dropped, a port's leading zeros dropped, and for the WHATWG
  "special" schemes (``http``, ``https``, ``ws``, ``wss``, ``ftp``,
  ``file``) the default port dropped, an empty path made ``/``,
  ``file://localhost/`` (or ``file://host/C:/``) made ``file:///``, ``;``
  and ``=`` encoded in user information and ``'`` in a query, and an empty
  password or user information dropped.

Some input is refused rather than guessed at, with a message that says what
to fix (the session answers -32602): control characters, whitespace and
other invisible or invalid code points (a lone surrogate, a private-use or
unassigned one) -- the very characters parsers strip or trip on; a ``%`` that
starts no percent-encoding; a URI without a scheme; a port that is not a
number; and, for special schemes, a missing or non-ASCII host, or one whose
last label is a number but not a dotted-quad IPv4 address, since the WHATWG
parser maps such hosts (IDNA, ``0x7f.1``) to names this module would not.

The property that matters is checked by the tests against pydantic's WHATWG
parser: a canonical URI is a fixed point of that parser, so what the upstream
reads is exactly what the policy matched.

Why not a library: ``rfc3986`` 2.0.0's ``normalize()`` leaves ``%2e%2e`` encoded
(so the dot segment an upstream decodes survives it -- the very bypass) and
turns ``file:///x`` into ``file:/x``; ``yarl`` removes dot segments only when
a URL has a host (``file:///a/../b`` stays) and decodes as WHATWG does only
for some components.  What is needed is short, and all of it is here.

Tool and prompt names are not parsed by anyone, so their canonical form is
themselves: :func:`check_name` only refuses the characters that make one
name look like another or like nothing (control, format, whitespace, invalid
code points).  Letter case and look-alike letters are never folded: a policy
matches names exactly (see :mod:`hub_proxy.auth.policy`), and the name an
upstream gets is its own, from the hub's table, never the client's string.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

# RFC 3986 section 2.3 and 2.2.
_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SUB_DELIMS: Final = "!$&'()*+,;="
# Appendix B: scheme, authority, path, query, fragment.
_PARTS: Final = re.compile(
    r"(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?", re.S
)
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_PORT: Final = re.compile(r"[0-9]*")
_IP_LITERAL: Final = re.compile(
    r"\[[0-9A-Fa-f:.]+\]|\[v[0-9A-Fa-f]+\.[A-Za-z0-9._~!$&'()*+,;=:-]+\]"
)
_HEX_TRIPLET: Final = re.compile(r"%[0-9a-f]{2}")
_IPV4: Final = re.compile(
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}"
)
_NUMERIC_LABEL: Final = re.compile(r"(?:0[xX][0-9A-Fa-f]*|[0-9]+)")
_DRIVE: Final = re.compile(r"/[A-Za-z]:(?:/|$)")
_ASCII_HOST: Final = re.compile(r"[a-z0-9._~!$&'()*+,;=-]*")

# WHATWG's special schemes and their default ports (file has none).
_SPECIAL: Final[dict[str, int | None]] = {
    "http": 80,
    "https": 443,
    "ws": 80,
    "wss": 443,
    "ftp": 21,
    "file": None,
}


class InvalidNameError(ValueError):
    """A name or URI from a client that cannot be brought into canonical form; says why."""


def _component(allowed: str) -> re.Pattern[str]:
    """What to rewrite in a component: every percent sign, and every character not allowed raw."""
    raw = re.escape("".join(sorted(_UNRESERVED)) + allowed)
    return re.compile(rf"%([0-9A-Fa-f]{{2}})?|[^{raw}]")


# The WHATWG parser encodes ; and = in user information, and : is its separator.
_USERINFO: Final = _component(_SUB_DELIMS.replace(";", "").replace("=", ""))
_HOST: Final = _component(_SUB_DELIMS)
_PATH: Final = _component(_SUB_DELIMS + ":@/")
_QUERY: Final = _component(_SUB_DELIMS + ":@/?")
# The WHATWG parser encodes ' in the query of a special scheme.
_SPECIAL_QUERY: Final = _component(_SUB_DELIMS.replace("'", "") + ":@/?")


def _rewrite(match: re.Match[str]) -> str:
    text = match[0]
    if text == "%":
        raise InvalidNameError(
            "a '%' must start a percent-encoding such as %20; write a literal '%' as %25"
        )
    if text[0] == "%":
        char = chr(int(match[1], 16))
        return char if char in _UNRESERVED else text.upper()
    return "".join(f"%{byte:02X}" for byte in text.encode())


def _normalised(part: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(_rewrite, part)


def _refuse_invisible(text: str, what: str) -> None:
    """Refuse control, format, whitespace and invalid code points; one pass in C if none."""
    if text.isprintable() and " " not in text:
        return
    position, char = next((i, c) for i, c in enumerate(text) if not c.isprintable() or c == " ")
    kind = {"C": "a control or invisible character", "Z": "whitespace"}.get(
        unicodedata.category(char)[0], "whitespace"
    )
    if 0xD800 <= ord(char) <= 0xDFFF:
        kind = "a lone surrogate, which is not a character"
    raise InvalidNameError(
        f"{what} holds {kind} (U+{ord(char):04X}) at position {position}; "
        "send it without, or percent-encoded if it is part of a URI"
    )


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, as written."""
    output: list[str] = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith(("./", "/./")):
            path = path[2:]
        elif path == "/.":
            path = "/"
        elif path.startswith("/../"):
            path = path[3:]
            if output:
                output.pop()
        elif path == "/..":
            path = "/"
            if output:
                output.pop()
        elif path in (".", ".."):
            path = ""
        else:
            end = path.find("/", 1)
            end = len(path) if end == -1 else end
            output.append(path[:end])
            path = path[end:]
    return "".join(output)


def _host(host: str, scheme: str) -> str:
    if host.startswith("["):
        if not _IP_LITERAL.fullmatch(host):
            raise InvalidNameError(f"the host {host[:100]!r} is not an IP literal such as [::1]")
        return host.lower()
    host = _HEX_TRIPLET.sub(lambda m: m[0].upper(), _normalised(host, _HOST).lower())
    if scheme not in _SPECIAL or (scheme == "file" and host in ("", "localhost")):
        return "" if scheme == "file" else host
    if not host or not _ASCII_HOST.fullmatch(host):
        raise InvalidNameError(
            f"a {scheme} URI needs a host of ASCII letters, digits, '-' and '.', "
            f"not {host[:100]!r}; write an international name in its xn-- form"
        )
    labels = host.rstrip(".").split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]) and not _IPV4.fullmatch(host):
        raise InvalidNameError(
            f"the host {host[:100]!r} ends in a number but is no IPv4 address; "
            "write an address as four decimal numbers such as 127.0.0.1"
        )
    return host


def _authority(authority: str, scheme: str) -> str:
    userinfo, _, hostport = authority.rpartition("@")
    host, port = hostport, ""
    if not hostport.endswith("]") and ":" in hostport:
        host, _, port = hostport.rpartition(":")
    if not _PORT.fullmatch(port):
        raise InvalidNameError(f"the port {port[:20]!r} is not a number")
    if port:
        number = int(port)
        if number > 65535:
            raise InvalidNameError(f"the port {number} is over 65535")
        port = "" if number == _SPECIAL.get(scheme) else f":{number}"
    # As the WHATWG parser writes it: no empty password, no empty user information.
    user, _, password = userinfo.partition(":")
    userinfo = _normalised(user, _USERINFO)
    if password:
        userinfo += ":" + _normalised(password, _USERINFO)
    return f"{userinfo}{'@' if userinfo else ''}{_host(host, scheme)}{port}"


def canonical_uri(uri: str) -> str:
    """``uri`` in canonical form (see the module's docstring); refused with the reason."""
    _refuse_invisible(uri, "the URI")
    # The pattern matches every string.
    parts: re.Match[str] = _PARTS.fullmatch(uri)  # type: ignore[assignment]
    scheme, authority, path, query, fragment = parts.groups()
    if scheme is None or not _SCHEME.fullmatch(scheme):
        raise InvalidNameError(
            f"{uri[:100]!r} is not an absolute URI: start it with a scheme, such as file: or https:"
        )
    scheme = scheme.lower()
    special = scheme in _SPECIAL
    path = _normalised(path, _PATH)
    # An opaque path (urn:isbn:..., mailto:...) is no hierarchy: parsers leave its dots alone.
    if authority is not None or path.startswith("/"):
        path = _remove_dot_segments(path)
    if authority is not None:
        authority = _authority(authority, scheme)
        if special and not path:
            path = "/"
        if scheme == "file" and path.startswith("//"):
            raise InvalidNameError("a file URI's path does not start with //: file:///path")
        if scheme == "file" and _DRIVE.match(path):
            # A drive letter makes the WHATWG parser drop the host (file://x/C:/ is C:/).
            authority = ""
    elif scheme == "file" and path.startswith("/") and not path.startswith("//"):
        authority = ""
    elif special:
        raise InvalidNameError(
            f"a {scheme} URI names its host after '//': {scheme}://host/path"
            if scheme != "file"
            else "a file URI has an absolute path, not starting with //: file:///path"
        )
    elif path.startswith("//"):
        # Not an authority: RFC 3986 section 5.3 (and WHATWG) keep it a path this way.
        path = "/." + path
    text = f"{scheme}:"
    if authority is not None:
        text += f"//{authority}"
    text += path
    if query is not None:
        text += "?" + _normalised(query, _SPECIAL_QUERY if special else _QUERY)
    if fragment is not None:
        text += "#" + _normalised(fragment, _QUERY)
    return text


def check_name(name: str, what: str) -> str:
    """``name`` itself if it holds no control, format, whitespace or invalid code point."""
    if not name:
        raise InvalidNameError(f"the {what} name is empty")
    _refuse_invisible(name, f"the {what} name")
    return name
