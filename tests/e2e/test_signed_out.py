"""A page whose sign-in stopped working (the teacher rotated the token: deleted `teacher-token` or
set another `GLASSNET_TOKEN`, and restarted) said "server unreachable, retrying" for ever, as if the
server were down. It says it is signed out, once, and what to do; a new link signs it in again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from glassnet.service.devserver import ServeProcess, free_port

from .conftest import ROOT, open_page

pytestmark = pytest.mark.e2e

OLD, NEW = "the-token-before-the-rotation", "the-token-after-the-rotation"


@pytest.fixture
def server(tmp_path: Path, small_mnist: Path) -> Iterator[ServeProcess]:
    port = free_port()
    srv = ServeProcess(
        tmp_path / "data",
        small_mnist,
        env={"GLASSNET_TOKEN": OLD},
        port=port,
        log=tmp_path / "server.log",
        cwd=ROOT,
    )
    srv.start(timeout=60)
    try:
        yield srv
    finally:
        srv.stop()


def test_a_page_whose_token_changed_says_it_is_signed_out(server: ServeProcess, browser) -> None:
    page, errors = open_page(browser, f"{server.url}/?token={OLD}")
    server.stop()
    server.env["GLASSNET_TOKEN"] = NEW  # the rotation, same address
    server.start(timeout=60)
    pill = page.get_by_test_id("connection")
    expect(pill).to_have_attribute("data-state", "signedout", timeout=30000)
    expect(pill).to_contain_text("signed out: open your link again")
    expect(page.locator(".toast", has_text="no longer signed in")).to_have_count(1, timeout=5000)
    # The page waits (no "unreachable" countdown) until a link with the new token is opened.
    page.wait_for_timeout(3000)
    expect(pill).to_have_attribute("data-state", "signedout")
    page.goto(f"{server.url}/?token={NEW}")
    expect(pill).to_have_attribute("data-state", "open", timeout=15000)
    # The browser logs the requests the restart and the refusals failed; nothing else went wrong.
    errors.check(allow=("401", "ERR_CONNECTION_REFUSED", "WebSocket connection to"))
    page.close()
