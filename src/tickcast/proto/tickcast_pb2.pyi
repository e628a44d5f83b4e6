from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_UNSPECIFIED: _ClassVar[Reason]
    REASON_PROTOCOL_ERROR: _ClassVar[Reason]
    REASON_HANDSHAKE_TIMEOUT: _ClassVar[Reason]
    REASON_AUTH_FAILED: _ClassVar[Reason]
    REASON_REPLACED: _ClassVar[Reason]
    REASON_SLOW_CONSUMER: _ClassVar[Reason]
    REASON_RATE_LIMITED: _ClassVar[Reason]
    REASON_FRAME_TOO_LARGE: _ClassVar[Reason]
    REASON_ROOM_FULL: _ClassVar[Reason]
    REASON_RESUME_UNAVAILABLE: _ClassVar[Reason]
    REASON_SERVER_SHUTDOWN: _ClassVar[Reason]
    REASON_IDLE_TIMEOUT: _ClassVar[Reason]
    REASON_VERSION_MISMATCH: _ClassVar[Reason]
    REASON_ROOM_CLOSED: _ClassVar[Reason]
    REASON_REDIRECT: _ClassVar[Reason]
REASON_UNSPECIFIED: Reason
REASON_PROTOCOL_ERROR: Reason
REASON_HANDSHAKE_TIMEOUT: Reason
REASON_AUTH_FAILED: Reason
REASON_REPLACED: Reason
REASON_SLOW_CONSUMER: Reason
REASON_RATE_LIMITED: Reason
REASON_FRAME_TOO_LARGE: Reason
REASON_ROOM_FULL: Reason
REASON_RESUME_UNAVAILABLE: Reason
REASON_SERVER_SHUTDOWN: Reason
REASON_IDLE_TIMEOUT: Reason
REASON_VERSION_MISMATCH: Reason
REASON_ROOM_CLOSED: Reason
REASON_REDIRECT: Reason

class ClientMessage(_message.Message):
    __slots__ = ("hello", "input", "ping", "ack", "leave", "state_hash")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    LEAVE_FIELD_NUMBER: _ClassVar[int]
    STATE_HASH_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    input: Input
    ping: Ping
    ack: Ack
    leave: Leave
    state_hash: StateHash
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., input: _Optional[_Union[Input, _Mapping]] = ..., ping: _Optional[_Union[Ping, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., leave: _Optional[_Union[Leave, _Mapping]] = ..., state_hash: _Optional[_Union[StateHash, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("protocol_version", "player_id", "token", "room", "resume_after", "full_history", "spectator", "udp_version")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PLAYER_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    RESUME_AFTER_FIELD_NUMBER: _ClassVar[int]
    FULL_HISTORY_FIELD_NUMBER: _ClassVar[int]
    SPECTATOR_FIELD_NUMBER: _ClassVar[int]
    UDP_VERSION_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    player_id: str
    token: str
    room: str
    resume_after: int
    full_history: bool
    spectator: bool
    udp_version: int
    def __init__(self, protocol_version: _Optional[int] = ..., player_id: _Optional[str] = ..., token: _Optional[str] = ..., room: _Optional[str] = ..., resume_after: _Optional[int] = ..., full_history: _Optional[bool] = ..., spectator: _Optional[bool] = ..., udp_version: _Optional[int] = ...) -> None: ...

class Input(_message.Message):
    __slots__ = ("seq", "payload")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    seq: int
    payload: bytes
    def __init__(self, seq: _Optional[int] = ..., payload: _Optional[bytes] = ...) -> None: ...

class Ping(_message.Message):
    __slots__ = ("nonce",)
    NONCE_FIELD_NUMBER: _ClassVar[int]
    nonce: int
    def __init__(self, nonce: _Optional[int] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("tick",)
    TICK_FIELD_NUMBER: _ClassVar[int]
    tick: int
    def __init__(self, tick: _Optional[int] = ...) -> None: ...

class Leave(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StateHash(_message.Message):
    __slots__ = ("tick", "hash")
    TICK_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    tick: int
    hash: bytes
    def __init__(self, tick: _Optional[int] = ..., hash: _Optional[bytes] = ...) -> None: ...

class ServerMessage(_message.Message):
    __slots__ = ("welcome", "tick", "pong", "kick")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    TICK_FIELD_NUMBER: _ClassVar[int]
    PONG_FIELD_NUMBER: _ClassVar[int]
    KICK_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    tick: Tick
    pong: Pong
    kick: Kick
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., tick: _Optional[_Union[Tick, _Mapping]] = ..., pong: _Optional[_Union[Pong, _Mapping]] = ..., kick: _Optional[_Union[Kick, _Mapping]] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("room", "slot", "tick_rate", "first_tick", "members", "last_seq", "server_id", "udp")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    TICK_RATE_FIELD_NUMBER: _ClassVar[int]
    FIRST_TICK_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    UDP_FIELD_NUMBER: _ClassVar[int]
    room: str
    slot: int
    tick_rate: int
    first_tick: int
    members: _containers.RepeatedCompositeFieldContainer[Member]
    last_seq: int
    server_id: str
    udp: UdpOffer
    def __init__(self, room: _Optional[str] = ..., slot: _Optional[int] = ..., tick_rate: _Optional[int] = ..., first_tick: _Optional[int] = ..., members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ..., last_seq: _Optional[int] = ..., server_id: _Optional[str] = ..., udp: _Optional[_Union[UdpOffer, _Mapping]] = ...) -> None: ...

class UdpOffer(_message.Message):
    __slots__ = ("version", "port", "host", "session_id", "key")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    version: int
    port: int
    host: str
    session_id: bytes
    key: bytes
    def __init__(self, version: _Optional[int] = ..., port: _Optional[int] = ..., host: _Optional[str] = ..., session_id: _Optional[bytes] = ..., key: _Optional[bytes] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("slot", "player_id")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    PLAYER_ID_FIELD_NUMBER: _ClassVar[int]
    slot: int
    player_id: str
    def __init__(self, slot: _Optional[int] = ..., player_id: _Optional[str] = ...) -> None: ...

class Tick(_message.Message):
    __slots__ = ("number", "inputs", "joined", "left", "chain", "desyncs")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    JOINED_FIELD_NUMBER: _ClassVar[int]
    LEFT_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    DESYNCS_FIELD_NUMBER: _ClassVar[int]
    number: int
    inputs: _containers.RepeatedCompositeFieldContainer[RelayedInput]
    joined: _containers.RepeatedCompositeFieldContainer[Member]
    left: _containers.RepeatedScalarFieldContainer[int]
    chain: bytes
    desyncs: _containers.RepeatedCompositeFieldContainer[Desync]
    def __init__(self, number: _Optional[int] = ..., inputs: _Optional[_Iterable[_Union[RelayedInput, _Mapping]]] = ..., joined: _Optional[_Iterable[_Union[Member, _Mapping]]] = ..., left: _Optional[_Iterable[int]] = ..., chain: _Optional[bytes] = ..., desyncs: _Optional[_Iterable[_Union[Desync, _Mapping]]] = ...) -> None: ...

class Desync(_message.Message):
    __slots__ = ("tick", "slots")
    TICK_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    tick: int
    slots: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, tick: _Optional[int] = ..., slots: _Optional[_Iterable[int]] = ...) -> None: ...

class RelayedInput(_message.Message):
    __slots__ = ("slot", "seq", "payload")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    slot: int
    seq: int
    payload: bytes
    def __init__(self, slot: _Optional[int] = ..., seq: _Optional[int] = ..., payload: _Optional[bytes] = ...) -> None: ...

class Pong(_message.Message):
    __slots__ = ("nonce", "tick")
    NONCE_FIELD_NUMBER: _ClassVar[int]
    TICK_FIELD_NUMBER: _ClassVar[int]
    nonce: int
    tick: int
    def __init__(self, nonce: _Optional[int] = ..., tick: _Optional[int] = ...) -> None: ...

class Kick(_message.Message):
    __slots__ = ("reason", "detail", "redirect")
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_FIELD_NUMBER: _ClassVar[int]
    reason: Reason
    detail: str
    redirect: str
    def __init__(self, reason: _Optional[_Union[Reason, str]] = ..., detail: _Optional[str] = ..., redirect: _Optional[str] = ...) -> None: ...
