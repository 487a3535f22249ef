"""A teacher's lesson (QA5 class): what the teacher and the students meet in the first minutes of a
real lesson, in a browser against a real class server (test_classroom.py's, with its join code)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import open_page
from .test_classroom import CODE, LONG, TEACHER, call, class_server, no_run_left  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e


def test_a_students_link_stays_selected_through_the_roster_refresh(class_server, browser) -> None:  # noqa: F811
    """QA5 class #1: the teacher makes a student's link again and selects it to copy; the Class
    section refreshes every 5 s (every 1.5 s while runs train) and rebuilt the whole roster, so the
    field was replaced: its selection and focus were gone before Ctrl+C. The roster is now patched
    in place: the same field, still focused, still wholly selected, after a refresh that drew a
    new student's row."""
    url = class_server.url
    call(url, "/api/class/students", TEACHER, {"names": ["mia"]})
    teacher, errors = open_page(browser, f"{url}/?token={TEACHER}")
    teacher.locator("#class").scroll_into_view_if_needed()
    roster = teacher.get_by_test_id("class-roster")
    row = roster.locator('tr[data-student="mia"]')
    row.get_by_role("button", name="mia's link").click()
    field = row.get_by_test_id("student-link")
    expect(field).to_have_value(re.compile(r"token=st\."))
    field.click()  # focusing it selects it all (linkField)
    marked = """f => { f.dataset.kept = "yes"; return [f.selectionStart, f.selectionEnd, f.value.length]; }"""
    start, end, length = field.evaluate(marked)
    assert (start, end) == (0, length)
    # A student joins meanwhile: the next refresh draws their row, so the roster was redrawn.
    call(url, "/api/class/students", TEACHER, {"names": ["noor"]})
    expect(roster.locator('tr[data-student="noor"]')).to_have_count(1, timeout=15000)
    kept = teacher.evaluate(
        """() => { const f = document.activeElement;
        if (f?.dataset.kept !== "yes" || !f.isConnected) return null;
        return [f.selectionStart, f.selectionEnd, f.value.length]; }"""
    )
    assert kept is not None, "the link field the teacher selected was replaced by the refresh"
    assert kept[0] == 0 and kept[1] == kept[2], f"its selection was lost: {kept}"
    # The button still makes the link again (the same row, the same field, no second one).
    row.get_by_role("button", name="mia's link").click()
    expect(row.get_by_test_id("student-link")).to_have_count(1)
    errors.check()
    teacher.close()


def test_a_student_joins_with_the_code_as_a_phone_types_it(class_server, browser) -> None:  # noqa: F811
    """QA5 class #2: the board says room-101; a phone's keyboard capitalises the field's first
    letter and leaves a space after a word it completed. "Room-101 " was "not this class's join
    code". The field asks the keyboard for neither, and the server reads the code without case or
    the spaces around it."""
    url = class_server.url
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.goto(url)
    expect(page).to_have_url(f"{url}/join.html")
    form = page.get_by_test_id("join")
    code = form.get_by_label("Join code")
    assert code.evaluate("i => [i.autocapitalize, i.spellcheck, i.getAttribute('autocorrect')]") == [
        "none",
        False,
        "off",
    ]
    form.get_by_label("Your name").fill("Ola")
    code.fill(CODE.capitalize() + " ")
    form.get_by_role("button", name="Join").click()
    page.wait_for_url(f"{url}/", timeout=15000)
    expect(page.get_by_test_id("class-you")).to_contain_text("You are Ola (student)", timeout=15000)
    assert "Ola" in call(url, "/api/class", TEACHER)["students"]
    phone.close()


def test_long_names_stay_on_a_phones_card(class_server, browser) -> None:  # noqa: F811
    """QA5 class #4: a run named with 100 letters and no space, by a student with a 40-letter
    name (both allowed), ran out of its card on a phone, past the screen's edge (the name's text
    ended at x = 1550 on a 390 px screen). Each cell now breaks such a name anywhere."""
    url = class_server.url
    long_name = "W" * 100
    student = "Q" * 40
    (token,) = (s["token"] for s in call(url, "/api/class/students", TEACHER, {"names": [student]}))
    run = call(url, "/api/runs", token, {**LONG, "name": long_name})
    call(url, f"/api/runs/{run['id']}/stop", TEACHER, {})
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.goto(f"{url}/?token={token}")
    row = page.locator(f'[data-testid="class-runs"] tr[data-run="{run["id"]}"]')
    expect(row).to_contain_text(student, timeout=15000)
    row.scroll_into_view_if_needed()
    widest = row.evaluate(
        """r => Math.max(...[...r.querySelectorAll("*")].map((e) => e.getBoundingClientRect().right))"""
    )
    assert widest <= 390, f"the card reaches x = {widest} on a 390 px screen"
    phone.close()
