"""The Learn and Learned views' defects found by QA4 (notes/qa4-learn.md), read back from the page."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

from .conftest import open_page, pump_until
from .test_dashboard import api
from .test_learn import learn_on, wait_status, wait_text
from .test_truthful_panels import done, stop_all, wait_run, watch

pytestmark = pytest.mark.e2e

# A mean-pooling cnn (the tester's spec): one input channel into its conv layer.
MEAN_POOL = {
    "input_shape": [1, 28, 28],
    "layers": [
        {"type": "conv2d", "filters": 4, "kernel": 5},
        {"type": "relu"},
        {"type": "avgpool2d", "size": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 10},
    ],
    "loss": "cross_entropy",
}
WEIGHTS = '[data-testid="learn-weights"]'


@pytest.fixture(autouse=True)
def stop_runs_left(server):
    """A test that fails midway leaves its run paused or training: stop it, so the next test's
    run is not queued behind it (the server trains one run at a time)."""
    yield
    stop_all(server)


def shown_step(page) -> int:
    return int(page.locator(WEIGHTS).get_attribute("data-step"))


def run_step(page, run_id: str) -> int:
    return page.evaluate("(id) => window.glassnet.S.runs.get(id).step", run_id)


def record_answers(page) -> list[tuple[str, dict, dict, int]]:
    """Every answer to an explain question the page asks from now on, as it arrives: (route, body,
    answer, the question's place in the order they were asked)."""
    asked: list = []
    answers: list[tuple[str, dict, dict, int]] = []

    def ask(request) -> None:
        if "/api/explain" in request.url and request.method == "POST":
            asked.append(request)

    def record(response) -> None:
        if "/api/explain" in response.url and response.request.method == "POST" and response.ok:
            request = response.request
            order = next((i for i, r in enumerate(asked) if r is request), -1)
            route = response.url.rsplit("/api/", 1)[1]
            answers.append((route, json.loads(request.post_data), response.json(), order))

    page.on("request", ask)
    page.on("response", record)
    return answers


def screen(page, answers: list) -> tuple[list, list]:
    """The answers the screen shows now: the answer to the explain question asked last and the two
    cards' (conv, pool) for its network asked after it, once no answer has come for a second. In
    the order the questions were asked, not answered: the page keeps only its latest question's
    answer, and an earlier one can come back later (a slow read on a busy server: CI saw the
    answer of step 1,008 arrive after step 1,260's); so can a card's for the network shown before."""
    deadline, count, quiet = time.monotonic() + 20, -1, 0
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        quiet = quiet + 1 if len(answers) == count else 0
        count = len(answers)
        asked = sorted(answers, key=lambda a: a[3])
        last = max((i for i, a in enumerate(asked) if a[0] == "explain"), default=None)
        model = None if last is None else asked[last][1].get("model")
        maps = (
            []
            if last is None
            else [a for a in asked[last:] if a[0] == "explain/conv" and a[1].get("model") == model]
        )
        if len(maps) >= 2 and quiet >= 4:
            return [asked[last]], maps
    raise AssertionError(f"the cards did not answer: {[(a[0], a[2].get('step')) for a in answers]}")


def test_one_screen_reads_one_step_says_which_and_follows_a_paused_run(server, browser) -> None:
    """LEARN-1: every card of Learn on a training run reads the weights of one step, named on the
    page; the page says when the run has trained on, keeps that step for another target, reads the
    latest on Refresh, and follows a paused run's steps by itself. LEARN-4, LEARN-5 on the way."""
    run = api(server, "/api/runs", {"spec": MEAN_POOL, "epochs": 1000, "batch_size": 16, "name": "mean pool"})
    page, errors = open_page(browser, server.url)
    watch(page, run["id"])
    page.wait_for_function("(id) => window.glassnet.S.runs.get(id)?.step > 0", arg=run["id"], timeout=30000)
    answers = record_answers(page)
    learn_on(page, "@watched", "test")
    wait_status(page, "mean pool")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"pool-readout\"]')?.textContent", timeout=20000
    )
    step = shown_step(page)
    wait_text(page, WEIGHTS, f"Weights of mean pool at step {step}")
    explains, maps = screen(page, answers)
    assert {a[2]["step"] for a in explains + maps} == {step}, [
        (a[0], a[1].get("model"), a[2]["step"]) for a in answers
    ]
    assert all(a[1]["step"] == step for a in maps)  # pinned: asked for that step
    # The same digit and target: one cost on the whole screen.
    assert {a[2]["cost"] for a in explains + maps} == {explains[-1][2]["cost"]}

    # LEARN-5: one input channel: one grid per kernel, no "1 stacked grids". LEARN-4: mean pooling.
    formula = page.locator("#learn-conv-formula").inner_text()
    assert "each one 5×5 grid" in formula and "stacked" not in formula, formula
    pool = page.locator("#learn-pool").inner_text()
    assert "input map and its windows" in pool and "winners" not in pool, pool

    # The run trains on: said, the Refresh button marked; another target keeps the step.
    page.wait_for_function(
        "([id, s]) => window.glassnet.S.runs.get(id).step > s", arg=[run["id"], step], timeout=30000
    )
    wait_text(page, WEIGHTS, "has trained on to step")
    assert "due" in page.locator("#learn-refresh").get_attribute("class")
    answers.clear()
    page.get_by_test_id("learn-targets").locator('button[data-digit="3"]').click()
    wait_status(page, "Target 3:")
    explains, maps = screen(page, answers)
    assert {a[2]["step"] for a in explains + maps} == {step}, [
        (a[0], a[1].get("model"), a[2]["step"]) for a in answers
    ]
    assert explains[0][1]["step"] == step and explains[0][2]["target"] == 3
    assert shown_step(page) == step
    page.click("#learn-refresh")
    page.wait_for_function(
        f"() => Number(document.querySelector('{WEIGHTS}').dataset.step) > {step}", timeout=20000
    )

    # Paused: Learn follows the run's steps, each the run's latest, every card with it.
    api(server, f"/api/runs/{run['id']}/pause", {})
    wait_run(server, run["id"], ("paused",))
    for _ in range(2):
        before = run_step(page, run["id"])
        api(server, f"/api/runs/{run['id']}/step", {})
        page.wait_for_function(
            "([id, s]) => window.glassnet.S.runs.get(id).step > s", arg=[run["id"], before]
        )
        now = run_step(page, run["id"])
        page.wait_for_function(
            f"(s) => document.querySelector('{WEIGHTS}').dataset.step === String(s)", arg=now, timeout=20000
        )
        wait_text(page, WEIGHTS, f"at step {now}: the run's latest.")
    assert "due" not in (page.locator("#learn-refresh").get_attribute("class") or "")
    explains, maps = screen(page, answers)
    assert {a[2]["step"] for a in explains + maps} == {now}, [(a[0], a[2]["step"]) for a in explains + maps]

    # LEARN-3: once ended, Learned reads its checkpoints: the caption names the probe digits.
    api(server, f"/api/runs/{run['id']}/stop", {})
    wait_run(server, run["id"], ("stopped",))
    wait_text(page, '[data-testid="grad-caption"]', "over the ten probe digits")
    assert "mini-batch" not in page.get_by_test_id("grad-caption").inner_text()
    done(server, page, errors)


def test_a_paused_runs_step_whose_read_is_lost_is_read_again(server, browser) -> None:
    """Following a paused run, the page reads the run's latest weights once per step. When that
    read is lost (here the first one after the step fails in the browser), it asks again a moment
    later, so the weights line still reaches the step; it used to say "has trained on" until the
    next step (CI at 580edeb)."""
    run = api(server, "/api/runs", {"spec": MEAN_POOL, "epochs": 1000, "batch_size": 16, "name": "lost read"})
    page, errors = open_page(browser, server.url)
    watch(page, run["id"])
    page.wait_for_function("(id) => window.glassnet.S.runs.get(id)?.step > 0", arg=run["id"], timeout=30000)
    learn_on(page, "@watched", "test")
    wait_status(page, "lost read")
    api(server, f"/api/runs/{run['id']}/pause", {})
    wait_run(server, run["id"], ("paused",))
    followed = (
        f"(id) => document.querySelector('{WEIGHTS}').dataset.step"
        " === String(window.glassnet.S.runs.get(id).step)"
    )
    page.wait_for_function(followed, arg=run["id"], timeout=20000)  # the pause itself is followed
    lost: list[dict] = []

    def lose_the_first_latest_read(route) -> None:
        body = json.loads(route.request.post_data or "{}")
        if not lost and "step" not in body and "layers" not in body:  # a read of the latest weights
            lost.append(body)
            route.abort()
        else:
            route.continue_()

    page.route("**/api/explain", lose_the_first_latest_read)
    before = run_step(page, run["id"])
    api(server, f"/api/runs/{run['id']}/step", {})
    page.wait_for_function("([id, s]) => window.glassnet.S.runs.get(id).step > s", arg=[run["id"], before])
    now = run_step(page, run["id"])
    page.wait_for_function(
        f"(s) => document.querySelector('{WEIGHTS}').dataset.step === String(s)", arg=now, timeout=20000
    )
    wait_text(page, WEIGHTS, f"at step {now}: the run's latest.")
    assert lost and lost[0]["model"] == run["id"], lost  # the first read was made, and lost
    stop_all(server)
    errors.check(allow=("net::ERR_FAILED",))  # the lost request's own line in the console
    page.close()


def test_the_wish_rule_names_the_layers_real_activation(server, browser) -> None:
    """LEARN-6: the mlp's hidden layers are ReLU and its output has no activation: no σ′ anywhere."""
    page, errors = open_page(browser, server.url)
    learn_on(page, "mlp", "test")
    wait_status(page, "the mlp network")
    canvas = page.get_by_test_id("learn-net")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    backward = page.get_by_test_id("inspector-backward")
    for col, words in ((1, "relu′(z"), (2, "no activation function")):
        spot = page.evaluate(f"() => window.glassnet.learn.net.spots.find((s) => s.col === {col})")
        page.mouse.move(box["x"] + spot["x"], box["y"] + spot["y"])
        wait_text(page, '[data-testid="inspector-backward"]', words)
        assert "σ′" not in backward.inner_text(), backward.inner_text()
    assert "σ′(z) × their wish" not in page.locator("#learn").inner_text()
    errors.check()


def test_the_conv_cards_keep_the_network_chosen_last(server, browser) -> None:
    """With an mlp above, the conv cards explain a network chosen in their own list; its layers
    are read first (an explain with no layers). A read for the network chosen before, answered
    late, was kept: the cards then explained a network the list no longer named. Here that read is
    held until the second choice is drawn, then answered."""
    run = api(server, "/api/runs", {"spec": MEAN_POOL, "epochs": 1, "batch_size": 16, "name": "pool once"})
    wait_run(server, run["id"], ("finished",))
    page, errors = open_page(browser, server.url)
    learn_on(page, "notes", "test")
    note, params = page.locator("#learn-conv-note"), page.get_by_test_id("conv-params")
    choose = page.locator("#learn-conv-model")
    expect(page.locator("#learn-conv-model-wrap")).to_be_visible(timeout=15000)
    ids = [o.get_attribute("value") for o in choose.locator("option").all()]
    late = next(i for i in ids if i.startswith(run["id"]))  # this run's weights: 104 parameters
    expect(note).to_contain_text("cnn's", timeout=15000)  # the bundled cnn, chosen first
    expect(params).to_have_attribute("data-value", re.compile(r"\d+"), timeout=15000)
    bundled = params.get_attribute("data-value")
    assert bundled != "104"

    held: list = []

    def hold(route) -> None:
        body = json.loads(route.request.post_data or "{}")
        if body.get("model") == late and body.get("layers") == []:
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/explain", hold)
    choose.select_option(late)
    pump_until(page, lambda: held, "the cards read the chosen network's layers")
    choose.select_option("cnn")  # changed one's mind before the answer came
    expect(note).to_contain_text("cnn's", timeout=15000)
    expect(params).to_have_attribute("data-value", bundled, timeout=15000)
    with page.expect_event("requestfinished", lambda r: r == held[0].request):
        held[0].continue_()  # the answer for the network chosen before, late
    page.wait_for_timeout(1000)  # a negative check: time for the page to draw it (it must not)
    assert choose.input_value() == "cnn"
    assert "cnn's" in (note.text_content() or ""), note.text_content()
    assert params.get_attribute("data-value") == bundled, "the cards explain the network chosen before"
    page.unroute("**/api/explain")
    errors.check()
