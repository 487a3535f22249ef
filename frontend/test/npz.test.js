import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { readNpz } from "../js/npz.js";

test("reads float arrays from an np.savez file", () => {
  const file = readFileSync(new URL("./sample.npz", import.meta.url));
  const buf = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength);
  const arrays = readNpz(buf);
  assert.deepEqual([...arrays.get("0.b").data], [-1.5, -0.5, 0.5]);
  assert.deepEqual(arrays.get("1.W").shape, [2, 2]);
  assert.equal(arrays.get("1.W").data[3], 2.5);
  assert.equal(arrays.has("__meta__"), false);
});

test("reads the bundled cnn checkpoint's biases", () => {
  const file = readFileSync(new URL("../../models/cnn.npz", import.meta.url));
  const buf = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength);
  const arrays = readNpz(buf, (k) => k.endsWith(".b"));
  assert.deepEqual(arrays.get("7.b").shape, [128]);
  assert.deepEqual(arrays.get("9.b").shape, [10]);
  assert.ok(arrays.get("9.b").data.every(Number.isFinite));
});
