"""The committed protobuf code and type stubs are what `scripts/gen_proto.py`
makes from the packaged tickcast.proto (issue 2, point 1): nobody edited them
by hand, and nobody changed the .proto without regenerating. The code carries
no runtime version check (issue 19: it would refuse every protobuf older than
the protoc that made it)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "src" / "tickcast" / "proto"


def gen_proto() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_proto"] = module
    spec.loader.exec_module(module)
    return module


def test_the_generated_code_and_stubs_are_up_to_date(tmp_path: Path) -> None:
    fresh = gen_proto().generate(PROTO_DIR / "tickcast.proto", tmp_path)
    for name in ("tickcast_pb2.py", "tickcast_pb2.pyi"):
        committed = (PROTO_DIR / name).read_text(encoding="utf-8")
        assert fresh[name] == committed, f"{name} is stale: run python scripts/gen_proto.py"


def test_the_code_has_no_runtime_version_check() -> None:
    code = (PROTO_DIR / "tickcast_pb2.py").read_text(encoding="utf-8")
    assert "runtime_version" not in code and "ValidateProtobufRuntimeVersion" not in code
    assert "_builder.BuildMessageAndEnumDescriptors" in code  # the rest is protoc's own


def test_the_check_is_removed_from_what_protoc_writes() -> None:
    checked = (
        "from google.protobuf import descriptor as _descriptor\n"
        "from google.protobuf import runtime_version as _runtime_version\n"
        "_runtime_version.ValidateProtobufRuntimeVersion(\n"
        "    _runtime_version.Domain.PUBLIC,\n    7,\n    35,\n    1,\n    '',\n"
        "    'tickcast.proto'\n)\n"
        "# @@protoc_insertion_point(imports)\n"
    )
    out = gen_proto().without_version_check(checked)
    assert out.startswith("from google.protobuf import descriptor as _descriptor\n# (tickcast:")
    assert out.endswith("# @@protoc_insertion_point(imports)\n")
    assert "_runtime_version" not in out
