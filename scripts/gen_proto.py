"""Regenerate the protobuf code and type stubs from src/tickcast/proto/tickcast.proto.

    pip install -e '.[dev]' && python scripts/gen_proto.py

Needs grpcio-tools (a dev dependency); the output is committed, so users never run this.

protoc's Python code since protobuf 5.26 starts with a runtime version check
(`ValidateProtobufRuntimeVersion`) that refuses every protobuf older than the
protoc that generated it: 7.35.1 for ours, a floor the code does not need.
`generate` removes that check, and nothing else: the rest (a serialized
descriptor handed to `builder`) runs on every protobuf from 4.21 on (3.20 in
pure-Python mode), which tests/integration/test_packaging.py checks with the
oldest version pyproject.toml allows.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]

PROTO_DIR = Path(__file__).resolve().parent.parent / "src" / "tickcast" / "proto"
OUTPUTS = ("tickcast_pb2.py", "tickcast_pb2.pyi")

_CHECK_IMPORT = "from google.protobuf import runtime_version as _runtime_version\n"
_CHECK_CALL = re.compile(r"_runtime_version\.ValidateProtobufRuntimeVersion\(\n(?:.*\n)*?\)\n")
NOTE = (
    "# (tickcast: scripts/gen_proto.py removed protoc's runtime version check, so this\n"
    "# code runs on protobuf 4.21.1 and newer, not only on the protoc's own version)\n"
)


def without_version_check(code: str) -> str:
    """Generated Python code without its runtime version check (the import and the call)."""
    if _CHECK_IMPORT not in code:
        return code  # an older protoc: there is no check
    code = code.replace(_CHECK_IMPORT, "")
    code, calls = _CHECK_CALL.subn(NOTE, code)
    if calls != 1:
        raise RuntimeError("protoc's runtime version check has changed form: update gen_proto.py")
    return code


def generate(proto: Path, out_dir: Path) -> dict[str, str]:
    """Generate code and stubs for `proto` into `out_dir`: {file name: text}."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(proto, work / proto.name)
        rc = protoc.main(
            [
                "protoc",
                f"--proto_path={work}",
                f"--python_out={work}",
                f"--pyi_out={work}",
                str(work / proto.name),
            ]
        )
        if rc != 0:
            raise RuntimeError(f"protoc failed with exit status {rc}")
        texts = {name: (work / name).read_text(encoding="utf-8") for name in OUTPUTS}
    texts["tickcast_pb2.py"] = without_version_check(texts["tickcast_pb2.py"])
    for name, text in texts.items():
        (out_dir / name).write_text(text, encoding="utf-8")
    return texts


def main() -> int:
    generate(PROTO_DIR / "tickcast.proto", PROTO_DIR)
    print(f"generated {PROTO_DIR / 'tickcast_pb2.py'} and .pyi")
    return 0


if __name__ == "__main__":
    sys.exit(main())
