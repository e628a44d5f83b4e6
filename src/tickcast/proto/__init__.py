"""Generated protobuf code for the tickcast wire protocol v1 (never edited by hand).

`tickcast.proto` is the source of truth; `python scripts/gen_proto.py` regenerates
`tickcast_pb2.py` and its type stubs `tickcast_pb2.pyi`.
"""

from tickcast.proto import tickcast_pb2 as pb

__all__ = ["pb"]
