"""``make lab``: JupyterLab on the course, with nbgrader's extensions, exchange and gradebook.

nbgrader 0.9 enables its JupyterLab extensions with the package (Formgrader and Create Assignment
for instructors, the Assignments list and the Validate button for students). Started from the
course root, the server reads this course's ``nbgrader_config.py``, so Formgrader grades into
``gradebook.db`` (or the configured database) and releases into the configured exchange.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gankit import ROOT
from gankit.nbgrader_cli import nbgrader_env

DEFAULT_EXCHANGE = "/srv/nbgrader/exchange"  # the course's nbgrader_config.py sets it (nbgrader's own differs)


def ensure_exchange(path: Path) -> bool:
    """Create the exchange folder if it is missing: yours, 0755. The kit's exchange classes never
    ask for a root everyone may write (``nbgrader_adapter.exchange.SharedRoot``): a release makes
    the course's folder in it, and no student can make a course's folder first. Return whether it
    exists afterwards."""
    if path.is_dir():
        return True
    try:
        path.mkdir(parents=True)
        path.chmod(0o755)
    except OSError:
        return False
    return True


def lab_command(root: Path, port: int = 8888, token: str | None = None) -> list[str]:
    """The ``jupyter lab`` command line: loopback only, no browser, the course as the root folder."""
    command = [
        str(Path(sys.executable).parent / "jupyter"),
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.root_dir={root}",
        f"--config={Path(__file__).with_name('graders_server_config.py')}",  # what its pages may load
    ]
    if token is not None:
        command.append(f"--IdentityProvider.token={token}")
    if os.geteuid() == 0:
        command.append("--allow-root")  # e.g. in a container; students' servers never run as root
    return command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8888)
    args = parser.parse_args()
    exchange = Path(os.environ.get("NBGRADER_EXCHANGE", DEFAULT_EXCHANGE))
    if not ensure_exchange(exchange):
        fallback = ROOT / "build" / "exchange"
        fallback.mkdir(parents=True, exist_ok=True)
        print(f"The exchange {exchange} does not exist and cannot be created by you; using {fallback}.")
        print("For a shared exchange, as root: deploy/setup.sh --no-hub --instructor $USER --student ...")
        print("(see docs/jupyterhub.md)")
        exchange = fallback
    env = nbgrader_env({"NBGRADER_EXCHANGE": str(exchange)})
    command = lab_command(ROOT, args.port)
    print(f"JupyterLab on http://127.0.0.1:{args.port}/lab (course {ROOT}, exchange {exchange})", flush=True)
    os.execve(command[0], command, env)


if __name__ == "__main__":
    main()
