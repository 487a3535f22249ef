"""End-to-end fixtures: a REAL `glassnet serve` subprocess (tmp data dir, small IDX dataset) and Debian's
Chromium driven by Playwright (python, sync API). One server and one browser per module.

Playwright's own browser download does not work here, so the system Chromium is launched.
Screenshots go to test-artifacts/ (gitignored)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from glassnet.service.devserver import ServeProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("GLASSNET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None

pytestmark = pytest.mark.e2e


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report ends with the log of each server it used: on a CI machine the log is
    gone afterwards, and a browser's timeout alone does not say what the server was doing."""
    report = yield
    if report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            if isinstance(value, ServeProcess):
                report.sections.append((f"server log ({name}), its end", value.log_tail(4000)))
    return report


def _require_browser() -> None:
    """The end-to-end tests are part of the test command: a missing browser fails them, loudly."""
    if sync_playwright is None:
        pytest.fail("playwright is not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")


class Server(ServeProcess):
    """`glassnet serve` (uvicorn, as `make run` starts it) on a free port, logging to a file."""

    def __init__(self, data_dir: Path, dataset: Path | None, validation: int) -> None:
        port = free_port()
        super().__init__(
            data_dir,
            dataset,
            env={"GLASSNET_VALIDATION": str(validation), "GLASSNET_MAX_ACTIVE_RUNS": "1"},
            port=port,
            log=data_dir.parent / f"server-{port}.log",
            cwd=ROOT,
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, small_mnist: Path) -> Iterator[Server]:
    _require_browser()
    srv = Server(tmp_path_factory.mktemp("e2e") / "data", small_mnist, validation=200).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    _require_browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(autouse=True)
def close_pages(request: pytest.FixtureRequest) -> Iterator[None]:
    """The pages (browser contexts) a test opened are closed after it, pass or fail. Left open, each
    kept its socket and timers and drew the module's live runs: in CI's failed run of the class
    tests, nine clients read /api/class at the fourth test, on a machine with a few cores."""
    if "browser" not in request.fixturenames:
        yield
        return
    browser: Browser = request.getfixturevalue("browser")
    before = {id(c) for c in browser.contexts}
    yield
    for context in browser.contexts:
        if id(context) not in before:
            context.close()


def pump_until(page: Page, test, what: str, timeout: float = 15.0):
    """Until ``test()`` is true (returned), letting the page's events run meanwhile (a route
    handler runs only inside a Playwright call, so ``time.sleep`` would hold it back)."""
    deadline = time.monotonic() + timeout
    while not (seen := test()):
        assert time.monotonic() < deadline, f"{what} within {timeout:g} s"
        page.wait_for_timeout(100)
    return seen


class PageErrors:
    """Console errors and uncaught exceptions of a page: the dashboard must have none."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def check(self, allow: tuple[str, ...] = ()) -> None:
        bad = [e for e in self.errors if not any(a in e for a in allow)]
        assert not bad, f"console errors: {bad}"


def open_page(
    browser: Browser, url: str, width: int = 1366, height: int = 900, scheme: str = "light"
) -> tuple[Page, PageErrors]:
    page = browser.new_page(viewport={"width": width, "height": height}, color_scheme=scheme)
    errors = PageErrors(page)
    page.goto(url)
    deadline = time.monotonic() + 15
    while page.get_attribute('[data-testid="connection"]', "data-state") != "open":
        uncaught = [e for e in errors.errors if e.startswith("uncaught")]
        assert not uncaught, f"the page failed to start: {uncaught}"
        assert time.monotonic() < deadline, "the page did not connect to the server in 15 s"
        page.wait_for_timeout(100)
    return page, errors


def shoot(page: Page, name: str, full_page: bool = True, locator=None) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if locator is not None:
        # The sticky header would sit on top of a tall section: unstick it for the picture.
        page.add_style_tag(content=".top { position: relative !important; } .toasts { display: none; }")
        locator.screenshot(path=path)
    else:
        page.screenshot(path=path, full_page=full_page)
    return path


def publish(path: Path, name: str) -> None:
    """Copy a screenshot to docs/screenshots/ for the README, when GLASSNET_PUBLISH_SCREENSHOTS=1
    (so an ordinary test run leaves the repository's files alone)."""
    if os.environ.get("GLASSNET_PUBLISH_SCREENSHOTS") != "1":
        return
    target = ROOT / "docs" / "screenshots" / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def axe(page: Page, selector: str) -> list[dict]:
    """axe-core's serious and critical violations inside ``selector`` (the page must have had
    ``AXE`` added as a script tag, in a context that bypasses the CSP)."""
    return page.evaluate(
        """async (sel) => {
          const r = await axe.run({include: [[sel]]}, {resultTypes: ['violations']});
          return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => ({id: v.id, impact: v.impact,
              nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ') + ': ' + n.failureSummary)}));
        }""",
        selector,
    )
