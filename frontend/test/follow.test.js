// Which run a page shows when nobody asks it to change (qa-ui2 #2: in a class, pages jumped to
// whichever run started next, away from the pinned run and from their person's own finished run).
import test from "node:test";
import assert from "node:assert/strict";
import { followStart, followPin, afterPin, afterDelete } from "../js/follow.js";

test("only a page on the latest run moves to a run that starts, once its own has ended", () => {
  assert.equal(followStart("latest", "a", false, "b"), true, "nothing chosen: the new run");
  assert.equal(followStart("latest", null, false, "b"), true, "nothing shown yet");
  assert.equal(followStart("latest", "a", true, "b"), false, "its run still trains (or waits, or is paused)");
  assert.equal(followStart("latest", "b", false, "b"), false, "the same run");
  assert.equal(followStart("chosen", "a", false, "b"), false, "a run its person opened or started stays, finished");
  assert.equal(followStart("pinned", "a", false, "b"), false, "the class run stays, stopped");
});

test("a new pin moves every page but one whose person chose its run", () => {
  assert.equal(followPin("latest", "a", "p"), true);
  assert.equal(followPin("pinned", "old", "p"), true);
  assert.equal(followPin("chosen", null, "p"), true, "a page that shows nothing yet");
  assert.equal(followPin("chosen", "a", "p"), false);
  assert.equal(followPin("pinned", "p", "p"), false, "already on it");
  assert.equal(followPin("pinned", "p", null), false, "unpinned: stay");
});

test("how a page follows after the pin changed", () => {
  assert.equal(afterPin("latest", "p", "p"), "pinned");
  assert.equal(afterPin("chosen", "p", "p"), "chosen", "opened by its person before the pin");
  assert.equal(afterPin("pinned", "p", null), "latest", "the pin was taken away");
  assert.equal(afterPin("pinned", "p", "q"), "latest");
  assert.equal(afterPin("chosen", "a", null), "chosen");
});

test("after the shown run is deleted: the class run, else the one training, else the latest left (QA3 class #9)", () => {
  assert.deepEqual(afterDelete("mine", "class", "other", ["class", "mine", "other"]), { id: "class", how: "pinned" });
  assert.deepEqual(afterDelete("mine", null, "other", ["mine", "other", "last"]), { id: "other", how: "latest" });
  assert.deepEqual(afterDelete("mine", null, null, ["a", "mine", "b"]), { id: "b", how: "latest" });
  assert.deepEqual(afterDelete("class", "class", null, ["a", "class"]), { id: "a", how: "latest" }, "the pinned run itself went");
  assert.deepEqual(afterDelete("only", null, null, ["only"]), { id: null, how: "latest" });
});
