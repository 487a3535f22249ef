// "Follow the notes": the 13 steps, their deep links, and their words in both catalogues.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { STEPS, parseNotesHash, notesHash, EXAMPLE_SPEC, EXAMPLE_LAYER } from "../js/notessteps.js";
import { inferShapes } from "../js/arch.js";

const read = (/** @type {string} */ p) => readFileSync(new URL(p, import.meta.url), "utf8");
const catalogues = { en: JSON.parse(read("../i18n/en.json")), zh: JSON.parse(read("../i18n/zh-CN.json")) };

test("13 steps in the notes' order, each on its own idea view", () => {
  assert.deepEqual(STEPS.map((s) => s.n), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
  assert.deepEqual(STEPS.map((s) => s.view), STEPS.map((s) => `idea-${s.n}`));
  const html = read("../index.html");
  for (const s of STEPS) assert.ok(html.includes(`data-testid="${s.view}"`), `${s.view} is not in the page`);
});

test("every step has a title, 2 to 5 sentences, a thing to try and its set-up, in both languages", () => {
  for (const [lang, c] of Object.entries(catalogues)) {
    for (const s of STEPS) {
      for (const part of ["title", "text", "check"]) assert.ok(c[`notes.step.${s.n}.${part}`], `${lang} step ${s.n} ${part}`);
      assert.equal(Boolean(c[`notes.step.${s.n}.formula`]), s.formula, `${lang} step ${s.n}: a formula where the notes give one`);
      assert.ok(c[`notes.setup.${s.setup}`], `${lang} set-up ${s.setup}`);
      const sentences = c[`notes.step.${s.n}.text`].split(/。|\.(?=\s|$)/).filter((x) => x.trim()).length;
      assert.ok(sentences >= 2 && sentences <= 5, `${lang} step ${s.n} has ${sentences} sentences`);
    }
  }
});

test("deep links: #/notes/N", () => {
  assert.equal(parseNotesHash("#/notes/7"), 7);
  assert.equal(parseNotesHash("#/notes"), 1);
  assert.equal(parseNotesHash("#/notes/13/"), 13);
  assert.equal(parseNotesHash("#/notes/14"), null);
  assert.equal(parseNotesHash("#/notes/0"), null);
  assert.equal(parseNotesHash("#draw"), null);
  assert.equal(parseNotesHash(""), null);
  for (const s of STEPS) assert.equal(parseNotesHash(notesHash(s.n)), s.n);
});

test("the notes' example layer has 4·(2·2)·2 + 2 = 34 parameters", () => {
  const { catalog } = JSON.parse(read("fixtures/catalog.json"));
  const r = inferShapes({ ...EXAMPLE_SPEC, loss: "cross_entropy" }, catalog);
  assert.equal(r.error, null);
  const row = r.rows[EXAMPLE_LAYER];
  assert.equal(row.inShape[0], 4);
  assert.equal(row.params, 34);
  assert.equal(row.formula, "4·(2·2)·2 + 2");
});
