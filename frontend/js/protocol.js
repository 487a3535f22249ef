// @ts-check
/**
 * The live stream's protocol, mirrored from backend/glassnet/service/protocol.py.
 *
 * Every server message is an envelope {v, type, run, seq, data}. `seq` counts every frame the
 * server publishes, so a gap tells this viewer that frames were dropped for it (only heavy
 * frames — activations, kernels, gradients — ever are, and metrics as a last resort).
 * tests/test_frontend_protocol.py fails when this file drifts from GET /api/protocol.
 * Pure module: no DOM.
 */

export const PROTOCOL_VERSION = 1;

/** Server -> client event types, in the server's order. */
export const EVENT_TYPES = /** @type {const} */ ([
  "hello", "status", "metrics", "epoch", "activations", "kernels", "gradients", "prediction", "error", "class",
]);

/** Frames the server may drop for a slow viewer (never status or epoch summaries). */
export const HEAVY_EVENTS = /** @type {const} */ (["activations", "gradients", "kernels"]);

export const RUN_STATUSES = /** @type {const} */ ([
  "queued", "running", "paused", "finished", "stopped", "diverged", "interrupted", "failed",
]);
/** A run that trains or waits for `step`/`resume`. */
export const ACTIVE_STATUSES = ["running", "paused"];
/** States a run can be resumed from, when it has a checkpoint (`resumable` in its summary). */
export const RESUMABLE_STATUSES = ["paused", "interrupted", "failed", "diverged"];

export const CLIENT_TYPES = /** @type {const} */ (["subscribe", "unsubscribe", "predict", "panels"]);

/** Field names of each event's `data` object. */
export const EVENT_FIELDS = {
  hello: ["version", "runs", "current", "subscribed", "max_message_bytes", "heavy_events", "pinned", "you"],
  status: ["id", "name", "status", "preset", "created", "updated", "epoch", "epochs", "step",
    "total_steps", "optimizer", "lr", "momentum", "beta1", "beta2", "weight_decay", "val_accuracy", "message",
    "resumable", "owner", "queue_position", "starts_in_s"],
  metrics: ["step", "epoch", "loss", "accuracy", "lr", "samples_per_s", "total_steps"],
  epoch: ["epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "confusion",
    "seconds", "misclassified", "extra"],
  activations: ["step", "inputs", "probes"],
  kernels: ["step", "conv", "dense"],
  gradients: ["step", "norms", "conv"],
  prediction: ["model", "digit", "probabilities", "classes", "label", "prepared", "activations", "empty", "message",
    "id", "ms"],
  error: ["code", "message", "id"],
  class: ["pinned"],
};

/** The fields every event of a type must carry (the schema's `required`). */
export const REQUIRED_FIELDS = {
  hello: ["runs", "current", "subscribed", "max_message_bytes"],
  status: ["id", "name", "status", "created", "updated", "epoch", "epochs", "step", "optimizer", "lr",
    "weight_decay"],
  metrics: ["step", "epoch", "loss", "accuracy", "lr", "samples_per_s"],
  epoch: ["epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "confusion",
    "seconds", "misclassified"],
  activations: ["step", "inputs", "probes"],
  kernels: ["step", "conv", "dense"],
  gradients: ["step", "norms", "conv"],
  prediction: ["model", "digit", "probabilities", "prepared", "empty", "message"],
  error: ["code", "message"],
  class: [],
};

/**
 * @typedef {{v: number, type: string, run: (string|null), seq: number, data: any}} Envelope
 * @typedef {{ok: true, envelope: Envelope} | {ok: false, error: string}} Parsed
 */

/**
 * Parse and check one server message.
 * @param {string} text the WebSocket message
 * @returns {Parsed}
 */
export function parseMessage(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `the server sent something that is not JSON (${String(e).slice(0, 80)})` };
  }
  return checkEnvelope(msg);
}

/**
 * @param {any} msg a decoded JSON value
 * @returns {Parsed}
 */
export function checkEnvelope(msg) {
  if (!msg || typeof msg !== "object" || Array.isArray(msg)) {
    return { ok: false, error: "a server message must be an object {v, type, run, seq, data}" };
  }
  if (msg.v !== PROTOCOL_VERSION) {
    return { ok: false, error: `protocol version ${msg.v} is not the page's version ${PROTOCOL_VERSION}: reload the page` };
  }
  if (!EVENT_TYPES.includes(msg.type)) {
    return { ok: false, error: `unknown event type ${JSON.stringify(msg.type)}` };
  }
  if (typeof msg.seq !== "number") return { ok: false, error: `${msg.type}: seq must be a number` };
  if (!msg.data || typeof msg.data !== "object") return { ok: false, error: `${msg.type}: data must be an object` };
  const missing = REQUIRED_FIELDS[/** @type {keyof typeof REQUIRED_FIELDS} */ (msg.type)].filter((f) => !(f in msg.data));
  if (missing.length) return { ok: false, error: `${msg.type}: missing field(s) ${missing.join(", ")}` };
  return { ok: true, envelope: { v: msg.v, type: msg.type, run: msg.run ?? null, seq: msg.seq, data: msg.data } };
}

/**
 * Tracks `seq` to count frames the server dropped for this viewer.
 */
export class SeqTracker {
  constructor() { this.last = -1; this.dropped = 0; }
  /** @param {number} seq @returns {number} frames missed before this one */
  see(seq) {
    let gap = 0;
    if (this.last >= 0 && seq > this.last + 1) gap = seq - this.last - 1;
    if (seq > this.last) this.last = seq;
    this.dropped += gap;
    return gap;
  }
  reset() { this.last = -1; }
}

/** @param {string} run */
export const subscribeMessage = (run) => ({ type: "subscribe", run });
/** @param {string} run */
export const unsubscribeMessage = (run) => ({ type: "unsubscribe", run });
/**
 * @param {number[][]} pixels grid in [0, 1], ink bright
 * @param {string|null} model null: the watched run, else the default model
 * @param {number} id echoed back in the prediction
 */
export function predictMessage(pixels, model, id) {
  /** @type {{type: string, pixels: number[][], id: number, model?: string}} */
  const m = { type: "predict", pixels, id };
  if (model) m.model = model;
  return m;
}
