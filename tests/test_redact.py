"""Passwords inside URLs are hidden in any text; everything else of the URL is kept."""

from __future__ import annotations

import random
import string
from urllib.parse import quote, urlsplit

import pytest

from modeler.redact import has_credentials, redact_text, redact_url, without_credentials

SCHEMES = ["http", "https", "postgresql+psycopg2", "mysql", "s3", "databricks"]


def _random_password(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + "-_.~!$") for _ in range(14))


@pytest.mark.parametrize("seed", range(40))
def test_redacted_url_keeps_what_urllib_sees_except_the_password(seed):
    rng = random.Random(seed)
    password = _random_password(rng)
    scheme = rng.choice(SCHEMES)
    host = rng.choice(["db", "127.0.0.1", "mlflow.example.org", "[::1]"])
    port = rng.choice(["", ":5000", ":5432"])
    path = rng.choice(["", "/", "/mlflow", "/api/2.0/runs?run_id=1"])
    url = f"{scheme}://alice:{quote(password, safe='')}@{host}{port}{path}"

    shown = redact_url(url)

    assert password not in shown
    before, after = urlsplit(url), urlsplit(shown)
    assert (after.scheme, after.hostname, after.port, after.path, after.query) == (
        before.scheme,
        before.hostname,
        before.port,
        before.path,
        before.query,
    )
    assert (after.username, after.password) == ("alice", "***")
    stored = without_credentials(url)
    assert password not in stored and "alice" not in stored
    assert urlsplit(stored).netloc == f"{host}{port}"
    assert has_credentials(url) and not has_credentials(stored)


@pytest.mark.parametrize(
    ("url", "secret", "expected"),
    [
        ("http://user:p@ss@host:9000/x", "p@ss", "http://user:***@host:9000/x"),
        ("http://user:pa/ss@host/x", "pa/ss", "http://user:***@host/x"),
        ("https://ghp_TOKEN123@git.example.org/r", "ghp_TOKEN123", "https://***@git.example.org/r"),
        (
            "postgresql://host/db?user=u&password=hunter2&sslmode=require",
            "hunter2",
            "postgresql://host/db?user=u&password=***&sslmode=require",
        ),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA1&X-Amz-Signature=f00d#frag",
            "f00d",
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***#frag",
        ),
    ],
    ids=["raw-at", "raw-slash", "token-user", "query-password", "presigned"],
)
def test_awkward_credentials_are_hidden(url, secret, expected):
    assert redact_url(url) == expected
    assert secret not in without_credentials(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5000",
        "sqlite:////tmp/mlruns/mlflow.db",
        "file:///home/me/data.csv",
        "https://host/users/@me",
        "s3://bucket/exports/2026/tx.csv",
        "http://host/?q=a@b.com&page=2",
    ],
)
def test_urls_without_credentials_are_unchanged(url):
    assert redact_url(url) == url
    assert without_credentials(url) == url
    assert not has_credentials(url)


def test_every_url_in_a_message_is_redacted():
    message = (
        "store http://u1:first@a:5000 failed; fell back to 'postgresql://u2:second@b/db', "
        "then (s3://K:third@c/x) and https://d/?token=fourth.\nplain text: user:pass@host"
    )
    shown = redact_text(message)
    for secret in ("first", "second", "third", "fourth"):
        assert secret not in shown
    assert "http://u1:***@a:5000 failed" in shown
    assert "'postgresql://u2:***@b/db'" in shown
    assert shown.endswith("plain text: user:pass@host")  # not a URL: left alone
    assert redact_text("no urls here") == "no urls here"
