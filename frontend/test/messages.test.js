// The message catalogues (frontend/i18n/en.json, zh-CN.json): complete twins, and the pure helpers.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { LANGUAGES, pickLanguage, format, placeholders, compareCatalogues, errorSentence } from "../js/messages.js";

const read = (/** @type {string} */ lang) => JSON.parse(readFileSync(new URL(`../i18n/${lang}.json`, import.meta.url), "utf8"));

test("both catalogues have every key, no empty value, the same placeholders", () => {
  const [en, zh] = LANGUAGES.map(read);
  const d = compareCatalogues(en, zh);
  assert.deepEqual(d.onlyA, [], "keys only in en.json");
  assert.deepEqual(d.onlyB, [], "keys only in zh-CN.json");
  assert.deepEqual(d.empty, [], "empty messages");
  assert.deepEqual(d.mismatched, [], "placeholders that differ");
  assert.ok(Object.keys(en).length > 500, "the catalogue holds the page's words");
});

test("compareCatalogues finds each kind of gap", () => {
  const d = compareCatalogues({ a: "x {n}", b: "y", c: "" }, { a: "x {m}", b: "y", d: "z" });
  assert.deepEqual(d.onlyA, ["c"]);
  assert.deepEqual(d.onlyB, ["d"]);
  assert.deepEqual(d.empty, ["c"]);
  assert.deepEqual(d.mismatched, ["a"]);
});

test("the Chinese catalogue is Chinese: every message with words has Chinese characters", () => {
  const zh = read("zh-CN");
  // Messages that are names or codes in both languages (layer types, optimizers, list separators).
  const same = new Set(["editor.type.dropout", "editor.type.leaky_relu", "editor.type.relu", "editor.type.sigmoid",
    "editor.type.softmax", "editor.type.tanh", "train.adam", "train.adam_2", "train.adam_3", "train.sgd", "runs.button.label", "optimizer.adam",
    "optimizer.sgd"]);
  const latin = Object.entries(zh).filter(([k, v]) => !same.has(k) && !k.endsWith(".formula") && /[A-Za-z]{3,}/.test(v.replace(/<[^>]+>|\{\w+\}/g, "")) && !/[\u4e00-\u9fff]/.test(v));
  assert.deepEqual(latin, []);
});

test("pickLanguage: the saved choice, else the browser's first language we have", () => {
  assert.equal(pickLanguage("zh-CN", ["en-US"]), "zh-CN");
  assert.equal(pickLanguage("en", ["zh-CN"]), "en");
  assert.equal(pickLanguage(null, ["fr-FR", "zh-TW", "en"]), "zh-CN");
  assert.equal(pickLanguage(null, ["de", "en-GB"]), "en");
  assert.equal(pickLanguage(null, ["de"]), "en");
  assert.equal(pickLanguage("xx", []), "en");
});

test("format fills placeholders and leaves unknown ones visible", () => {
  assert.equal(format("{a} of {b}", { a: 1, b: "two" }), "1 of two");
  assert.equal(format("{a} and {missing}", { a: 0 }), "0 and {missing}");
  assert.deepEqual(placeholders("{b} {a} {b}"), ["a", "b"]);
});

test("errorSentence: the server's sentence is never dropped; another language puts its code's lead-in first", () => {
  const zh = read("zh-CN");
  const lead = (/** @type {string} */ code) => zh[`error.code.${code}`] ?? null;
  const join = (/** @type {string} */ l, /** @type {string} */ r) => format(zh["error.with_reason"], { lead: l, reason: r });
  // The refusals QA found worded wrong in Chinese (qa-ui2 #1): each keeps its reason.
  const refusals = [
    { message: "that is not this class's join code (403)", code: "forbidden" },
    { message: "the name 'ann' is taken in this class (409)", code: "conflict" },
    { message: "cannot stop run 1: it belongs to dan; only its owner or the teacher may change it (403)", code: "forbidden" },
    { message: "there are no digits to evaluate on: label some drawings first (422)", code: "invalid" },
    { message: "labels: label 12 at index 1 is not a digit 0 to 9 (422)", code: "invalid" },
  ];
  for (const e of refusals) {
    assert.equal(errorSentence(e, true, lead, join), e.message, "English: the sentence alone");
    const said = errorSentence(e, false, lead, join);
    assert.ok(said.endsWith(e.message), `${said} keeps the reason`);
    assert.ok(said.startsWith(zh[`error.code.${e.code}`]), said);
  }
  // An error event's data ({code, message}), a code with no line, no code at all, no sentence.
  assert.equal(errorSentence({ code: "busy", message: "the pool is full" }, false, lead, join), `${zh["error.code.busy"]}：the pool is full`);
  assert.equal(errorSentence({ code: "nonesuch", message: "x" }, false, lead, join), "x");
  assert.equal(errorSentence(new Error("plain"), false, lead, join), "plain");
  assert.equal(errorSentence({ code: "quota", message: "" }, false, lead, join), zh["error.code.quota"]);
});

test("a generic line is only one true of every error with its code", () => {
  // 403 is a wrong join code, a student's hand on another's run, a teacher-only action, as well
  // as a foreign page; 409 a taken name as well as a run's state: the lines must not name one.
  for (const l of LANGUAGES) {
    const c = read(l);
    for (const code of ["forbidden", "conflict", "invalid", "not_found", "unavailable", "bad_request"]) {
      assert.doesNotMatch(c[`error.code.${code}`], /address|地址|run's state|训练现在的状态|out of bounds|超出范围|retry|再试|run, network|训练、网络/, `${l} ${code}`);
    }
  }
});
