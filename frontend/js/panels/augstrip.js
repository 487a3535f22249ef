// @ts-check
/**
 * What augmentation does to a digit: the original beside its varied versions (POST /api/augment),
 * drawn as the pictures the network is shown while it trains.
 */
import { api } from "../api.js";
import { base64ToBytes } from "../encoding.js";
import { esc } from "../heatmap.js";
import { t, errText } from "../i18n.js";

const PROBES = 10;

export class AugmentStrip {
  /** @param {HTMLElement} root */
  constructor(root) {
    this.root = root;
    this.probe = 0;
    root.classList.add("augstrip");
  }

  /** Show the next probe digit's varied versions. */
  async next() {
    this.probe = (this.probe + 1) % PROBES;
    await this.show();
  }

  async show() {
    let r;
    try {
      r = await api("/api/augment", { method: "POST", body: { probe: this.probe % 8, count: 8, seed: this.probe } });
    } catch (e) {
      this.root.innerHTML = `<p class="err small">${esc(errText(e))}</p>`;
      return;
    }
    const tile = (/** @type {{shape: number[], data: string}} */ p, /** @type {string} */ label) => {
      const c = document.createElement("canvas");
      const [h, w] = p.shape;
      c.width = w; c.height = h;
      const ctx = /** @type {CanvasRenderingContext2D} */ (c.getContext("2d"));
      const img = ctx.createImageData(w, h);
      const bytes = base64ToBytes(p.data);
      for (let i = 0; i < w * h; i++) { img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = bytes[i]; img.data[i * 4 + 3] = 255; }
      ctx.putImageData(img, 0, 0);
      c.setAttribute("role", "img");
      c.setAttribute("aria-label", label);
      return c;
    };
    const label = r.source.label;
    const original = tile(r.original, t("aug.original", { d: label }));
    original.classList.add("original");
    this.root.replaceChildren(original, ...r.variants.map((/** @type {any} */ v, /** @type {number} */ k) => tile(v, t("aug.variant", { d: label, k: k + 1 }))));
    this.root.dataset.count = String(r.variants.length);
  }
}
