"""The test suite's own PostgreSQL server (``tools/postgres.sh``): one per clone, on a free port,
password-protected, reused while it runs and gone once stopped. Two clones start theirs at once
here, as two clones' ``make test`` would; ``.ci/run`` checks that nothing outlives ``make test``."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import psycopg
import pytest

from gankit import ROOT

pytestmark = [pytest.mark.root, pytest.mark.postgres, pytest.mark.slow]  # PostgreSQL servers of its own


def _clone(folder: Path) -> Path:
    (folder / "tools").mkdir(parents=True)
    shutil.copy2(ROOT / "tools" / "postgres.sh", folder / "tools" / "postgres.sh")
    return folder


def _postgres(clone: Path, action: str) -> str:
    done = subprocess.run([str(clone / "tools" / "postgres.sh"), action], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _servers(port: str) -> list[str]:
    listing = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in listing.splitlines() if "postgres" in line and f"-p {port} " in line]


def test_two_clones_run_their_own_servers_at_once_and_stop_them(tmp_path):
    clones = [_clone(tmp_path / name) for name in ("one", "two")]
    urls: dict[Path, str] = {}
    try:
        threads = [threading.Thread(target=lambda c=c: urls.update({c: _postgres(c, "start")})) for c in clones]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(urls.values())) == 2 and all(urls.get(c) for c in clones)
        assert [len(_servers(urls[c].rsplit(":", 1)[1])) for c in clones] == [1, 1]
        for clone in clones:
            with psycopg.connect(f"{urls[clone]}/postgres") as connection:
                assert connection.execute("select 1").fetchone() == (1,)
            assert _postgres(clone, "start") == urls[clone]  # a running server is this clone's to reuse
        # Only the clone's password opens it: no trust for other local users, nor the other clone's.
        one, two = clones
        port = urls[one].rsplit(":", 1)[1]
        for wrong in ("", urls[two].split(":")[2].split("@")[0]):
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(f"postgresql://gankit:{wrong}@127.0.0.1:{port}/postgres", connect_timeout=5)
    finally:
        for clone in clones:
            _postgres(clone, "stop")
    for clone in clones:
        port = urls[clone].rsplit(":", 1)[1]
        assert _servers(port) == []
        assert not (clone / "build" / "postgres").exists()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(f"{urls[clone]}/postgres", connect_timeout=5)
