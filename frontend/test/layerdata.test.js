import { test } from "node:test";
import assert from "node:assert/strict";
import { fromPrediction, decodeProbes, probeLayers, mapValue, neuronValues } from "../js/layerdata.js";

const b64 = (bytes) => Buffer.from(Uint8Array.from(bytes)).toString("base64");

test("prediction layers: maps with one range per map, vectors with one range", () => {
  const acts = [
    { index: 0, type: "conv2d", kind: "maps", shape: [2, 1, 2], min: [0, -1], max: [1, 1], data: b64([0, 255, 0, 255]) },
    { index: 1, type: "flatten", kind: "vector", shape: [4], min: [-1], max: [1], data: b64([0, 255, 0, 255]) },
    { index: 2, type: "dense", kind: "vector", shape: [2], min: [-2], max: [2], data: b64([0, 255]) },
    { index: 3, type: "relu", kind: "vector", shape: [2], min: [0], max: [2], data: b64([0, 255]) },
  ];
  const l = fromPrediction(acts);
  assert.equal(l[0].set.maps, 2);
  assert.equal(l[0].set.rangePerMap, true);
  assert.equal(mapValue(l[0].set, 1, 0, 0), -1);
  assert.equal(mapValue(l[0].set, 1, 0, 1), 1);
  assert.equal(l[1].set.maps, 4);
  assert.equal(mapValue(l[1].set, 1), 1);
  const n = neuronValues(l, 2, 0);
  assert.deepEqual(n, { dense: 2, z: -2, activation: 0, fn: "relu" });
  assert.deepEqual(neuronValues(l, 3, 1), { dense: 2, z: 2, activation: 2, fn: "relu" });
  assert.equal(neuronValues(l, 1, 0), null);
});

test("probe layers pick one of the eight samples", () => {
  const layer = (v) => [{ index: 0, type: "dense", kind: "vector", shape: [2], min: [v], max: [v + 1], data: b64([0, 255]) }];
  const frame = {
    step: 7,
    inputs: { shape: [2, 1, 1], min: [0, 0], max: [1, 1], data: b64([0, 255]) },
    probes: [{ label: 3, probabilities: [0.1], layers: layer(0) }, { label: 4, probabilities: [0.9], layers: layer(5) }],
  };
  const probes = decodeProbes(frame);
  assert.deepEqual(probes.labels, [3, 4]);
  assert.deepEqual(probes.probabilities, [[0.1], [0.9]]);
  const one = probeLayers(probes, 1);
  assert.equal(mapValue(one[0].set, 0), 5);
  assert.equal(mapValue(one[0].set, 1), 6);
  assert.equal(mapValue(probeLayers(probes, 0)[0].set, 1), 1);
});

import { sharedRange } from "../js/layerdata.js";

test("one colour scale for a layer: maps re-quantised onto its range (issue 9, item 11)", () => {
  // Two 1×2 maps: [0, 1] and [0, 3] each scaled 0..255 on its own.
  const s = { bytes: new Uint8Array([0, 255, 0, 255]), offset: 0, min: [0, 0], max: [1, 3], rangeOffset: 0, maps: 2, mapH: 1, mapW: 2, mapSize: 2, rangePerMap: true };
  const r = sharedRange(s);
  assert.equal(r.lo, 0); assert.equal(r.hi, 3);
  assert.deepEqual([...r.bytes], [0, 85, 0, 255]); // 1 of 3 is a third of the way up, not bright
  assert.equal(r.rangePerMap, false);
  // A constant map shows its true level, not the bottom of its own range.
  const c = sharedRange({ ...s, bytes: new Uint8Array([0, 0, 0, 255]), min: [2, 0], max: [2, 4] });
  assert.deepEqual([...c.bytes], [128, 128, 0, 255]);
});
