import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fmt, map2d, neuronColumns, forwardTerms, wishTerms, shownNeurons, activationFn, positions, windowSum, stepPlan } from "../js/learnmath.js";

// An /api/explain answer for a 9-4-3 sigmoid network, made by the service (tests/frontend_fixtures.py).
const ex = JSON.parse(readFileSync(new URL("./fixtures/explain-small.json", import.meta.url), "utf8"));
const close = (a, b, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(a), Math.abs(b)), `${a} vs ${b}`);

test("numbers read as a person writes them", () => {
  assert.equal(fmt(0), "0");
  assert.equal(fmt(-0.5), "−0.5");
  assert.equal(fmt(1.99999), "2");
  assert.equal(fmt(0.9999692), "0.99997"); // a sigmoid's output is never shown as 1
  assert.equal(fmt(1.00000001), "1"); // past float32's precision it is 1
  assert.equal(fmt(1), "1");
  assert.equal(fmt(0.0123456), "0.01235");
  assert.equal(fmt(-1.2e-7), "−1.2·10⁻⁷");
  assert.equal(fmt(2.5e12, 3), "2.5·10¹²");
  assert.equal(fmt(NaN), "–");
  assert.equal(fmt(null), "–");
});

test("the diagram's columns regroup dense + sigmoid layers", () => {
  const cols = neuronColumns(ex);
  assert.deepEqual(cols.map((c) => c.size), [9, 4, 3]);
  assert.deepEqual(cols[0].image, [3, 3]); // the input pixels, as the image they are
  assert.equal(cols[1].zLayer, 1); assert.equal(cols[1].actLayer, 2); assert.equal(cols[1].activation, "sigmoid");
  // the last column's wishes are the answer's output wishes
  cols[2].wishes.forEach((w, j) => close(w, ex.wishes[j]));
});

test("z = Σ a·w + b, and the activation of it", () => {
  const cols = neuronColumns(ex);
  const W = ex.layers[1].params.W, b = ex.layers[1].params.b.values;
  for (let j = 0; j < 4; j++) {
    const f = forwardTerms(cols[0].values, W, b[j], j);
    close(f.z, ex.layers[1].output.values[j]);
    close(activationFn("sigmoid")(f.z), cols[1].values[j]);
    assert.ok(Math.abs(f.terms[0].product) >= Math.abs(f.terms[1].product)); // largest first
  }
});

test("a hidden neuron's wish is the sum of its terms (the notes' backprop)", () => {
  const cols = neuronColumns(ex);
  for (const [c, layer] of [[0, 1], [1, 3]]) {
    const W = ex.layers[layer].params.W;
    for (let i = 0; i < cols[c].size; i++) {
      const { terms, total } = wishTerms(W, cols[c + 1], i);
      close(total, cols[c].wishes[i]);
      close(terms.reduce((s, t) => s + t.product, 0), total);
    }
  }
});

test("a weight's gradient is a · δ", () => {
  const cols = neuronColumns(ex);
  const W = ex.layers[3].params.W;
  const delta = cols[2].delta;
  for (let i = 0; i < 4; i++) for (let j = 0; j < 3; j++) close(W.grad[i * 3 + j], cols[1].values[i] * delta[j]);
});

test("wide layers are summarised by their largest values", () => {
  assert.deepEqual(shownNeurons([0.1, -5, 3, 0, 2], 3), [1, 2, 4]);
  assert.deepEqual(shownNeurons([1, 2], 5), [0, 1]);
});

test("windows and the three stepped convolution views", () => {
  assert.equal(positions(2, 3).length, 6);
  const m = map2d({ shape: [3, 3], values: [1, 2, 3, 4, 5, 6, 7, 8, 9] });
  const k = map2d({ shape: [2, 2], values: [1, 0, 0, -1] });
  assert.deepEqual(windowSum(m, k, 1, 1), { products: [5, 0, 0, -9], sum: -4 });
  // a 1-channel 4×4 input, a 2×2 kernel: valid output 3×3, error 3×3 padded to 5×5
  const e = {
    stride: 1, padding: [0, 0, 0, 0],
    maps: {
      padded_input: { shape: [4, 4], values: Array.from({ length: 16 }, (_, i) => i) },
      kernel: { shape: [2, 2], values: [1, 2, 3, 4] },
      partial: { shape: [3, 3], values: [0, 0, 0, 0, 0, 0, 0, 0, 0] },
      padded_error: { shape: [5, 5], values: Array(25).fill(0) },
      input_grad_part: { shape: [4, 4], values: Array(16).fill(7) },
      dilated_error: { shape: [3, 3], values: Array(9).fill(1) },
      kernel_grad: { shape: [2, 2], values: [9, 8, 7, 6] },
    },
  };
  const f = stepPlan(e, "forward"); assert.equal(f.rows, 3); assert.equal(f.kh, 2);
  const b = stepPlan(e, "backward"); assert.equal(b.rows, 4); assert.equal(b.value(3, 3), 7);
  const g = stepPlan(e, "kernel"); assert.equal(g.rows, 2); assert.equal(g.kh, 3); assert.equal(g.value(1, 0), 7);
});

test("models are named with their exact stored accuracy", async () => {
  const { modelLabel } = await import("../js/models.js");
  assert.equal(modelLabel({ id: "cnn", kind: "bundled", test_accuracy: 0.9946 }, () => null), "cnn — 99.46%");
  assert.equal(modelLabel({ id: "ab12:epoch-003", kind: "run", test_accuracy: null }, () => "cnn #3"), "cnn #3 · epoch-003");
  assert.equal(modelLabel({ id: "uploads:net-1", kind: "upload" }, () => null), "uploads:net-1 (upload)");
});

import { percent, wholePercent, aDigit, pow10 } from "../js/learnmath.js";

test("percentages are cut, never rounded up to 100%", () => {
  assert.equal(percent(0.9997), "99.9%");
  assert.equal(percent(1), ">99.9%"); // float32's 1: a softmax is never exactly 1
  assert.equal(percent(0.61), "61.0%");
  assert.equal(percent(0), "0.0%");
  // Whole percents (the bars under the answer, the output tiles, the gallery) are cut the same way.
  assert.equal(wholePercent(0.9997), "99%");
  assert.equal(wholePercent(1), ">99%");
  assert.equal(wholePercent(0.57), "57%");
  assert.equal(wholePercent(0.0049), "0%");
});

test("an accuracy (a count's share) of every one right reads 100%; fewer are cut (QA3 hand #4)", () => {
  assert.equal(percent(61 / 61, true), "100%");
  assert.equal(percent(2499 / 2500, true), "99.9%");
  assert.equal(percent(3 / 8, true), "37.5%");
  assert.equal(percent(0, true), "0.0%");
});

test("wording: an 8, a 7, and powers of ten as they are written", () => {
  assert.equal(aDigit(8), "an 8");
  assert.equal(aDigit(7), "a 7");
  assert.equal(pow10(-4), "10⁻⁴");
  assert.equal(pow10(12), "10¹²");
});

import { cutPercent } from "../js/learnmath.js";

test("QA3 #2: a probability below 1 never reads 100%, and a step's change shows (cut, not rounded)", () => {
  // the cnn reads test digit #0 as a 7 with p = 0.9999981237711908
  assert.equal(cutPercent(0.9999981237711908), "99.99981%");
  assert.equal(cutPercent(0.9999987, 4), "99.99987%"); // after a step: visibly different
  assert.equal(cutPercent(0.13999), "13.9%");
  assert.equal(cutPercent(0.0001234), "0.0123%");
  assert.equal(cutPercent(1.2349e-9, 4), "1.234·10⁻⁷%");
  assert.equal(cutPercent(0), "0%");
  assert.equal(cutPercent(1), ">99.9999999%");
  assert.equal(cutPercent(0.9999999999999982), "99.9999999999%");
  assert.equal(percent(0.9999999999999982), ">99.9%"); // within 1e-9 of 1 is still not 100
  assert.equal(wholePercent(0.9999999999999), ">99%");
});

test("QA3 #6: a sigmoid that is not 1 is never shown as 1", () => {
  // notes network, test digit #0, layer 1 neurons 14 and 15 (z = 20.05, 33.95)
  assert.equal(fmt(0.999999998029895, 3), "1 − 1.97·10⁻⁹");
  assert.equal(fmt(0.9999999999999982, 7), "1 − 1.78·10⁻¹⁵");
  assert.equal(fmt(-0.999999998, 3), "−(1 − 2·10⁻⁹)"); // tanh near −1
  assert.equal(fmt(0.9999999, 3), "0.9999999");
  assert.equal(fmt(1), "1");
});

import { paddingProducts } from "../js/learnmath.js";

test("QA3 #11: a corner of the full convolution has one real product, the rest on the zero padding", () => {
  // cnn layer 0: a 5×5 kernel, a 24×24 error padded by 4 on every side (32×32)
  const pe = { shape: [32, 32], values: Array(32 * 32).fill(0) };
  const e = { stride: 1, padding: [0, 0, 0, 0], maps: { kernel: { shape: [5, 5], values: Array(25).fill(1) }, padded_error: pe,
    input_grad_part: { shape: [28, 28], values: Array(28 * 28).fill(0) } } };
  const b = stepPlan(e, "backward");
  assert.deepEqual(b.real, { top: 4, left: 4, h: 24, w: 24 });
  assert.equal(paddingProducts(b.real, 0, 0, 5, 5), 24); // input cell (0, 0)
  assert.equal(paddingProducts(b.real, 0, 1, 5, 5), 23);
  assert.equal(paddingProducts(b.real, 13, 13, 5, 5), 0); // the middle: all 25 real
  assert.equal(paddingProducts(b.real, 27, 27, 5, 5), 24); // the far corner
  // forward with "same" padding 1 around a 4×4 input: a 3×3 window at (0, 0) has 5 on padding
  assert.equal(paddingProducts({ top: 1, left: 1, h: 4, w: 4 }, 0, 0, 3, 3), 5);
});

import { weightsState, slopeSymbol } from "../js/learnmath.js";

test("QA4 LEARN-1: the weights Learn shows name their step and say when the run has moved on", () => {
  assert.equal(weightsState(null, { step: 5, training: true }, false), "none"); // bundled: no step
  assert.equal(weightsState(430, null, false), "fixed"); // a checkpoint
  assert.equal(weightsState(784, { step: 784, training: false }, false), "latest");
  assert.equal(weightsState(784, { step: 790, training: true }, false), "behind"); // trains on: keep one step, say so
  assert.equal(weightsState(100, { step: 102, training: false }, false), "follow"); // paused and stepped: follow
  assert.equal(weightsState(100, { step: 102, training: false }, true), "behind"); // a copy stepped by hand is never replaced
});

test("QA4 LEARN-6: the wish rule names the slope of the activation the neurons have", () => {
  assert.equal(slopeSymbol("sigmoid"), "σ′");
  assert.equal(slopeSymbol("relu"), "relu′");
  assert.equal(slopeSymbol(null), null);
  // A column with no activation (the cnn's scores): the factor is the wish itself (−δ), slope 1.
  const next = /** @type {any} */ ({ slope: null, delta: [0.5, -0.25], wishes: [-0.5, 0.25] });
  const { terms, total } = wishTerms({ shape: [1, 2], values: [2, 4] }, next, 0);
  assert.deepEqual(terms.map((r) => r.factor), [-0.5, 0.25]);
  assert.equal(total, 2 * -0.5 + 4 * 0.25);
  const relu = /** @type {any} */ ({ slope: [1, 0], delta: [-3, 0], wishes: [3, 7] });
  assert.deepEqual(wishTerms({ shape: [1, 2], values: [2, 4] }, relu, 0).terms.map((r) => r.factor), [3, 0]);
});
