"""Frame time of the dashboard while the `cnn` preset trains on the full bundled MNIST: the gaps
between requestAnimationFrame callbacks over 10 s in a real Chromium, with the charts, kernels,
probe activations and a drawn digit's layers updating live. Prints figures; asserts nothing
(tests/e2e/test_frame_time.py checks the behaviour: the page keeps updating).

    python bench/frame_time.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

# The gaps between animation frames for `ms` milliseconds (the first one dropped).
MEASURE = """async (ms) => {
  const gaps = [];
  let last = performance.now();
  const t0 = last;
  await new Promise((done) => {
    const tick = () => {
      const now = performance.now();
      gaps.push(now - last);
      last = now;
      if (now - t0 < ms) requestAnimationFrame(tick); else done();
    };
    requestAnimationFrame(tick);
  });
  return gaps.slice(1);
}"""


def summary(gaps: list[float], paint: list[float]) -> str:
    """One line of figures: frames, mean, median, p95 and max frame time, paint time per frame."""
    gaps, paint = sorted(gaps), sorted(paint) or [0.0]
    p95 = gaps[int(0.95 * (len(gaps) - 1))]
    mean, median = statistics.fmean(gaps), statistics.median(gaps)
    return (
        f"{len(gaps)} frames: mean {mean:.1f} ms, median {median:.1f} ms, p95 {p95:.1f} ms, "
        f"max {gaps[-1]:.1f} ms; painting per frame: median {statistics.median(paint):.2f} ms, "
        f"max {paint[-1]:.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from glassnet.service.devserver import ServeProcess, free_port

    work = Path(tempfile.mkdtemp(prefix="glassnet-frame-time-"))
    server = ServeProcess(work / "runs", None, port=free_port(), log=work / "server.log").start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(server.url)
            page.wait_for_selector('[data-testid="connection"][data-state="open"]')
            page.wait_for_function("() => document.querySelector('#preset').options.length > 1")
            page.select_option("#preset", "cnn")
            page.get_by_test_id("start").click()
            page.wait_for_function("() => window.glassnet.S.probes.length > 0", timeout=120000)
            page.locator("#train").scroll_into_view_if_needed()
            page.evaluate("() => window.glassnet.paintTimes.splice(0)")
            gaps = page.evaluate(MEASURE, args.seconds * 1000)
            paint = page.evaluate("() => window.glassnet.paintTimes.slice()")
            run = page.evaluate("() => window.glassnet.S.watched")
            page.evaluate("(id) => fetch(`/api/runs/${id}/stop`, {method: 'POST'})", run)
            browser.close()
        print(f"frame time while the cnn trains on full MNIST ({args.seconds:.0f} s): {summary(gaps, paint)}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
