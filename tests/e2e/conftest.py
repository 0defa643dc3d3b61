"""Browser tests: Playwright driving Debian's Chromium against a server each test starts.

They skip, saying why, only when /usr/bin/chromium is absent; CI installs it (.ci/run). A
failing test leaves a screenshot of every page it opened in test-results/e2e/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS, PHONE, LiveServer, live_server

RESULTS = Path(__file__).resolve().parents[2] / "test-results" / "e2e"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("QUNGUAN_REQUIRE_BROWSER") == "1":  # CI installs it: absence is a failure
        raise pytest.UsageError(f"{CHROMIUM} is absent but QUNGUAN_REQUIRE_BROWSER=1")
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is absent: install it with "
                            "`apt-get install chromium fonts-wqy-microhei` (.ci/run does)")
    for item in items:
        if "tests/e2e/" in item.nodeid.replace("\\", "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def server(tmp_path: Path, sqlite_template: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path, template=sqlite_template) as live:
        yield live


class Browsers:
    """New browser contexts (one per person), phone-sized unless asked otherwise."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts: list[BrowserContext] = []

    def page(self, viewport: dict[str, int] | None = None, locale: str = "zh-CN") -> Page:
        context = self.browser.new_context(base_url=self.base_url, viewport=viewport or PHONE,
                                           locale=locale)
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        return context.new_page()


@pytest.fixture
def browsers(request: pytest.FixtureRequest, browser: Browser,
             server: LiveServer) -> Iterator[Browsers]:
    opened = Browsers(browser, server.url)
    yield opened
    call = getattr(request.node, "rep_call", None)
    if call is not None and call.failed:
        RESULTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        for i, context in enumerate(opened.contexts):
            for j, page in enumerate(context.pages):
                page.screenshot(path=str(RESULTS / f"{name}-{i}-{j}.png"), full_page=True)
    for context in opened.contexts:
        context.close()
