"""Pure parts of the HTTP side: WebSocket frame encoding, close codes, origin
checks, admin access decisions, config redaction and the core's histogram."""

from __future__ import annotations

from pathlib import Path

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from tickcast import wire
from tickcast.config import Config
from tickcast.http.admin import admin_access, is_loopback, load_admin_token, redacted_config
from tickcast.http.websocket import (
    close_code_for,
    encode_frame,
    frame_header,
    origin_allowed,
    parse_origins,
)
from tickcast.proto import pb
from tickcast.stats import Histogram


def parse_server_frame(data: bytes) -> Frame:
    """Parse `data` as a client would (unmasked server frame) with websockets' parser."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    gen = Frame.parse(reader.read_exact, mask=False)
    try:
        while True:
            next(gen)
    except StopIteration as done:
        frame: Frame = done.value
    return frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_frame_header_matches_rfc6455(size: int) -> None:
    body = bytes(range(256)) * (size // 256) + bytes(size % 256)
    frame = parse_server_frame(frame_header(size) + body)
    assert frame.opcode is Opcode.BINARY
    assert frame.fin
    assert not (frame.rsv1 or frame.rsv2 or frame.rsv3)
    assert frame.data == body


def test_encode_frame_strips_the_length_prefix_and_reuses_the_last_result() -> None:
    body = pb.ServerMessage(tick=pb.Tick(number=7)).SerializeToString() * 40  # > 127: 2-byte prefix
    tcp = wire.frame(body)
    assert wire.prefix_length(tcp) == 2
    ws = encode_frame(tcp)
    assert parse_server_frame(ws).data == body
    assert encode_frame(tcp) is ws  # the same tick frame for the next member: no new bytes
    other = wire.frame(b"x")
    assert parse_server_frame(encode_frame(other)).data == b"x"


def test_close_codes() -> None:
    assert close_code_for(pb.REASON_FRAME_TOO_LARGE) == 1009
    assert close_code_for(pb.REASON_SERVER_SHUTDOWN) == 1001
    assert close_code_for(pb.REASON_AUTH_FAILED) == 1008
    assert close_code_for(pb.REASON_ROOM_FULL) == 1013
    assert close_code_for(pb.REASON_ROOM_CLOSED) == 1000
    assert close_code_for(999) == 1011
    assert all(close_code_for(r) != 1011 for r in pb.Reason.values())


def test_origin_checks() -> None:
    allowed = parse_origins(" https://Game.example/ ,https://b.example")
    assert allowed == {"https://game.example", "https://b.example"}
    assert origin_allowed("https://game.example", allowed)
    assert origin_allowed("https://GAME.example/", allowed)
    assert not origin_allowed("https://evil.example", allowed)
    assert not origin_allowed("null", allowed)
    assert origin_allowed(None, allowed)  # not a browser
    assert origin_allowed("https://anything.example", parse_origins(""))


@pytest.mark.parametrize(
    ("peer", "auth", "token", "status"),
    [
        ("127.0.0.1", None, "", 200),
        ("127.8.9.10", None, "", 200),
        ("::1", None, "", 200),
        ("203.0.113.5", None, "", 403),
        ("10.0.0.2", "Bearer anything", "", 403),
        ("2001:db8::1", None, "", 403),
        (None, None, "", 403),
        ("not-an-address", None, "", 403),
        ("127.0.0.1", None, "s3cret", 401),  # a token configured: loopback needs it too
        ("127.0.0.1", "Bearer wrong", "s3cret", 401),
        ("127.0.0.1", "Basic s3cret", "s3cret", 401),
        ("203.0.113.5", "Bearer s3cret", "s3cret", 200),
        ("203.0.113.5", "bearer  s3cret ", "s3cret", 200),
        ("203.0.113.5", "Bearer s3cret2", "s3cret", 401),
    ],
)
def test_admin_access(peer: str | None, auth: str | None, token: str, status: int) -> None:
    assert admin_access(peer, auth, token) == status


def test_is_loopback_with_scope_id() -> None:
    assert is_loopback("::1%lo")
    assert not is_loopback("fe80::1%eth0")


def test_redacted_config_hides_secrets_not_paths() -> None:
    cfg = Config(admin_token="hunter2", admin_token_file="/etc/tickcast/token", server_id="x")
    out = redacted_config(cfg)
    assert out["admin_token"] == "<redacted>"
    assert out["admin_token_file"] == "/etc/tickcast/token"
    assert "hunter2" not in repr(out)
    assert redacted_config(Config(server_id="x"))["admin_token"] == ""


def test_http_defaults() -> None:
    cfg = Config(server_id="x")
    assert (cfg.http, cfg.http_host, cfg.http_port) == (True, "127.0.0.1", 8080)
    assert cfg.ws_allowed_origins == "" and cfg.admin_token == cfg.admin_token_file == ""


def test_admin_token_from_the_environment_or_a_file(tmp_path: Path) -> None:
    cfg = Config.from_env({"TICKCAST_ADMIN_TOKEN": "from-env", "TICKCAST_SERVER_ID": "x"})
    assert load_admin_token(cfg) == "from-env"
    path = tmp_path / "token"
    path.write_text("from-file\nignored second line\n")
    cfg = Config.from_env({"TICKCAST_ADMIN_TOKEN_FILE": str(path), "TICKCAST_SERVER_ID": "x"})
    assert load_admin_token(cfg) == "from-file"
    assert load_admin_token(Config(server_id="x")) == ""  # none: loopback only


def test_redacted_config_hides_the_redis_password() -> None:
    cfg = Config(server_id="x", cluster="redis://:hunter2@redis.internal:6379/0")
    out = redacted_config(cfg)
    assert out["cluster"] == "redis://:<redacted>@redis.internal:6379/0"
    assert "hunter2" not in repr(out)
    with_user = Config(server_id="x", cluster="rediss://game:pw%40x@r:6380/1")
    assert redacted_config(with_user)["cluster"] == "rediss://game:<redacted>@r:6380/1"
    plain = Config(server_id="x", cluster="redis://127.0.0.1:6379/0")
    assert redacted_config(plain)["cluster"] == "redis://127.0.0.1:6379/0"


def test_histogram_buckets_like_prometheus() -> None:
    h = Histogram((0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 2.0):
        h.observe(v)
    assert h.cumulative() == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]
    assert h.count == 4 and h.sum == pytest.approx(2.65)
