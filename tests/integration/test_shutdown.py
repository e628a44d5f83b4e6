"""Issue 15 item 8: shutdown ends as soon as every peer has its Kick.

Peers that keep their socket open after `Kick{SERVER_SHUTDOWN}` (they neither
close nor answer the WebSocket close frame) used to hold `tickcast serve` for
the whole `--shutdown-timeout` (5.0 s after SIGTERM with the default): the TCP
side waited for their FIN, which never came. Now a connection is closed once
its Kick has left the send buffers and the peer has acknowledged it (the Kick
is in the peer's kernel), and the process exits when every connection is done.
"""

from __future__ import annotations

import asyncio
import signal
import time

from support import RawClient, ServerProcess
from websockets.frames import Close, Opcode
from ws_support import RawWs, client_frame, hello

from tickcast.proto import pb

TIMEOUT = 20.0  # --shutdown-timeout: exiting after it would be the old behaviour


async def tcp_kick(c: RawClient) -> pb.Kick:
    while True:
        msg = await c.next_message(10)
        if msg.HasField("kick"):
            return msg.kick


async def ws_kick(c: RawWs) -> tuple[pb.Kick, int]:
    """Read up to the close frame, and do not answer it (nor close the socket)."""
    frames = await c.frames_until_close()
    *messages, closing = frames
    kick = pb.ServerMessage.FromString(messages[-1].data).kick
    return kick, Close.parse(closing.data).code


async def test_shutdown_exits_once_every_peer_has_its_kick() -> None:
    server = await ServerProcess.start(
        "--no-record", "--shutdown-timeout", str(TIMEOUT), env={"TICKCAST_LOG_LEVEL": "INFO"}
    )
    try:
        assert server.proc.stdout is not None
        http_line = (await asyncio.wait_for(server.proc.stdout.readline(), 20)).decode()
        http_port = int(http_line.rstrip().rsplit(":", 1)[1])
        tcp = [(await RawClient.join(server.port, f"tcp{i}", "room"))[0] for i in range(3)]
        ws = []
        for i in range(3):
            c = await RawWs.connect(http_port)
            c.send(client_frame(Opcode.BINARY, hello(f"ws{i}", "room")))
            welcome = pb.ServerMessage.FromString((await c.next_frame()).data)
            assert welcome.HasField("welcome")
            ws.append(c)
        # one more in its handshake: no Hello yet
        waiting = await RawClient.connect(server.port)
        start = time.monotonic()
        server.signal(signal.SIGTERM)
        kicks = await asyncio.gather(*(tcp_kick(c) for c in [*tcp, waiting]))
        ws_kicks = await asyncio.gather(*(ws_kick(c) for c in ws))
        assert all(k.reason == pb.REASON_SERVER_SHUTDOWN for k in kicks)
        assert all(k.reason == pb.REASON_SERVER_SHUTDOWN and code == 1001 for k, code in ws_kicks)
        # the peers keep their sockets open; the server must not wait for them
        status = await server.wait(timeout=TIMEOUT + 20)
        elapsed = time.monotonic() - start
        print(f"\nFIGURE shutdown with 7 peers holding their sockets: exit {elapsed:.2f} s "
              f"after SIGTERM (--shutdown-timeout {TIMEOUT:g})")  # fmt: skip
        assert status == 0
        assert elapsed < TIMEOUT / 2, f"exited {elapsed:.1f} s after SIGTERM"
        assert server.logged("closed")
        for c in [*tcp, waiting]:
            c.writer.close()
        for w in ws:
            await w.close()
    finally:
        await server.kill()
