"""Pure parts of the HTTP hardening (issue 15): the Host rule, the cross-site and
simple-request rules, the connection limit held to the descriptor limit, and the
rate-limited refusal log."""

from __future__ import annotations

import logging

import pytest

from tickcast.config import Config
from tickcast.http.connections import http_connection_limit
from tickcast.http.crosssite import HostRule, cross_site, is_simple, split_host
from tickcast.http.refusals import Refusals


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("Example.COM:8080", "example.com"),
        ("localhost.", "localhost"),
        ("[::1]:8080", "::1"),
        ("[fe80::1%25eth0]", "fe80::1%25eth0"),
        ("::1", "::1"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_split_host(host: str, name: str) -> None:
    assert split_host(host) == name


def test_host_rule_defaults_and_flags() -> None:
    rule = HostRule.from_config(
        Config(server_id="x", http_host="tickcast.lan", advertise_http="node1.lan:8080")
    )
    for host in (
        "127.0.0.1:8080", "[::1]:8080", "192.0.2.7", "[2001:db8::1]:80", "localhost:8080",
        "api.localhost", "tickcast.lan:8080", "node1.lan:8080", None,
    ):
        assert rule.allows(host), host
    for host in ("attacker.example", "tickcast.lan.attacker.example", "localhost.evil", ""):
        assert not rule.allows(host), host
    listed = HostRule.from_config(Config(server_id="x", http_allowed_hosts="a.example,.b.example"))
    assert listed.allows("a.example:443") and listed.allows("x.y.b.example")
    assert listed.allows("b.example") and not listed.allows("xb.example")
    assert not listed.allows("sub.a.example")


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({}, False),  # not a browser page
        ({"Sec-Fetch-Site": "same-origin"}, False),
        ({"Sec-Fetch-Site": "none"}, False),  # typed into the address bar
        ({"Sec-Fetch-Site": "same-site"}, True),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "http://h:1", "Host": "h:1"}, True),
        ({"Origin": "http://h:1", "Host": "h:1"}, False),
        ({"Origin": "https://admin.example", "Host": "admin.example"}, False),  # TLS proxy
        ({"Origin": "http://h:2", "Host": "h:1"}, True),
        ({"Origin": "null", "Host": "h:1"}, True),
    ],
)
def test_cross_site(headers: dict[str, str], refused: bool) -> None:
    assert (cross_site(headers) is not None) == refused


def test_simple_requests_are_the_ones_a_form_can_make() -> None:
    assert is_simple({})
    assert is_simple({"Content-Type": "text/plain;charset=UTF-8"})
    assert is_simple({"Content-Type": "application/x-www-form-urlencoded"})
    assert is_simple({"Content-Type": "multipart/form-data; boundary=x"})
    assert not is_simple({"Content-Type": "application/json; charset=utf-8"})
    assert not is_simple({"X-Tickcast-Admin": "1"})
    assert not is_simple({"Authorization": "Bearer t"})


def test_the_http_connection_limit_follows_the_descriptor_limit() -> None:
    assert http_connection_limit(1024, None) == 1024
    assert http_connection_limit(1024, 300) == 75
    assert http_connection_limit(1024, 1024) == 256
    assert http_connection_limit(1024, 1 << 20) == 1024
    assert http_connection_limit(1024, 20) == 8  # never none at all
    assert http_connection_limit(100, 300) == 75


def test_refusals_are_all_counted_and_logged_once_per_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "tickcast.http")
    now = [100.0]
    refusals = Refusals(every=10.0, clock=lambda: now[0])
    for _ in range(500):  # a flood
        refusals.refuse("host", "198.51.100.1:4000", "Host 'evil.example'")
        now[0] += 0.01
    refusals.refuse("origin", "198.51.100.1:4001", "Origin http://evil.example")
    now[0] = 120.0
    refusals.refuse("host", "198.51.100.1:4002", "Host 'evil.example'")
    assert refusals.counts == {"host": 501, "origin": 1}
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert "reason=host" in lines[0] and "peer=198.51.100.1:4000" in lines[0]
    assert "reason=origin" in lines[1]
    assert lines[2].endswith("unlogged=499 seconds=20")
