"""Without redis-server the cluster tests end with what to install (issue 19),
not a FileNotFoundError traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster_support import RedisProcess


async def test_without_redis_server_the_cluster_tests_say_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without redis-server on it
    with pytest.raises(pytest.fail.Exception) as failed:
        await RedisProcess(tmp_path / "redis").start()
    assert "redis-server is not installed" in str(failed.value)
    assert "apt-get install -y redis-server" in str(failed.value)
    assert not failed.value.pytrace  # the message alone, no traceback
