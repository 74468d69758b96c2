"""Headless Chromium for the HTML report: the DOM after its script ran, console errors, a PNG.

Used by the report's browser test and by ``scripts/review_screenshot.py``; nothing here is
needed to write a report. Offline: Chromium opens a local file, with its own throwaway profile.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agents.errors import AgentError

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_CONSOLE = re.compile(r":INFO:CONSOLE[^\]]*\] (.*)$")


class BrowserError(AgentError):
    """Chromium is missing, failed or timed out; the message carries its last output."""


@dataclass
class PageDump:
    """What Chromium saw: the serialised DOM and the console messages the page logged."""

    dom: str
    console: list[str]

    @property
    def errors(self) -> list[str]:
        """Console messages that report an uncaught exception or an error."""
        return [m for m in self.console if "Uncaught" in m or "Error" in m]


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable, or None."""
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def dump_dom(page: Path, timeout: float = 60.0) -> PageDump:
    """Load ``page`` headless, let its scripts run, return the DOM and the console messages."""
    out, err = _run(page, ["--dump-dom", "--virtual-time-budget=3000"], timeout)
    console = [m.group(1) for line in err.splitlines() if (m := _CONSOLE.search(line))]
    return PageDump(out, console)


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 1600,
               timeout: float = 60.0) -> Path:
    """Save a PNG of the top ``width`` x ``height`` pixels of ``page``."""
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(page, [f"--screenshot={png.resolve()}", f"--window-size={width},{height}",
                "--hide-scrollbars", "--virtual-time-budget=3000"], timeout)
    if not png.is_file():
        raise BrowserError(f"chromium wrote no screenshot to {png}")
    return png


def _run(page: Path, extra: list[str], timeout: float) -> tuple[str, str]:
    exe = find_chromium()
    if exe is None:
        raise BrowserError("no chromium on PATH; install it (apt-get install chromium) or run "
                           "setup.sh as root")
    with tempfile.TemporaryDirectory(prefix="policyforge-chromium-") as profile:
        cmd = [exe, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
               "--disable-extensions", "--disable-background-networking", "--mute-audio",
               f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra,
               page.resolve().as_uri()]
        if os.geteuid() == 0:  # Chromium refuses to run as root with its own sandbox on
            cmd.insert(1, "--no-sandbox")
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise BrowserError(f"chromium did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-10:])
        raise BrowserError(f"chromium exited with status {done.returncode}:\n{tail}")
    return done.stdout, done.stderr
