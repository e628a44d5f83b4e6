"""The committed protobuf code and type stubs are what `scripts/gen_proto.py`
makes from the packaged tickcast.proto (issue 2, point 1): nobody edited them
by hand, and nobody changed the .proto without regenerating."""

from __future__ import annotations

import shutil
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]

PROTO_DIR = Path(__file__).resolve().parents[2] / "src" / "tickcast" / "proto"


def test_the_generated_code_and_stubs_are_up_to_date(tmp_path: Path) -> None:
    shutil.copy(PROTO_DIR / "tickcast.proto", tmp_path)
    rc = protoc.main(
        [
            "protoc",
            f"--proto_path={tmp_path}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            str(tmp_path / "tickcast.proto"),
        ]
    )
    assert rc == 0
    for name in ("tickcast_pb2.py", "tickcast_pb2.pyi"):
        fresh = (tmp_path / name).read_text(encoding="utf-8")
        committed = (PROTO_DIR / name).read_text(encoding="utf-8")
        assert fresh == committed, f"{name} is stale: run python scripts/gen_proto.py"
