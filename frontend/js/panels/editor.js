// @ts-check
/**
 * The architecture editor (add, remove, reorder layers, edit their options; shapes and parameter
 * counts update as you type, computed by arch.js and confirmed by POST /api/architecture) and the
 * training settings form. The presets and layer types come from the server (GET /api/presets,
 * GET /api/layers). It shows the watched run's network and settings (read-only while that run
 * trains) or the network the next run will train.
 */
import { inferShapes, presetSpec, newLayer, moveLayer, shapeLabel } from "../arch.js";
import { esc } from "../heatmap.js";
import { t, presetDescription, archMessage, errText, layerTypeName } from "../i18n.js";

/** @typedef {import("../arch.js").Catalog} Catalog @typedef {import("../arch.js").Presets} Presets */

let ACT = /** @type {string[]} */ ([]);
const POOL = ["maxpool2d", "avgpool2d"];
/** Options each type shows: [key, label (catalogue: editor.field.<label>), kind]. */
const FIELDS = /** @type {Record<string, [string, string, string][]>} */ ({
  conv2d: [["filters", "kernels", "int"], ["kernel", "size", "int"], ["stride", "stride", "int"], ["padding", "padding", "pad"]],
  maxpool2d: [["size", "size", "int"], ["stride", "stride", "int"]],
  avgpool2d: [["size", "size", "int"], ["stride", "stride", "int"]],
  dense: [["units", "units", "int"]],
  leaky_relu: [["alpha", "slope", "float"]],
  dropout: [["rate", "rate", "float"]],
});

export class Editor {
  /**
   * @param {{table: HTMLTableElement, total: HTMLElement, error: HTMLElement, preset: HTMLSelectElement, desc: HTMLElement,
   *   addType: HTMLSelectElement, addButton: HTMLButtonElement, form: HTMLFormElement}} els
   * @param {{check: (spec: any) => Promise<any>, onValidity: (ok: boolean) => void, onEdit?: () => void}} hooks
   *   onEdit: the person changed the network or chose a preset (not called when a run or preset is shown by code)
   */
  constructor(els, hooks) {
    this.els = els;
    this.hooks = hooks;
    this.presetName = "cnn";
    /** @type {Catalog|null} */
    this.cat = null;
    /** @type {Presets} */
    this.presets = {};
    /** @type {import("../arch.js").Spec} */
    this.spec = { layers: [] };
    this.readOnly = false;
    this.serverError = "";
    this.checkTimer = 0;
    this.checkSeq = 0;
    els.form.addEventListener("change", () => this.showScheduleOptions());
    els.preset.addEventListener("change", () => {
      if (els.preset.value !== "custom") this.loadPreset(/** @type {any} */ (els.preset.value));
      this.hooks.onEdit?.();
    });
    els.addButton.addEventListener("click", () => {
      if (!this.cat) return;
      const layers = this.spec.layers.slice();
      // Insert before the output head when it exists, so the network stays a digit reader.
      const at = Math.max(0, layers.length - 1);
      layers.splice(at, 0, newLayer(this.cat, els.addType.value));
      this.spec.layers = layers;
      this.edited();
      this.build();
    });
  }

  /** What the server serves: the layer types and limits, and the presets. @param {Catalog} cat @param {Presets} presets */
  setCatalog(cat, presets) {
    this.cat = cat;
    this.presets = presets;
    ACT = cat.layers.filter((l) => l.activation).map((l) => l.type);
    const sel = this.els.preset;
    const keep = sel.value;
    sel.replaceChildren(...Object.values(presets).map((p) => new Option(p.name, p.name)), new Option(t("editor.custom_edited"), "custom"));
    if (keep && keep in presets) sel.value = keep;
    const add = this.els.addType;
    add.replaceChildren(...cat.layers.filter((l) => l.type !== "softmax").map((l) => new Option(layerTypeName(l.type), l.type)));
    if (!this.spec.layers.length) this.loadPreset("cnn" in presets ? "cnn" : Object.keys(presets)[0]);
  }

  /** @param {string} name */
  loadPreset(name) {
    if (!this.presets[name]) return;
    this.presetName = name;
    this.spec = presetSpec(this.presets, name);
    this.els.preset.value = name;
    this.els.desc.textContent = presetDescription(this.presets[name]);
    this.fill({ ...this.presets[name].train, loss: this.spec.loss ?? "cross_entropy" });
    this.build();
  }

  /**
   * The settings form filled from a run's or a preset's training settings.
   * @param {Record<string, any>} t TrainConfig-like (optimizer, lr, …, loss)
   */
  fill(t) {
    const f = this.els.form;
    for (const key of Object.keys(t)) {
      const el = /** @type {HTMLInputElement|null} */ (f.elements.namedItem(key));
      if (el && t[key] !== null && t[key] !== undefined) el.value = String(t[key]);
    }
    this.showScheduleOptions();
  }

  /**
   * Show a run's network and settings. @param {any} detail RunDetail
   */
  showRun(detail) {
    const spec = JSON.parse(JSON.stringify(detail.spec));
    this.presetName = detail.preset ?? "custom";
    this.spec = { input_shape: spec.input_shape, layers: spec.layers, loss: spec.loss };
    this.els.preset.value = this.presetName in this.presets ? this.presetName : "custom";
    this.els.desc.textContent = (this.presets[this.presetName] ? presetDescription(this.presets[this.presetName]) : t("editor.own_network"));
    this.fill({ ...detail.config, loss: spec.loss ?? "cross_entropy" });
    this.build();
  }

  /**
   * Hold a network given as a spec (the notes path's example) as an edit of the current one.
   * @param {any} spec @returns {import("../arch.js").Inferred|null} its shapes and parameter counts
   */
  loadSpec(spec) {
    this.spec = JSON.parse(JSON.stringify({ ...spec, loss: this.spec.loss }));
    this.edited();
    this.build();
    return this.cat ? inferShapes(this.spec, this.cat) : null;
  }

  /** Lock or unlock every control of the editor and the form. @param {boolean} on */
  setReadOnly(on) {
    if (on === this.readOnly) return;
    this.readOnly = on;
    const root = /** @type {HTMLElement} */ (this.els.form.closest(".train-grid") ?? this.els.form);
    for (const el of root.querySelectorAll(".editor-card select, .editor-card input, .editor-card button, #hyper select, #hyper input")) {
      /** @type {HTMLInputElement} */ (el).disabled = on;
    }
    if (!on) this.build();
  }

  /** The step schedule's two settings show only when it is chosen; each optimizer shows its own
   * settings (momentum for SGD with momentum, β₁ and β₂ for Adam). */
  showScheduleOptions() {
    const f = this.els.form;
    const step = /** @type {HTMLSelectElement} */ (f.elements.namedItem("schedule")).value === "step";
    for (const el of f.querySelectorAll(".step-only")) /** @type {HTMLElement} */ (el).hidden = !step;
    const opt = /** @type {HTMLSelectElement} */ (f.elements.namedItem("optimizer")).value;
    for (const el of f.querySelectorAll(".opt-momentum")) /** @type {HTMLElement} */ (el).hidden = opt !== "momentum";
    for (const el of f.querySelectorAll(".opt-adam")) /** @type {HTMLElement} */ (el).hidden = opt !== "adam";
  }

  edited() {
    if (this.presetName !== "custom") { this.presetName = "custom"; this.els.preset.value = "custom"; this.els.desc.textContent = t("editor.your_own"); }
    this.hooks.onEdit?.();
  }

  build() {
    const tbody = /** @type {HTMLElement} */ (this.els.table.tBodies[0]);
    tbody.replaceChildren();
    if (!this.cat) return;
    const cat = this.cat;
    this.spec.layers.forEach((layer, i) => {
      const tr = document.createElement("tr");
      if (ACT.includes(layer.type) || layer.type === "flatten" || layer.type === "dropout") tr.className = "act";
      const typeCell = document.createElement("td");
      const group = ACT.includes(layer.type) ? ACT : POOL.includes(layer.type) ? POOL : null;
      if (group) {
        const sel = document.createElement("select");
        sel.setAttribute("aria-label", t("editor.layer_type", { i }));
        for (const t of group) sel.add(new Option(layerTypeName(t), t, false, t === layer.type));
        sel.addEventListener("change", () => {
          const keep = POOL.includes(sel.value) ? { size: layer.size, stride: layer.stride } : {};
          this.spec.layers[i] = { ...newLayer(cat, sel.value), ...keep };
          this.edited(); this.build();
        });
        typeCell.append(sel);
      } else typeCell.textContent = layerTypeName(layer.type);
      const opts = document.createElement("td");
      const box = document.createElement("div");
      box.className = "opts";
      for (const [key, label, kind] of FIELDS[layer.type] ?? []) {
        const lab = document.createElement("label");
        lab.append(t(`editor.field.${label}`) + " ");
        let input;
        if (kind === "pad") {
          input = document.createElement("select");
          input.add(new Option(t("editor.pad.valid"), "valid")); input.add(new Option(t("editor.pad.same"), "same"));
          input.value = layer[key] ?? "valid";
        } else {
          input = document.createElement("input");
          input.type = "number";
          input.step = kind === "int" ? "1" : "any";
          input.min = kind === "int" ? "1" : "0";
          input.value = String(layer[key] ?? "");
        }
        input.setAttribute("aria-label", t("editor.layer_field", { i, field: t(`editor.field.${label}`) }));
        input.dataset.key = key;
        input.addEventListener("input", () => {
          const raw = /** @type {HTMLInputElement} */ (input).value;
          layer[key] = kind === "pad" ? raw : raw === "" ? null : kind === "int" ? (Number.isInteger(Number(raw)) ? Number(raw) : raw) : Number(raw);
          this.edited();
          this.update();
        });
        lab.append(input);
        box.append(lab);
      }
      opts.append(box);
      const shape = document.createElement("td"); shape.className = "shape";
      shape.dataset.label = t("train.output"); // its name on a phone, where the table becomes cards
      const params = document.createElement("td"); params.className = "num";
      const act = document.createElement("td");
      const mk = (/** @type {string} */ text, /** @type {string} */ label, /** @type {() => void} */ fn, /** @type {boolean} */ disabled) => {
        const b = document.createElement("button");
        b.type = "button"; b.className = "small"; b.textContent = text; b.setAttribute("aria-label", label); b.title = label; b.disabled = disabled;
        b.addEventListener("click", () => { fn(); this.edited(); this.build(); });
        return b;
      };
      const n = this.spec.layers.length;
      act.append(
        mk("↑", t("editor.move_up", { i }), () => { this.spec.layers = moveLayer(this.spec.layers, i, -1); }, i === 0),
        mk("↓", t("editor.move_down", { i }), () => { this.spec.layers = moveLayer(this.spec.layers, i, 1); }, i === n - 1),
        mk("✕", t("editor.remove", { i }), () => { this.spec.layers = this.spec.layers.filter((_, j) => j !== i); }, n <= 1),
      );
      const idx = document.createElement("td"); idx.textContent = String(i);
      tr.append(idx, typeCell, opts, shape, params, act);
      tbody.append(tr);
    });
    if (this.readOnly) for (const el of tbody.querySelectorAll("input, select, button")) /** @type {HTMLInputElement} */ (el).disabled = true;
    this.update();
  }

  /** Recompute shapes and counts (no DOM rebuild, so typing keeps focus). */
  update() {
    if (!this.cat) return null;
    this.spec.loss = /** @type {HTMLSelectElement} */ (this.els.form.elements.namedItem("loss")).value;
    const r = inferShapes(this.spec, this.cat);
    const rows = this.els.table.tBodies[0].rows;
    for (let i = 0; i < rows.length; i++) {
      const row = r.rows[i];
      const tr = rows[i];
      tr.classList.toggle("bad", r.error?.index === i);
      tr.cells[3].textContent = row ? shapeLabel(row.outShape) : r.error?.index === i ? t("editor.does_not_fit") : "–";
      tr.cells[4].innerHTML = row ? (row.params ? `${row.params.toLocaleString("en-US")}<span class="formula">${esc(row.formula)}</span>` : "0") : "–";
    }
    this.els.total.textContent = r.error && !r.rows.length ? "–" : t("editor.total", { n: r.total.toLocaleString("en-US") });
    this.localError = r.error ? archMessage(r.error) : "";
    this.serverError = "";
    this.showError();
    this.hooks.onValidity(!r.error);
    // Confirm with the server (it builds the real network): debounced, latest answer wins.
    clearTimeout(this.checkTimer);
    const seq = ++this.checkSeq; // every edit: an answer about an earlier network is ignored
    if (!r.error) {
      const spec = this.modelSpec();
      this.checkTimer = window.setTimeout(async () => {
        try { await this.hooks.check(spec); if (seq === this.checkSeq) { this.serverError = ""; this.showError(); this.hooks.onValidity(true); } }
        catch (e) {
          if (seq !== this.checkSeq) return;
          const err = /** @type {any} */ (e);
          if (err.status === 422) { this.serverError = errText(err).replace(/ \(422\)$/, ""); this.showError(); this.hooks.onValidity(false); }
        }
      }, 250);
    }
    return r;
  }

  showError() {
    const msg = this.localError || this.serverError;
    this.els.error.hidden = !msg;
    this.els.error.textContent = msg ? t("editor.does_not_fit_msg", { msg }) : "";
  }

  modelSpec() {
    return { input_shape: this.spec.input_shape ?? [1, 28, 28], layers: this.spec.layers, loss: this.spec.loss ?? "cross_entropy" };
  }

  /** The body of POST /api/runs. */
  runBody() {
    const f = this.els.form;
    /** @type {Record<string, any>} */
    const body = {};
    const num = (/** @type {string} */ k, /** @type {boolean} */ int) => {
      const v = /** @type {HTMLInputElement} */ (f.elements.namedItem(k)).value.trim();
      if (v === "") return;
      body[k] = int ? parseInt(v, 10) : parseFloat(v);
    };
    body.optimizer = /** @type {HTMLSelectElement} */ (f.elements.namedItem("optimizer")).value;
    body.schedule = /** @type {HTMLSelectElement} */ (f.elements.namedItem("schedule")).value;
    num("lr", false); num("weight_decay", false);
    if (body.optimizer === "momentum") num("momentum", false);
    if (body.optimizer === "adam") { num("beta1", false); num("beta2", false); }
    num("batch_size", true); num("epochs", true); num("seed", true);
    if (body.schedule === "step") { num("step_epochs", true); num("gamma", false); }
    body.loss = /** @type {HTMLSelectElement} */ (f.elements.namedItem("loss")).value;
    if (/** @type {HTMLInputElement} */ (f.elements.namedItem("augment")).checked) body.augment = true;
    if (this.presetName !== "custom") body.preset = this.presetName;
    else body.spec = this.modelSpec();
    return body;
  }
}
