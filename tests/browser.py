"""Headless Chromium for the tests that open pages (Debian's package, through Playwright)."""

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


def chromium() -> str:
    """Debian's chromium, installed when missing (in CI a missing browser is a failure)."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("CI") and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True)
        return CHROMIUM
    pytest.skip("chromium is not installed (apt-get install -y chromium); required in CI")


@contextlib.contextmanager
def browser_page(width: int = 1280, height: int = 900):
    """A page in headless Chromium with a ``width`` x ``height`` viewport.

    Yields ``(page, errors)``: ``errors`` collects the console errors and uncaught exceptions
    of everything the page loads.
    """
    from playwright.sync_api import sync_playwright

    executable = chromium()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page, errors
        finally:
            browser.close()
