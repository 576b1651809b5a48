"""Suite-wide policy: every test runs.

- What a test needs beyond the dev extra is set up by the suite itself, once and idempotently:
  FiftyOne's database (tests/fiftyone/conftest.py), a ComfyUI server (tests/comfyui/conftest.py) and,
  here, Debian's Chromium and playwright-core for the browser checks (``.ci/setup_chromium.sh``,
  ``.ci/setup_playwright.sh``; installing Chromium needs root and apt-get).
- In CI (``CI`` set to anything but empty/0/false) a skipped test fails, naming why it would have been
  skipped, so a missing prerequisite cannot pass unnoticed. Only tests marked ``gpu`` may skip there.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
BROWSER_FIXTURES = {"browser_tools", "playwright_core"}  # the tests that drive headless Chromium
SETUP_TIMEOUT_S = 900
# pytester: tests/test_ci_policy.py runs this file's hooks in an inner pytest. ray_cluster: the session
# fixture with a loopback Ray cluster (head + two worker nodes) for the distributed tests.
pytest_plugins = ["pytester", "vb_plugins.testing.ray_cluster"]


def _browser_setups() -> list[tuple[str, bool]]:
    chromium = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    playwright = PROJECT_ROOT / "scripts" / "node_modules" / "playwright-core"
    return [(".ci/setup_chromium.sh", chromium.exists()), (".ci/setup_playwright.sh", playwright.is_dir())]


def pytest_collection_finish(session):
    """Install Chromium / playwright-core before the tests that need them, when they are missing."""
    if not any(BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())) for item in session.items):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for script, present in _browser_setups():
        if present:
            continue
        if reporter:
            reporter.write_line(f"setting up the browser checks: bash {script}")
        started = time.monotonic()
        result = subprocess.run(["bash", str(PROJECT_ROOT / script)], capture_output=True, text=True,
                                timeout=SETUP_TIMEOUT_S, stdin=subprocess.DEVNULL)
        if reporter:
            output = [line for line in (result.stdout + result.stderr).splitlines()
                  if line.strip() and not line.startswith("WARNING: Location")]  # pip's index noise
            reporter.write_line(f"  {script} exited {result.returncode} after {time.monotonic() - started:.0f} s"
                                + (f": {output[-1]}" if output else ""))


def _ci_failure(reason: str) -> str:
    return (f"skipped in CI, where every test must run (only tests marked gpu may skip): {reason}")


def _skip_reason(longrepr) -> str:
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if IN_CI and report.skipped and not hasattr(report, "wasxfail") and item.get_closest_marker("gpu") is None:
        report.outcome = "failed"
        report.longrepr = _ci_failure(_skip_reason(report.longrepr))
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    if IN_CI and report.skipped:  # a module-level importorskip or skip
        report.outcome = "failed"
        report.longrepr = _ci_failure(_skip_reason(report.longrepr))
    return report
