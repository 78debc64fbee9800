"""Hide passwords written inside URLs before a URL is printed, logged, raised or stored.

>>> from modeler.redact import redact_url, redact_text, without_credentials
>>> redact_url("http://alice:s3cret@mlflow:5000/api")
'http://alice:***@mlflow:5000/api'
>>> redact_text("cannot reach postgresql://mlflow:pw@db:5432/mlflow (timeout)")
'cannot reach postgresql://mlflow:***@db:5432/mlflow (timeout)'
>>> without_credentials("https://token@minio:9000/?X-Amz-Signature=abc")
'https://minio:9000/'

What counts as a credential: the user-info part of any ``scheme://`` URL (the password after
``user:``; a user-info without ``:`` is often a token, so all of it) and the values of query
parameters named like secrets (``password``, ``token``, ``X-Amz-Signature``...). A password
holding a raw ``@`` or ``/`` is still hidden: the user-info runs to the last ``@`` of the
authority. When in doubt the text is masked more, never less.
"""

from __future__ import annotations

import re

MASK = "***"

# query parameters whose value is a secret (compared lowercase)
SECRET_PARAMS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "token",
        "access_token",
        "auth",
        "api_key",
        "apikey",
        "signature",
        "sig",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
    }
)

# a scheme, then everything up to a character that cannot be part of a URL in running text
_URL = re.compile(r"(?i)(?<![a-z0-9+.\-])([a-z][a-z0-9+.\-]*://)([^\s'\"<>`]+)")


def redact_url(url: str) -> str:
    """``url`` with its password (or token user-info) and secret query values as ``***``.

    >>> redact_url("s3://AKIA:secret@bucket/key.csv")
    's3://AKIA:***@bucket/key.csv'
    >>> redact_url("http://127.0.0.1:5000")
    'http://127.0.0.1:5000'
    """
    return redact_text(url)


def redact_text(text: str) -> str:
    """``text`` with every URL in it passed through :func:`redact_url`.

    >>> redact_text("tried http://u:p@h:1 and https://h2/?token=t then gave up")
    'tried http://u:***@h:1 and https://h2/?token=*** then gave up'
    """
    if "://" not in text:
        return text
    return _URL.sub(lambda m: m.group(1) + _mask(m.group(2), keep_user=True), text)


def without_credentials(url: str) -> str:
    """``url`` with the user-info and secret query parameters removed (safe to store).

    >>> without_credentials("http://alice:pw@minio:9000/bucket")
    'http://minio:9000/bucket'
    """
    match = _URL.fullmatch(url)
    if match is None:
        return url
    return match.group(1) + _mask(match.group(2), keep_user=False, drop=True)


def has_credentials(url: str) -> bool:
    """True when ``url`` holds a user-info part or a secret query parameter."""
    return without_credentials(url) != url


def _mask(rest: str, *, keep_user: bool, drop: bool = False) -> str:
    """Mask (or ``drop``) the credentials of one URL given without its ``scheme://``."""
    query_at = _first_of(rest, "?#")
    head, tail = rest[:query_at], rest[query_at:]
    userinfo_end = _userinfo_end(head)
    if userinfo_end is not None:
        userinfo = head[:userinfo_end]
        if drop:
            head = head[userinfo_end + 1 :]
        else:
            user, colon, _ = userinfo.partition(":")
            masked = f"{user}:{MASK}" if colon and keep_user else MASK
            head = masked + head[userinfo_end:]
    return head + _mask_query(tail, drop=drop)


def _userinfo_end(head: str) -> int | None:
    """Index of the ``@`` that ends the user-info in ``host...`` text, or None."""
    authority = head[: _first_of(head, "/")]
    if "@" in authority:
        return authority.rfind("@")
    # a password with a raw '/' in it: "user:pa/ss@host/path"
    at = head.rfind("@")
    if at > 0 and ":" in head[:at].split("/", 1)[0]:
        return at
    return None


def _mask_query(tail: str, *, drop: bool) -> str:
    if not tail.startswith("?"):
        return tail
    fragment_at = _first_of(tail, "#")
    query, fragment = tail[1:fragment_at], tail[fragment_at:]
    kept = []
    for part in query.split("&"):
        key, eq, _ = part.partition("=")
        if eq and key.lower() in SECRET_PARAMS:
            if drop:
                continue
            part = f"{key}={MASK}"
        kept.append(part)
    joined = "&".join(kept)
    return ("?" + joined if joined else "") + fragment


def _first_of(text: str, chars: str) -> int:
    """Index of the first of ``chars`` in ``text``, or ``len(text)``."""
    found = [i for i in (text.find(c) for c in chars) if i >= 0]
    return min(found, default=len(text))
