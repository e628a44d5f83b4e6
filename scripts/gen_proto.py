"""Regenerate the protobuf code and type stubs from src/tickcast/proto/tickcast.proto.

    pip install -e '.[dev]' && python scripts/gen_proto.py

Needs grpcio-tools (a dev dependency); the output is committed, so users never run this.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]

PROTO_DIR = Path(__file__).resolve().parent.parent / "src" / "tickcast" / "proto"


def main() -> int:
    args = [
        "protoc",
        f"--proto_path={PROTO_DIR}",
        f"--python_out={PROTO_DIR}",
        f"--pyi_out={PROTO_DIR}",
        str(PROTO_DIR / "tickcast.proto"),
    ]
    rc = protoc.main(args)
    if rc == 0:
        print(f"generated {PROTO_DIR / 'tickcast_pb2.py'} and .pyi")
    return int(rc)


if __name__ == "__main__":
    sys.exit(main())
