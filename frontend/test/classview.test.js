import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { liveFrames, progress, queueWords, inAbout, pickRuns, mayControl, epochInProgress, joinedWhen } from "../js/classview.js";
import { format } from "../js/messages.js";

/** The page's t() over one catalogue. @param {string} lang */
const sayIn = (lang) => {
  const messages = JSON.parse(readFileSync(new URL(`../i18n/${lang}.json`, import.meta.url), "utf8"));
  return (/** @type {string} */ key, /** @type {any} */ params) => format(messages[key], params);
};
const say = sayIn("en");

test("heavy frames follow the visible sections", () => {
  assert.deepEqual(liveFrames([]), []);
  assert.deepEqual(liveFrames(["train", "runs"]), []);
  assert.deepEqual(liveFrames(["draw"]), ["kernels"]);
  assert.deepEqual(liveFrames(["draw", "learned"]), ["activations", "gradients", "kernels"]);
});

test("progress and the queue in words", () => {
  assert.equal(progress({ step: 50, total_steps: 200, epoch: 0, epochs: 2 }), "25%");
  assert.equal(progress({ step: 0, total_steps: null, epoch: 1, epochs: 3 }), "1/3");
  assert.equal(queueWords({ queue_position: null }, say), "");
  assert.equal(queueWords({ queue_position: 1, starts_in_s: 0 }, say), "next, starts now");
  assert.equal(queueWords({ queue_position: 3, starts_in_s: 125 }, say), "#3 in line, starts in ~2 min");
  assert.equal(queueWords({ queue_position: 7, starts_in_s: null }, say), "#7 in line, start time not known yet");
  assert.equal(inAbout(42, say), "in ~42 s");
  assert.equal(inAbout(3 * 3600, say), "in ~3.0 h");
  assert.equal(queueWords({ queue_position: 3, starts_in_s: 125 }, sayIn("zh-CN")), "排第 3 位，约 2 分钟后开始");
});

test("my runs and class runs", () => {
  const runs = [{ id: "a", owner: "ann" }, { id: "b", owner: "bob" }];
  assert.deepEqual(pickRuns(runs, "mine", "bob").map((r) => r.id), ["b"]);
  assert.deepEqual(pickRuns(runs, "class", "bob").map((r) => r.id), ["a", "b"]);
});

test("a page may change only the runs the server lets it change", () => {
  const ann = { owner: "ann", role: "student" };
  assert.equal(mayControl(ann, { owner: "ann" }), true);
  assert.equal(mayControl(ann, { owner: "bob" }), false);
  assert.equal(mayControl(ann, { owner: null }), false);
  assert.equal(mayControl({ owner: "teacher", role: "teacher" }, { owner: "bob" }), true);
  assert.equal(mayControl({ owner: "", role: "viewer" }, { owner: "" }), false);
  assert.equal(mayControl(null, { owner: "bob" }), true); // not known yet: the server decides
});

test("the epoch a person reads is the one in progress, the same in the status bar and the Runs table (qa3-dash note)", () => {
  assert.equal(epochInProgress({ epoch: 0, epochs: 2 }), 1); // stopped during the first epoch: "1/2", not "0/2"
  assert.equal(epochInProgress({ epoch: 1, epochs: 2 }), 2);
  assert.equal(epochInProgress({ epoch: 2, epochs: 2 }), 2); // finished
});

test("the join page's refusals, in each language, with the real wait and no setting names (QA3 class #5)", async () => {
  const { joinRefusal } = await import("../js/classview.js");
  for (const lang of ["en", "zh-CN"]) {
    const s = sayIn(lang);
    const quota = joinRefusal({ code: "names_quota", retryAfter: 3507 }, "Ana", s);
    assert.ok(quota && !/GLASSNET|wait a (moment|little)/.test(quota), quota ?? "");
    assert.match(quota, lang === "en" ? /teacher.*in ~58 min/ : /老师.*约 58 分钟后/);
    const taken = joinRefusal({ code: "name_taken" }, "张伟", s);
    assert.match(taken ?? "", lang === "en" ? /“张伟”.*ask your teacher for your link/ : /“张伟”.*向老师要你的链接/);
    for (const code of ["wrong_join_code", "class_full"]) {
      const line = joinRefusal({ code }, "Ana", s) ?? "";
      assert.ok(line.length > 5);
      if (lang === "zh-CN") assert.doesNotMatch(line, /[A-Za-z]{3,}/, line); // no English words on the 中文 page
    }
    if (lang === "zh-CN") assert.doesNotMatch(`${quota}${taken}`.replace("张伟", ""), /[A-Za-z]{3,}/);
  }
  assert.equal(joinRefusal({ code: "forbidden", status: 403 }, "Ana", say), null); // the rest: said the usual way
});

test("a name that cannot be one is said in the page's language, without the status (QA5 class #3)", async () => {
  const { joinRefusal } = await import("../js/classview.js");
  for (const lang of ["en", "zh-CN"]) {
    const line = joinRefusal({ code: "invalid", status: 422 }, "Tom <b>", sayIn(lang)) ?? "";
    assert.match(line, lang === "en" ? /“Tom <b>” cannot be a name.*letters or digits.*40/ : /“Tom <b>”不能用作本班的名字.*40/);
    assert.doesNotMatch(line, /422|GLASSNET/);
    // on the 中文 page no English words but the name, the examples and the two reserved names
    if (lang === "zh-CN") assert.doesNotMatch(line.replace(/Tom|José|teacher|local/g, ""), /[A-Za-z]{3,}/, line);
  }
});

test("a student's link made on the teacher's own machine points at an address other machines open (QA5 class #5)", async () => {
  const { studentLink } = await import("../js/classview.js");
  const lan = ["http://192.0.2.2:8000/", "http://vm:8000/"];
  const link = "/?token=st.YW5u.00";
  for (const page of ["http://127.0.0.1:8000/#class", "http://localhost:8000/", "http://[::1]:8000/"]) {
    assert.equal(studentLink(link, page, lan), "http://192.0.2.2:8000/?token=st.YW5u.00", page);
  }
  // A page opened at an address the class reaches keeps it; with no other address known, its own.
  assert.equal(studentLink(link, "http://vm:8000/", lan), "http://vm:8000/?token=st.YW5u.00");
  assert.equal(studentLink(link, "https://class.example.org/x", lan), "https://class.example.org/?token=st.YW5u.00");
  assert.equal(studentLink(link, "http://127.0.0.1:8000/", []), "http://127.0.0.1:8000/?token=st.YW5u.00");
  assert.equal(studentLink(link, "http://127.0.0.1:8000/", null), "http://127.0.0.1:8000/?token=st.YW5u.00");
});

test("the roster says the day a student joined when it is not today", () => {
  const joined = new Date(2026, 10, 28, 9, 5).getTime() / 1000; // local time
  const sameDay = joinedWhen(joined, new Date(2026, 10, 28, 17, 30), "en");
  assert.match(sameDay, /^09:05( AM)?$/);
  const nextDay = joinedWhen(joined, new Date(2026, 10, 29, 8, 0), "en");
  assert.match(nextDay, /^28 Nov 09:05( AM)?$|^Nov 28 09:05( AM)?$/);
  assert.notEqual(nextDay, sameDay);
  const zh = joinedWhen(joined, new Date(2026, 10, 29, 8, 0), "zh-CN");
  assert.ok(zh.includes("11月28日") && zh.includes("09:05"), zh);
});
