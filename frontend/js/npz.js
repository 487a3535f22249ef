// @ts-check
/**
 * Read arrays from a glassnet checkpoint (.npz: a zip of .npy files, stored uncompressed by
 * np.savez) in the browser — used for the biases the neuron inspector shows, which the
 * prediction's activations do not carry. Float32/float64 little-endian arrays only.
 * Pure module: no DOM.
 */

/**
 * @param {ArrayBuffer} buf a .npz file
 * @returns {Map<string, {offset: number, size: number, method: number}>} entry name -> stored data
 */
export function zipEntries(buf) {
  const v = new DataView(buf);
  let eocd = -1;
  for (let i = buf.byteLength - 22; i >= Math.max(0, buf.byteLength - 65557); i--) {
    if (v.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error("not a zip file (no end of central directory)");
  const count = v.getUint16(eocd + 10, true);
  let p = v.getUint32(eocd + 16, true);
  const out = new Map();
  const dec = new TextDecoder();
  for (let k = 0; k < count; k++) {
    if (v.getUint32(p, true) !== 0x02014b50) throw new Error("bad zip central directory");
    const method = v.getUint16(p + 10, true);
    let size = v.getUint32(p + 20, true);
    const nameLen = v.getUint16(p + 28, true), extraLen = v.getUint16(p + 30, true), commentLen = v.getUint16(p + 32, true);
    let local = v.getUint32(p + 42, true);
    const name = dec.decode(new Uint8Array(buf, p + 46, nameLen));
    // zip64 extra field (id 1): sizes and offset that did not fit in 32 bits, in this order.
    let e = p + 46 + nameLen;
    const end = e + extraLen;
    while (e + 4 <= end) {
      const id = v.getUint16(e, true), len = v.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        if (v.getUint32(p + 24, true) === 0xffffffff) q += 8;
        if (size === 0xffffffff) { size = Number(v.getBigUint64(q, true)); q += 8; }
        if (local === 0xffffffff) { local = Number(v.getBigUint64(q, true)); }
      }
      e += 4 + len;
    }
    const lName = v.getUint16(local + 26, true), lExtra = v.getUint16(local + 28, true);
    out.set(name, { offset: local + 30 + lName + lExtra, size, method });
    p = end + commentLen;
  }
  return out;
}

/**
 * Parse one .npy file.
 * @param {ArrayBuffer} buf @param {number} offset @param {number} size
 * @returns {{shape: number[], data: Float32Array|Float64Array}}
 */
export function parseNpy(buf, offset, size) {
  const b = new Uint8Array(buf, offset, size);
  if (b[0] !== 0x93 || String.fromCharCode(...b.subarray(1, 6)) !== "NUMPY") throw new Error("not a .npy array");
  const major = b[6];
  const v = new DataView(buf, offset, size);
  const hlen = major === 1 ? v.getUint16(8, true) : v.getUint32(8, true);
  const hstart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(b.subarray(hstart, hstart + hlen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? "";
  if (/'fortran_order':\s*True/.test(header)) throw new Error("Fortran-ordered arrays are not supported");
  const shape = shapeText.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const n = shape.reduce((a, c) => a * c, 1);
  const start = hstart + hlen;
  const raw = b.slice(start, start + n * (descr === "<f8" ? 8 : 4)); // copy: aligned
  if (descr === "<f4") return { shape, data: new Float32Array(raw.buffer, 0, n) };
  if (descr === "<f8") return { shape, data: new Float64Array(raw.buffer, 0, n) };
  throw new Error(`unsupported dtype ${descr}`);
}

/**
 * Named float arrays of a checkpoint (skips the JSON metadata entries).
 * @param {ArrayBuffer} buf @param {(name: string) => boolean} [want]
 * @returns {Map<string, {shape: number[], data: Float32Array|Float64Array}>} "7.b" -> array
 */
export function readNpz(buf, want = () => true) {
  const out = new Map();
  for (const [name, e] of zipEntries(buf)) {
    const key = name.replace(/\.npy$/, "");
    if (!want(key) || e.method !== 0) continue;
    try { out.set(key, parseNpy(buf, e.offset, e.size)); } catch { /* not a float array (metadata) */ }
  }
  return out;
}
