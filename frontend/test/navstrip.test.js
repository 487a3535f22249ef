import { test } from "node:test";
import assert from "node:assert/strict";
import { hiddenSides } from "../js/navstrip.js";

test("a strip says which of its sides hides links", () => {
  assert.equal(hiddenSides(0, 500, 500), ""); // everything fits
  assert.equal(hiddenSides(0, 720, 355), "right");
  assert.equal(hiddenSides(200, 720, 355), "both");
  assert.equal(hiddenSides(365, 720, 355), "left"); // scrolled to the end
  assert.equal(hiddenSides(364.5, 720, 355), "left"); // fractional pixels at the end
});
