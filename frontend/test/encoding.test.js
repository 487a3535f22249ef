import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeArray, toFloat, valueAt, flatNumbers, unravel, base64ToBytes } from "../js/encoding.js";

const b64 = (bytes) => Buffer.from(Uint8Array.from(bytes)).toString("base64");

test("base64 round trip", () => {
  assert.deepEqual([...base64ToBytes(b64([0, 1, 255, 128]))], [0, 1, 255, 128]);
});

test("per-map min-max decoding follows encoding.py's formula", () => {
  // two maps of 2x2: map 0 in [0, 1], map 1 in [-2, 2]
  const enc = { shape: [2, 2, 2], min: [0, -2], max: [1, 2], data: b64([0, 255, 51, 102, 0, 255, 128, 64]) };
  const d = decodeArray(enc);
  assert.equal(d.maps, 2);
  assert.equal(d.mapSize, 4);
  const v = toFloat(d);
  assert.ok(Math.abs(v[1] - 1) < 1e-6);
  assert.ok(Math.abs(v[2] - 0.2) < 1e-6);
  assert.ok(Math.abs(v[4] + 2) < 1e-6);
  assert.ok(Math.abs(v[5] - 2) < 1e-6);
  assert.ok(Math.abs(valueAt(d, 6) - (-2 + (128 / 255) * 4)) < 1e-9);
});

test("a constant map decodes to its min; scalar and nested ranges are accepted", () => {
  const d = decodeArray({ shape: [3], min: 0.5, max: 0.5, data: b64([0, 0, 0]) });
  assert.deepEqual([...toFloat(d)], [0.5, 0.5, 0.5]);
  assert.deepEqual(flatNumbers([[1, 2], [3, null]]), [1, 2, 3, 0]);
  const n = decodeArray({ shape: [2, 2, 1, 1], min: [[0, 0], [0, 0]], max: [[1, 1], [1, 1]], data: b64([0, 255, 0, 255]) });
  assert.equal(n.maps, 4);
});

test("length mismatches are errors, not garbage", () => {
  assert.throws(() => decodeArray({ shape: [4], min: [0], max: [1], data: b64([1, 2]) }), /2 bytes/);
  assert.throws(() => decodeArray({ shape: [3], min: [0, 0], max: [1, 1], data: b64([1, 2, 3]) }), /do not divide/);
  assert.throws(() => decodeArray(null), /not an encoded array/);
});

test("unravel gives row-major coordinates", () => {
  assert.deepEqual(unravel([2, 3, 4], 23), [1, 2, 3]);
  assert.deepEqual(unravel([16, 24, 24], 24 * 24 + 25), [1, 1, 1]);
});
