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
  "hello", "status", "metrics", "epoch", "activations", "kernels", "gradients", "prediction", "error", "class", "deleted",
]);

/** Frames the server may drop for a slow viewer (never status or epoch summaries). */
export const HEAVY_EVENTS = /** @type {const} */ (["activations", "gradients", "kernels"]);

export const RUN_STATUSES = /** @type {const} */ ([
  "queued", "running", "paused", "finished", "stopped", "diverged", "interrupted", "failed",
]);
/** The statuses by name, so no other module spells one out (tests/test_status_literals.py). */
export const STATUS = /** @type {const} */ ({
  QUEUED: "queued", RUNNING: "running", PAUSED: "paused", FINISHED: "finished", STOPPED: "stopped",
  DIVERGED: "diverged", INTERRUPTED: "interrupted", FAILED: "failed",
});

/**
 * The run state machine (backend/glassnet/service/runstate.py, served as `run_machine` by
 * GET /api/protocol; a test fails when they differ): status → action → next status (null: the
 * status stays, or the run is deleted). The buttons follow it; nothing compares statuses by hand.
 */
export const RUN_MACHINE = {
  transitions: {
    queued: { start: "running", stop: "stopped", patch: null, delete: null, interrupt: "interrupted" },
    running: { pause: "paused", stop: "stopped", patch: null, finish: "finished", diverge: "diverged", fail: "failed", interrupt: "interrupted" },
    paused: { resume: "running", step: "paused", stop: "stopped", patch: null, finish: "finished", diverge: "diverged", fail: "failed", interrupt: "interrupted" },
    finished: { delete: null },
    stopped: { resume: "queued", patch: null, delete: null },
    diverged: { resume: "queued", patch: null, delete: null },
    interrupted: { resume: "queued", patch: null, delete: null, stop: "stopped" },
    failed: { resume: "queued", patch: null, delete: null },
  },
  needs_checkpoint: { stopped: ["resume"], diverged: ["resume"], failed: ["resume"] },
  active: ["paused", "running"],
  live: ["paused", "queued", "running"],
  why_not: {
    queued: "it waits for the worker slot",
    running: "it is training",
    paused: "it is paused",
    finished: "it has trained all its epochs; start a new run from its settings to train longer",
    stopped: "it was stopped before its first checkpoint",
    diverged: "it diverged before its first checkpoint",
    interrupted: "it was interrupted",
    failed: "it failed before its first checkpoint",
  },
};
/** A run that trains or waits for `step`/`resume`: the page stays on it. */
export const ACTIVE_STATUSES = RUN_MACHINE.active;
/** Queued, training or paused: its weights are not final yet. */
export const LIVE_STATUSES = RUN_MACHINE.live;

/**
 * Whether a run's summary is older than the one the page holds: every change the server stores
 * stamps the run's `updated` (Unix time), and a summary read before a change that has since
 * arrived (a run's detail fetched as it stopped, answered after the "stopped" status event) must
 * not undo it — the page would show a stopped run training, for good.
 * @param {{updated?: number}|null|undefined} held @param {{updated?: number}} incoming
 */
export function olderSummary(held, incoming) {
  return typeof held?.updated === "number" && typeof incoming.updated === "number" && incoming.updated < held.updated;
}

/**
 * Whether a person's action applies to a run now. `resume` also needs a checkpoint for some
 * statuses: the server says so in the run's `resumable`.
 * @param {{status: string, resumable?: boolean}|null|undefined} run @param {"pause"|"resume"|"step"|"stop"|"patch"|"delete"} action
 */
export function can(run, action) {
  if (!run) return false;
  const t = /** @type {Record<string, Record<string, string|null>>} */ (RUN_MACHINE.transitions)[run.status];
  if (!t || !(action in t)) return false;
  return action === "resume" ? !!run.resumable : true;
}

/**
 * Why an action does not apply ("" when it does).
 * @param {{name?: string, status: string, resumable?: boolean}|null|undefined} run @param {"pause"|"resume"|"step"|"stop"|"patch"|"delete"} action
 */
export function whyNot(run, action) {
  if (!run) return "no run is open";
  if (can(run, action)) return "";
  const t = /** @type {Record<string, Record<string, string|null>>} */ (RUN_MACHINE.transitions)[run.status] ?? {};
  const reason = action in t ? /** @type {Record<string, string>} */ (RUN_MACHINE.why_not)[run.status] : `it is ${run.status}`;
  return `${run.name ?? "this run"} cannot ${action === "resume" ? "continue" : action}: ${reason}`;
}

/**
 * The stable codes of HTTP error bodies and "error" events (protocol.py ErrorCode); the page words
 * each through its catalogue (error.code.<code>). Checked against the server's by the drift test.
 */
export const ERROR_CODES = /** @type {const} */ ([
  "bad_request", "unauthorized", "forbidden", "not_found", "scratch_gone", "method_not_allowed", "conflict", "weights_moved", "too_large",
  "unsupported_media_type", "invalid", "invalid_json", "empty_body", "quota", "wrong_join_code", "name_taken",
  "class_full", "names_quota", "unavailable", "busy", "disk_full", "internal", "bad_json", "bad_message", "diverged",
  "failed",
]);

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
  prediction: ["model", "digit", "probabilities", "classes", "label", "prepared", "activations", "empty", "readout",
    "message", "id", "ms"],
  error: ["code", "message", "id"],
  class: ["pinned"],
  deleted: ["id", "name"],
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
  deleted: ["id", "name"],
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
