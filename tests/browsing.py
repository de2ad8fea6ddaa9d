"""Headless Chromium for the browser tests: where it is, how it starts, where screenshots go."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gankit import ROOT
from gankit.lab import lab_command
from gankit.nbgrader_cli import nbgrader_env

if TYPE_CHECKING:  # the browser stack is imported only by the tests that drive a browser
    from playwright.sync_api import Browser, Page

ARTIFACTS = ROOT / "build" / "test-artifacts" / "browser"
# As the machine notes say: without the background-networking flags Chromium keeps dialling out.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    path = os.environ.get("GANKIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(path).exists(), "Chromium is missing: run tools/chromium.sh (make test does)"
    return path


def new_page(browser: Browser) -> Page:
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(60_000)
    return page


def screenshot(page: Page, name: str) -> Path:
    """Keep a screenshot as a test artefact and say where it is."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path.relative_to(ROOT)}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    url: str
    token: str
    process: subprocess.Popen

    def at(self, path: str) -> str:
        return f"{self.url}{path}{'&' if '?' in path else '?'}token={self.token}"


def _user_settings(home: Path) -> Path:
    """A fresh user: every cell in the page (no virtual scrolling), no news pop-up, no old workspace."""
    settings = home / "lab-settings"
    for plugin, values in {
        "notebook-extension/tracker": {"windowingMode": "none"},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return settings


def start_lab_server(root: Path, exchange: Path, home: Path) -> Lab:
    """Start JupyterLab (the command ``make lab`` runs) on loopback in ``root``, as a fresh user."""
    port, token = free_port(), secrets.token_hex(16)
    env = nbgrader_env(
        {
            "HOME": str(home),
            "JUPYTERLAB_SETTINGS_DIR": str(_user_settings(home)),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "NBGRADER_EXCHANGE": str(exchange),
        }
    )
    log = (home / "lab.log").open("w")
    process = subprocess.Popen(lab_command(root, port, token), cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    lab = Lab(f"http://127.0.0.1:{port}", token, process)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(lab.at("/api/status"), timeout=2):
                return lab
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError((home / "lab.log").read_text()[-3000:]) from None
            time.sleep(0.3)
