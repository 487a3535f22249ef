import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { inferShapes as infer, presetSpec as preset, newLayer, moveLayer } from "../js/arch.js";

// What GET /api/layers and GET /api/presets serve (tests/frontend_fixtures.py writes it).
const { catalog: CAT, presets: PRESETS } = JSON.parse(readFileSync(new URL("./fixtures/catalog.json", import.meta.url), "utf8"));
const inferShapes = (/** @type {any} */ spec) => infer(spec, CAT);
const presetSpec = (/** @type {string} */ name) => preset(PRESETS, name);

test("the notes' multi-channel example: 4·(2·2)·2 + 2 = 34", () => {
  const r = inferShapes({ input_shape: [4, 5, 5], layers: [{ type: "conv2d", filters: 2, kernel: 2 }, { type: "flatten" }, { type: "dense", units: 10 }] });
  assert.equal(r.rows[0].params, 34);
  assert.equal(r.rows[0].formula, "4·(2·2)·2 + 2");
  // valid convolution: (Mx − Mw + 1) × (Nx − Nw + 1)
  assert.deepEqual(r.rows[0].outShape, [2, 4, 4]);
  assert.equal(r.error, null);
});

test("the cnn preset: shapes and 80,202 parameters, as the README says", () => {
  const r = inferShapes(presetSpec("cnn"));
  assert.equal(r.error, null);
  assert.deepEqual(r.rows.map((x) => x.outShape), [
    [16, 24, 24], [16, 24, 24], [16, 12, 12], [32, 8, 8], [32, 8, 8], [32, 4, 4], [512], [128], [128], [10],
  ]);
  assert.equal(r.rows[3].formula, "16·(5·5)·32 + 32");
  assert.equal(r.rows[7].formula, "512·128 + 128");
  assert.equal(r.total, 80202);
});

test("mlp and notes presets", () => {
  assert.equal(inferShapes(presetSpec("mlp")).total, 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10);
  const notes = inferShapes(presetSpec("notes"));
  assert.equal(notes.error, null);
  assert.equal(notes.total, 784 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10); // 13,002
});

test("stride and same padding", () => {
  const r = inferShapes({ layers: [{ type: "conv2d", filters: 4, kernel: 3, stride: 2, padding: "same" }, { type: "maxpool2d", size: 2, stride: 2 }, { type: "flatten" }, { type: "dense", units: 10 }] });
  assert.deepEqual(r.rows[0].outShape, [4, 14, 14]);
  assert.deepEqual(r.rows[1].outShape, [4, 7, 7]);
  const v = inferShapes({ layers: [{ type: "conv2d", filters: 1, kernel: 5, stride: 2 }, { type: "flatten" }, { type: "dense", units: 10 }] });
  assert.deepEqual(v.rows[0].outShape, [1, 12, 12]); // (28 − 5) // 2 + 1
});

test("an impossible architecture names the layer and why", () => {
  const spec = presetSpec("cnn");
  spec.layers.splice(6, 0, { type: "conv2d", filters: 8, kernel: 5 }); // 4x4 maps cannot take a 5x5 kernel
  const r = inferShapes(spec);
  assert.equal(r.error.index, 6);
  assert.match(r.error.message, /^layer 6 \(conv2d\): kernel 5×5 is larger than its 4×4 input/);

  const d = inferShapes({ layers: [{ type: "dense", units: 10 }] });
  assert.match(d.error.message, /layer 0 \(dense\): expects a flat vector per sample, got shape \(1, 28, 28\); put a flatten layer/);

  const e = inferShapes({ layers: [{ type: "conv2d", filters: 4, kernel: 3 }] });
  assert.match(e.error.message, /last layer must output a vector/);

  const ce = inferShapes({ layers: [{ type: "flatten" }, { type: "dense", units: 10 }, { type: "softmax" }], loss: "cross_entropy" });
  assert.match(ce.error.message, /layer 2 \(softmax\): the cross-entropy cost applies the softmax itself/);

  const bad = inferShapes({ layers: [{ type: "flatten" }, { type: "dense", units: 0 }] });
  assert.equal(bad.error.index, 1);
  assert.equal(bad.error.message, "layer 1 (dense): units must be a positive integer, got 0"); // said once (issue 9, item 16)

  const pool = inferShapes({ layers: [{ type: "maxpool2d", size: 32 }, { type: "flatten" }, { type: "dense", units: 10 }] });
  assert.match(pool.error.message, /layer 0 \(maxpool2d\): window 32×32 is larger than its 28×28 input/);
});

test("editing helpers", () => {
  assert.deepEqual(newLayer(CAT, "conv2d"), { type: "conv2d", filters: 8, kernel: 5, stride: 1, padding: "valid", init: "he" });
  const l = [{ type: "a" }, { type: "b" }, { type: "c" }];
  assert.deepEqual(moveLayer(l, 0, 1).map((x) => x.type), ["b", "a", "c"]);
  assert.deepEqual(moveLayer(l, 0, -1).map((x) => x.type), ["a", "b", "c"]);
  assert.ok(PRESETS.notes.train.lr === 1.5);
});
