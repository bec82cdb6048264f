"""One-field mutations of a request — path, method, query, headers, body — as the grammar applies
them, and the request's parts they work on. Each table says how often each mutation is picked;
each function applies one, drawing any detail from ``Choices``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fuzz.choices import Choices

SAFE = "!$&'()*+,=:@-._~"


def encode(name: str) -> str:
    return quote(name, safe=SAFE)


def encode_one_letter(c: Choices, segment: str) -> str:
    """A valid variant: one ASCII letter written as %XX (upper- or lower-case hex)."""
    letters = [i for i, ch in enumerate(segment) if ch.isascii() and ch.isalpha()]
    if not letters:
        return segment
    i = c.pick(letters)
    hexed = f"%{ord(segment[i]):02X}" if c.chance(70) else f"%{ord(segment[i]):02x}"
    return segment[:i] + hexed + segment[i + 1 :]


class Raw(str):
    """A JSON object key written verbatim (already quoted), e.g. ``"\\u0075ser"``."""


@dataclass
class Body:
    """The body: JSON members (duplicates allowed), or raw bytes, and its content headers."""

    pairs: list[tuple[str, Any]] | None = None  # None: no body at all
    raw: bytes | None = None
    ascii: bool = True
    content_type: str | None = "application/json"  # None: no content-type header
    extra_headers: list[tuple[str, str]] = field(default_factory=list)

    def bytes(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.pairs is None:
            return b""
        return json_object(self.pairs, self.ascii).encode()


def json_object(pairs: Sequence[tuple[str, Any]], ascii: bool = True) -> str:
    def key(k: str) -> str:
        return k if isinstance(k, Raw) else json.dumps(k, ensure_ascii=ascii)

    return "{" + ",".join(f"{key(k)}:{json.dumps(v, ensure_ascii=ascii)}" for k, v in pairs) + "}"


# -- path ---------------------------------------------------------------------------------------

PATH_MUTATIONS: tuple[tuple[str, int], ...] = (
    ("pct-slash", 3), ("pct-dotdot", 2), ("double-slash", 2), ("trailing-slash", 2), ("dot-segment", 2),
    ("literal-case", 3), ("extra-segment", 2), ("matrix", 2), ("backslash", 1), ("fragment", 1),
    ("pct-invalid", 1), ("control", 1), ("space", 1), ("no-leading-slash", 1), ("double-encoded", 1),
    ("fullwidth-slash", 1), ("pct-semicolon", 1), ("pct-unicode-case", 1), ("raw-unicode", 1),
    ("random-segment", 3),
)  # fmt: skip
#: Characters random text is made of: separators, escapes, look-alikes, format characters.
ALPHABET = "abcdeilorsuABCLU019-_.~%/;:@!$&'()*+,= \t\\\"?#{}[]éſｕＫ\u212a\u200b\u00a0ａ／\u0301"


def text(c: Choices, longest: int = 12) -> str:
    """Random text from ``ALPHABET``."""
    return "".join(c.pick(ALPHABET) for _ in range(c.integer(0, longest)))


def mutate_path(c: Choices, mutation: str, segments: list[str], at: int, other: str) -> str:
    """The path with ``mutation``; ``at`` is the index of the principal (or group) segment."""
    s, o = list(segments), encode(other)
    if mutation == "pct-slash":
        s[at] = c.pick([f"{o}%2F..%2F{s[at]}", f"{s[at]}%2F{o}", f"{s[at]}%2f..%2f{o}"])
    elif mutation == "pct-dotdot":
        s[at] = c.pick([f"{o}/%2E%2E/{s[at]}", f"{o}/%2e%2e/{s[at]}", "%2E%2E", f"{o}/.%2E/{s[at]}"])
    elif mutation == "double-slash":
        i = c.integer(0, len(s))
        s.insert(i, "")
    elif mutation == "trailing-slash":
        s.append("")
    elif mutation == "dot-segment":
        s[at] = c.pick([f"./{s[at]}", f"{o}/../{s[at]}", f"{s[at]}/.", f"{s[at]}/../{o}"])
    elif mutation == "literal-case":
        literals = [i for i, seg in enumerate(s) if i != at and seg.isascii() and seg.islower()]
        i = c.pick(literals)
        s[i] = c.pick([s[i].upper(), s[i].capitalize()])
    elif mutation == "extra-segment":
        return c.pick(["/api", "/v1"]) + "/" + "/".join(s) if c.chance(40) else "/" + "/".join([*s, "extra"])
    elif mutation == "matrix":
        i = c.pick([at, 0])
        s[i] = c.pick([f"{s[i]};user={o}", f"{s[i]};v=1", f"{s[i]};"])
    elif mutation == "backslash":
        s[at] = c.pick([f"{o}\\..\\{s[at]}", f"{o}%5C..%5C{s[at]}", f"{s[at]}\\"])
    elif mutation == "fragment":
        return "/" + "/".join(s) + c.pick(["#frag", f"#/{o}"])
    elif mutation == "pct-invalid":
        s[at] = s[at] + c.pick(["%zz", "%C3", "%", "%E2%82"])
    elif mutation == "control":
        s[at] = s[at] + c.pick(["%00", "%0A", "%0D%0A", "%7F", "%09"])
    elif mutation == "space":
        s[at] = c.pick([f"%20{s[at]}", f"{s[at]}%20", f"{s[at]}+", f"{s[at]}%C2%A0"])
    elif mutation == "no-leading-slash":
        return "/".join(s)
    elif mutation == "double-encoded":
        s[at] = c.pick(
            [s[at] + "%252F..%252F" + o, "%25" + s[at], encode_one_letter(c, s[at]).replace("%", "%25")]
        )
    elif mutation == "fullwidth-slash":
        s[at] = c.pick([f"{o}%EF%BC%8F{s[at]}", f"{s[at]}%E2%88%95{o}"])  # ／ and ∕
    elif mutation == "pct-semicolon":
        s[at] = f"{s[at]}%3Buser={o}"
    elif mutation == "raw-unicode":
        s[at] = c.pick(["zoë", "ａlice", "alice bob", "al\tice", "bob\u200b", "alice\u0301", "K"])
    elif mutation == "random-segment":
        noise = text(c)
        s[at] = c.pick([noise, encode(noise), s[at] + encode(noise), noise + s[at]])
    elif mutation == "pct-unicode-case":
        s[at] = c.pick(["%EF%BD%81lice", "%C3%A0lice", "alic%C3%A9", "zo%c3%ab", "%E2%84%AA"])  # ａ à é ë K
    return "/" + "/".join(s)


# -- method and query -------------------------------------------------------------------------

METHOD_MUTATIONS: tuple[tuple[str, int], ...] = (("lower", 2), ("capitalized", 1), ("other", 4))
OTHER_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")


def mutate_method(c: Choices, mutation: str, method: str) -> str:
    if mutation == "lower":
        return method.lower()
    if mutation == "capitalized":
        return method.capitalize()
    return c.pick([m for m in OTHER_METHODS if m != method])


QUERIES = (
    "user={o}", "USER={o}", "_method=DELETE", "_method=GET", "filter[user]={o}", "x=1", "", "user.name={o}",
    "%75ser={o}", "u%C5%BFer={o}", "limit=10&user={o}", "user={t}", "group=it-admins", "a=1;user={o}",
    "{r}", "{r}={o}", "user[]={o}&user[]={t}",
)  # fmt: skip


def query(c: Choices, template: str, target: str, other: str) -> str:
    """One of ``QUERIES``, filled in (``{r}``: random text)."""
    return template.format(o=encode(other), t=encode(target), r=text(c) if "{r}" in template else "")


# -- headers ------------------------------------------------------------------------------------

HEADER_MUTATIONS: tuple[tuple[str, int], ...] = (
    ("override", 5), ("path-override", 1), ("injected", 3), ("intent-missing", 2), ("intent-other", 2),
    ("intent-repeated", 1), ("intent-case", 1), ("intent-space", 1), ("intent-empty", 1), ("name-case", 2),
    ("intent-random", 1), ("approval-noise", 1),
)  # fmt: skip
OVERRIDE_NAMES = (
    "x-http-method-override", "X-HTTP-Method-Override", "x-http-method", "x-method-override",
    "x_http_method_override", "X-Method-Override",
)  # fmt: skip
INJECTED = (
    "x-agent-id",
    "x-agent-owner",
    "x-on-behalf-of",
    "x-approved-by",
    "x-authz-decision-id",
    "x-agent-task",
)


def name_case(c: Choices, name: str) -> str:
    """A valid variant: the header name in another case (Envoy lower-cases names)."""
    return c.pick([name.upper(), name.title(), name])


# -- body ---------------------------------------------------------------------------------------

BODY_MUTATIONS: tuple[tuple[str, int], ...] = (
    ("key-case", 6), ("nested", 2), ("dup-exact", 3), ("dup-folded", 3), ("non-json", 2), ("form", 2),
    ("utf16", 2), ("bom", 1), ("method-key", 2), ("wrong-type", 2), ("unknown-key", 2), ("array", 1),
    ("nan", 1), ("disagree", 3), ("deep", 1), ("escaped-key", 2), ("no-content-type", 2),
    ("content-type", 2), ("gzip", 1), ("empty-object", 1), ("separator-key", 1), ("surrogate", 1),
    ("random-member", 3), ("random-bytes", 1), ("huge", 1),
)  # fmt: skip
KEY_VARIANTS = ("User", "USER", "uſer", "ｕｓｅｒ", "user ", " user", "us\u200ber", "ＵＳＥＲ", "uSer")
BAD_CONTENT_TYPES = (
    "text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-16",
    "multipart/form-data", "application/jsonx", "application/json, text/plain", "",
)  # fmt: skip


Pairs = list[tuple[str, Any]]


def mutate_body(c: Choices, mutation: str, body: Body, target: str, other: str) -> None:
    """Apply ``mutation`` to ``body`` in place (``target``: the request's principal)."""
    pairs = list(body.pairs or [])
    pairs = _mutate_members(c, mutation, pairs, target, other)
    body.pairs = _mutate_encoding(c, mutation, body, pairs, target, other)


def _mutate_members(c: Choices, mutation: str, pairs: Pairs, target: str, other: str) -> Pairs:
    """The JSON members with ``mutation`` applied if it is one of keys and values; else ``pairs``."""
    if mutation == "key-case":
        who = c.pick([target, other])
        pairs = [(k, v) for k, v in pairs if k != "user"] if c.chance(50) else pairs
        pairs.insert(c.integer(0, len(pairs)), (c.pick(KEY_VARIANTS), who))
    elif mutation == "nested":
        pairs.append((c.pick(["data", "user", "attributes", "target"]), {"user": c.pick([other, target])}))
    elif mutation == "dup-exact":
        extra = ("user", other)
        pairs = [extra, *pairs, ("user", target)] if c.chance(50) else [("user", target), *pairs, extra]
    elif mutation == "dup-folded":
        pairs = [("user", target), *pairs, (c.pick(KEY_VARIANTS), other)]
    elif mutation == "method-key":
        pairs.append((c.pick(["_method", "_METHOD", "_Method"]), c.pick(["DELETE", "GET", "PUT"])))
    elif mutation == "wrong-type":
        pairs.append(
            c.pick([("notify", "yes"), ("user", 5), ("user", [target]), ("reason", 1), ("user", None)])
        )
    elif mutation == "unknown-key":
        pairs.append(
            c.pick([("role", "admin"), ("admin", True), ("groups", ["it-admins"]), ("userName", other)])
        )
    elif mutation == "disagree":
        pairs = [(k, v) for k, v in pairs if k != "user"] + [("user", other)]
    elif mutation == "deep":
        nested: Any = {"user": other}
        for _ in range(c.integer(3, 40)):
            nested = {"x": nested}
        pairs.append(("meta", nested))
    elif mutation == "empty-object":  # a valid variant where a body is optional
        pairs = []
    elif mutation == "separator-key":
        pairs.append((c.pick(["user_", "u-ser", "user_name", "USER_NAME"]), other))
    elif mutation == "random-member":
        pairs.insert(
            c.integer(0, len(pairs)), (text(c, 8), c.pick([text(c), other, target, 1, None, [other]]))
        )
    elif mutation == "huge":  # over the configured 64 KiB, or just under it
        pairs.append(("reason", "x" * c.pick([70_000, 65_536 - 200, 1 << 20])))
    return pairs


def _mutate_encoding(c: Choices, mutation: str, body: Body, pairs: Pairs, target: str, other: str) -> Pairs:
    """Apply ``mutation`` if it is one of bytes, escapes or content headers; the members to keep."""
    if mutation == "non-json":
        body.raw = c.pick(
            [f"user={other}", "garbage", f"<user>{other}</user>", "{", "{}x", "null", '"alice"']
        ).encode()
    elif mutation == "form":
        body.raw = f"user={encode(c.pick([target, other]))}&reason=x".encode()
        body.content_type = c.pick(["application/x-www-form-urlencoded", "application/json"])
    elif mutation == "utf16":
        body.raw = json_object(pairs or [("user", target)]).encode(
            c.pick(["utf-16", "utf-16-le", "utf-16-be"])
        )
    elif mutation == "bom":
        body.raw = b"\xef\xbb\xbf" + json_object(pairs).encode()
    elif mutation == "array":
        body.raw = json.dumps(c.pick([["user", other], [{"user": target}], []])).encode()
    elif mutation == "nan":
        body.raw = json_object(pairs).replace("}", ',"reason":NaN}' if pairs else '"reason":NaN}').encode()
    elif mutation == "escaped-key":  # a valid variant: the same key, escaped
        pairs = [(Raw('"\\u0075ser"') if k == "user" else k, v) for k, v in pairs] or [
            (Raw('"\\u0075ser"'), target)
        ]
        body.ascii = c.chance(50)
    elif mutation == "no-content-type":
        body.content_type = None
        pairs = pairs or [("user", target)]
    elif mutation == "content-type":
        body.content_type = c.pick(BAD_CONTENT_TYPES)
        pairs = pairs or [("reason", "x")]
    elif mutation == "gzip":
        body.extra_headers.append(("content-encoding", c.pick(["gzip", "deflate", "br"])))
        pairs = pairs or [("reason", "x")]
    elif mutation == "surrogate":
        escaped = c.pick(['"\\ud800"', '"al\\udfffice"', '"\\ud83d"'])
        body.raw = c.pick([f'{{"user":{escaped}}}', f'{{{escaped}:"x"}}', f'{{"reason":{escaped}}}']).encode()
    elif mutation == "random-bytes":
        body.raw = bytes(c.integer(0, 255) for _ in range(c.integer(1, 24)))
    return pairs
