import { test } from "node:test";
import assert from "node:assert/strict";
import { parseMessage, SeqTracker, EVENT_TYPES, EVENT_FIELDS, REQUIRED_FIELDS, predictMessage, PROTOCOL_VERSION, olderSummary } from "../js/protocol.js";

test("every event type has its field list and required fields inside it", () => {
  for (const t of EVENT_TYPES) {
    assert.ok(EVENT_FIELDS[t], t);
    for (const f of REQUIRED_FIELDS[t]) assert.ok(EVENT_FIELDS[t].includes(f), `${t}.${f}`);
  }
});

test("a well-formed envelope parses", () => {
  const msg = { v: PROTOCOL_VERSION, type: "error", run: null, seq: 3, data: { code: "bad_json", message: "x" } };
  const r = parseMessage(JSON.stringify(msg));
  assert.equal(r.ok, true);
  assert.equal(r.envelope.type, "error");
  assert.equal(r.envelope.data.message, "x");
});

test("bad messages give readable errors", () => {
  assert.match(parseMessage("{nope").error, /not JSON/);
  assert.match(parseMessage(JSON.stringify({ v: 2, type: "hello", seq: 0, data: {} })).error, /version 2/);
  assert.match(parseMessage(JSON.stringify({ v: 1, type: "gossip", seq: 0, data: {} })).error, /unknown event type/);
  assert.match(parseMessage(JSON.stringify({ v: 1, type: "error", seq: 0, data: { code: "x" } })).error, /missing field\(s\) message/);
  assert.match(parseMessage("[]").error, /must be an object/);
});

test("seq gaps count dropped frames", () => {
  const s = new SeqTracker();
  assert.equal(s.see(5), 0);
  assert.equal(s.see(6), 0);
  assert.equal(s.see(9), 2);
  assert.equal(s.dropped, 2);
  assert.equal(s.see(7), 0); // late or duplicate: no gap
});

test("predict message leaves model out when following the watched run", () => {
  assert.deepEqual(predictMessage([[0]], null, 1), { type: "predict", pixels: [[0]], id: 1 });
  assert.equal(predictMessage([[0]], "cnn", 2).model, "cnn");
});

test("reconnect backoff doubles up to 15 s, with jitter", async () => {
  const { backoff } = await import("../js/socket.js");
  assert.equal(backoff(0, 0.5), 500);
  assert.equal(backoff(1, 0.5), 1000);
  assert.equal(backoff(3, 0.5), 4000);
  assert.equal(backoff(20, 0.5), 15000);
  assert.ok(backoff(2, 0) >= 1600 && backoff(2, 0.999) <= 2400);
});

import { can, whyNot, STATUS } from "../js/protocol.js";

test("the buttons follow the state machine (issue 9: one source of truth)", () => {
  assert.ok(can({ status: STATUS.RUNNING }, "pause"));
  assert.ok(!can({ status: STATUS.RUNNING }, "step"));
  assert.ok(can({ status: STATUS.PAUSED, resumable: true }, "step"));
  assert.ok(can({ status: STATUS.STOPPED, resumable: true }, "resume")); // a stopped run continues
  assert.ok(!can({ status: STATUS.STOPPED, resumable: false }, "resume"));
  assert.equal(whyNot({ name: "cnn #2", status: STATUS.STOPPED, resumable: false }, "resume"), "cnn #2 cannot continue: it was stopped before its first checkpoint");
  assert.match(whyNot({ name: "x", status: STATUS.FINISHED }, "resume"), /it is finished/);
  assert.ok(!can(null, "stop"));
});

test("a run's summary read before the change the page holds is older; the same or a later one is not", () => {
  const stopped = { status: "stopped", updated: 1700000010.25 };
  assert.equal(olderSummary(stopped, { status: "running", updated: 1700000009.5 }), true);
  assert.equal(olderSummary(stopped, { status: "stopped", updated: 1700000010.25 }), false);
  assert.equal(olderSummary(stopped, { status: "running", updated: 1700000011 }), false);
  assert.equal(olderSummary(undefined, { status: "running", updated: 1 }), false); // nothing held yet
  assert.equal(olderSummary({ status: "running" }, { status: "stopped", updated: 1 }), false); // no stamp held
});
