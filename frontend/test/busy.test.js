// A button that waits keeps its focus: aria-disabled while busy, its clicks ignored (QA4 NEWCOMER-4).
import { test } from "node:test";
import assert from "node:assert/strict";
import { whileBusy, isBusy } from "../js/busy.js";

/** A stand-in for a button's attributes (the DOM part is checked in tests/e2e/test_newcomer.py). */
const fakeButton = () => {
  const attrs = new Map();
  return /** @type {any} */ ({ getAttribute: (k) => attrs.get(k) ?? null, setAttribute: (k, v) => attrs.set(k, String(v)), removeAttribute: (k) => attrs.delete(k), attrs });
};

test("busy while its work runs, and a second click does nothing", async () => {
  const b = fakeButton();
  let release = () => {};
  let runs = 0;
  const first = whileBusy(b, () => { runs++; return new Promise((r) => { release = () => r("done"); }); });
  assert.ok(isBusy(b));
  assert.equal(b.getAttribute("disabled"), null); // never disabled: the focus stays
  assert.equal(await whileBusy(b, async () => { runs++; return "again"; }), undefined);
  release();
  assert.equal(await first, "done");
  assert.equal(runs, 1);
  assert.ok(!isBusy(b));
});

test("a failed work still frees the button", async () => {
  const b = fakeButton();
  await assert.rejects(whileBusy(b, async () => { throw new Error("422"); }));
  assert.ok(!isBusy(b));
});
