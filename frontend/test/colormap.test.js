import { test } from "node:test";
import assert from "node:assert/strict";
import { lut, divergingIndex, paintMap, tileLayout, cssColor, SCALES } from "../js/colormap.js";

const lum = (t, i) => 0.2126 * t[i * 3] + 0.7152 * t[i * 3 + 1] + 0.0722 * t[i * 3 + 2];

test("perceptual scales grow brighter monotonically", () => {
  for (const name of ["viridis", "gray"]) {
    const t = lut(name);
    assert.equal(t.length, 768);
    for (let i = 8; i < 256; i += 8) assert.ok(lum(t, i) >= lum(t, i - 8) - 1, `${name} at ${i}`);
  }
  assert.equal(cssColor("viridis", 0), "rgb(68,1,84)");
  assert.equal(cssColor("viridis", 1), "rgb(253,231,37)");
  assert.ok(SCALES.includes("diverging"));
});

test("diverging scale: zero is the light middle, signs go opposite ways", () => {
  const t = lut("diverging");
  assert.ok(lum(t, 128) > 230);
  assert.ok(t[0 * 3 + 2] > t[0 * 3]); // negative end is blue
  assert.ok(t[255 * 3] > t[255 * 3 + 2]); // positive end is red
  const idx = divergingIndex(-1, 3); // bytes cover [-1, 3]; 0 must land in the middle
  const zeroByte = Math.round((1 / 4) * 255);
  assert.ok(Math.abs(idx[zeroByte] - 128) <= 1);
  assert.equal(idx[255], 255);
  assert.ok(Math.abs(idx[0] - Math.round(127.5 - 127.5 / 3)) <= 1);
  assert.equal(divergingIndex(0, 0)[0], 128);
});

test("paintMap writes RGBA through the table", () => {
  const rgba = new Uint8ClampedArray(3 * 2 * 4);
  paintMap(Uint8Array.from([0, 255]), 0, 1, 2, lut("gray"), rgba, 3, 1, 0);
  assert.deepEqual([...rgba.slice(4, 8)], [0, 0, 0, 255]);
  assert.deepEqual([...rgba.slice(16, 20)], [255, 255, 255, 255]);
});

test("tile layout fits the width", () => {
  const l = tileLayout(16, 24, 24, 420);
  assert.ok(l.width <= 420);
  assert.ok(l.rows <= 2);
  assert.equal(l.cols * l.rows >= 16, true);
  const one = tileLayout(1, 28, 28, 200, { maxScale: 6 });
  assert.equal(one.scale, 6);
});
