"""`redact_url` (issue 15, item 5): the Redis password is hidden in every form
redis-py accepts, wherever the URL is printed or served (/api/server, `tickcast
drain`, the cluster node's start-up line)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from redis.connection import parse_url

from tickcast.config import Config
from tickcast.errors import ConfigError
from tickcast.http.admin import redacted_config
from tickcast.redact import redact_url

SECRET = "hunter2-S3cret"

REDIS_URLS = [
    # (url, what must still be shown)
    (f"redis://game:{SECRET}@redis.internal:6379/0", "redis://game:<redacted>@redis.internal:6379/0"),
    (f"redis://:{SECRET}@redis.internal:6379/0", "redis://:<redacted>@redis.internal:6379/0"),
    (f"redis://{SECRET}@redis.internal/2", "redis://<redacted>@redis.internal/2"),
    (f"rediss://game:{SECRET}@r:6380/1", "rediss://game:<redacted>@r:6380/1"),
    (f"rediss://game:pw%40{SECRET}@r:6380/1", "rediss://game:<redacted>@r:6380/1"),
    (f"redis://r:6379/0?password={SECRET}", "redis://r:6379/0?password=<redacted>"),
    (
        f"redis://r:6379/0?db=3&password={SECRET}&socket_timeout=2",
        "redis://r:6379/0?db=3&password=<redacted>&socket_timeout=2",
    ),
    (f"redis://r/0?PASSWORD={SECRET}", "redis://r/0?PASSWORD=<redacted>"),
    (
        f"unix:///run/redis/redis.sock?db=0&password={SECRET}",
        "unix:///run/redis/redis.sock?db=0&password=<redacted>",
    ),
    (f"unix://game:{SECRET}@/run/redis.sock?db=1", "unix://game:<redacted>@/run/redis.sock?db=1"),
    # a password with unescaped URL punctuation: none of it may show
    (f"redis://:{SECRET}/x@r:6379/0", "redis://:<redacted>@r:6379/0"),
    (f"redis://:{SECRET}?x@r:6379/0", "redis://:<redacted>@r:6379/0"),
    (f"redis://:{SECRET}#x@r:6379/0", "redis://:<redacted>@r:6379/0"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
]


@pytest.mark.parametrize(("url", "shown"), REDIS_URLS)
def test_redact_url_hides_every_password_redis_py_reads(url: str, shown: str) -> None:
    out = redact_url(url)
    assert out == shown
    assert SECRET not in out and "S3cret" not in out
    # what redis-py itself would read as the password is gone too
    if "?x@" not in url and "#x@" not in url and "/x@" not in url:
        password = parse_url(url).get("password")
        assert password is None or password not in out


def test_redact_url_leaves_other_text_alone() -> None:
    for text in ("", "plain", "/var/lib/tickcast", "127.0.0.1:7777", "a@b"):
        assert redact_url(text) == text
    # the query arguments other than secrets keep their exact spelling
    out = redact_url("redis://r/0?client_name=a%20b&password=x&health_check_interval=5")
    assert parse_qs(urlsplit(out).query)["client_name"] == ["a b"]


def test_api_server_config_redacts_the_query_password() -> None:
    cfg = Config(server_id="x", cluster=f"redis://r:6379/0?password={SECRET}")
    out = redacted_config(cfg)
    assert out["cluster"] == "redis://r:6379/0?password=<redacted>"
    assert SECRET not in repr(out)


def test_a_config_shows_no_secret_in_its_repr_or_its_errors() -> None:
    cfg = Config(
        server_id="x", cluster=f"redis://:{SECRET}@r:6379/0?password={SECRET}",
        admin_token=SECRET,
    )  # fmt: skip
    text = repr(cfg)
    assert SECRET not in text
    assert "cluster='redis://:<redacted>@r:6379/0?password=<redacted>'" in text
    assert "admin_token='<redacted>'" in text
    for bad in (f"http://:{SECRET}@r/0", f"redis://:{SECRET}@r:port/0"):
        with pytest.raises(ConfigError) as refused:
            Config(server_id="x", cluster=bad)
        assert SECRET not in str(refused.value)
        assert "<redacted>" in str(refused.value)
