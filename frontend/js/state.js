// @ts-check
/**
 * The page's state, in one place: the runs as the server last described them, which one is
 * watched, what the watched run has sent (charts, heavy frames, epochs), and the connection.
 * Panels read it and mark themselves dirty; drawing happens once per frame (scheduler.js).
 * Also the page's one way to report a problem (toasts) and to name a run.
 */
import { FrameHistory } from "./history.js";
import { esc } from "./heatmap.js";
import { LIVE_STATUSES, ACTIVE_STATUSES, olderSummary } from "./protocol.js";
import { t, errText, checkpointName } from "./i18n.js";

/** @param {string} id */
export const $ = (id) => /** @type {any} */ (document.getElementById(id));

export const S = {
  /** @type {Map<string, any>} RunSummary by id */ runs: new Map(),
  /** @type {string|null} */ watched: null,
  /** Who this page is, from the socket's hello (null until then). @type {{owner: string, role: string}|null} */
  you: null,
  /** How the page came to watch it (follow.js): only "latest" moves to a run that starts. @type {import("./follow.js").Following} */
  following: "latest",
  /** @type {any} RunDetail of the watched run */ detail: null,
  /** @type {string|null} the run that trains now */ current: null,
  /** @type {string|null} the class run the teacher pinned */ pinned: null,
  lastStep: -1,
  /** @type {number|null} */ speed: null,
  /** The learning rate the watched run last used (the schedule's, not the base). @type {{step: number, lr: number}|null} */ lrUsed: null,
  /** @type {any[]} */ epochs: [],
  /** @type {any[]} loss-chart marks: {step, kind, value} */ marks: [],
  kernels: new FrameHistory(100),
  probes: new FrameHistory(100),
  gradients: new FrameHistory(100),
  live: true,
  timelineIndex: 0,
  selectedProbe: 0,
  /** @type {string|null} */ compare: null,
  /** @type {any} */ prediction: null,
  predictId: 0,
  shownId: 0,
  archOk: true,
  /** The watched run has no weights yet (queued, just started): read with the default model. */
  fallback: false,
  defaultModel: "cnn",
  /** The socket is down: what the page shows is the last known state. */
  stale: false,
  /** @type {any[]} GET /api/probes */ probeList: [],
};

/** A run's human name ("cnn #3"), never its hex id where a name is known. @param {string|null|undefined} id */
export function runName(id) {
  if (!id) return "";
  return S.runs.get(id)?.name ?? id;
}

/**
 * A model id as a person reads it: bundled names as they are, a run's id by the run's name, a
 * checkpoint as "name · epoch-002". @param {string|null|undefined} model
 */
export function modelName(model) {
  if (!model) return "";
  const [run, ckpt] = model.split(":");
  if (!S.runs.has(run)) return model;
  return ckpt ? `${runName(run)} · ${checkpointName(ckpt)}` : runName(run);
}

/** The watched run's summary, or null. */
export const watchedRun = () => (S.watched ? S.runs.get(S.watched) ?? null : null);
/** @param {any} run */
export const isActive = (run) => !!run && ACTIVE_STATUSES.includes(run.status);
/** @param {any} run */
export const isLive = (run) => !!run && LIVE_STATUSES.includes(run.status);

// -- toasts: every server or network error is shown, never swallowed ---------------------------
/** @param {string} message @param {"error"|"info"} [kind] */
export function toast(message, kind = "error") {
  const box = $("toasts");
  const el = document.createElement("div");
  el.className = `toast ${kind}`;
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  el.innerHTML = `<p>${esc(message)}</p><button type="button" aria-label="${esc(t("toast.dismiss"))}">✕</button>`;
  el.querySelector("button")?.addEventListener("click", () => el.remove());
  box.append(el);
  while (box.children.length > 4) box.firstElementChild?.remove();
  setTimeout(() => el.remove(), kind === "error" ? 12000 : 6000);
  if (kind === "error") console.warn("glassnet:", message);
}

/** A promise whose failure becomes a toast (and null). @template T @param {Promise<T>} p @param {string} what @returns {Promise<T|null>} */
export const attempt = (p, what) => p.catch((e) => { toast(`${what}: ${errText(e)}`); return null; });

/** A summary from a RunDetail (without the heavy fields). @param {any} d */
export const pickSummary = (d) => { const { spec, config, checkpoints, ...rest } = d; return rest; };

/** @type {((prev: any, next: any) => void)[]} who wants to hear that a run changed */
const listeners = [];
/** @param {(prev: any, next: any) => void} fn */
export const onRunChange = (fn) => { listeners.push(fn); };

/**
 * Merge a run's new summary in (from a status event or a control's answer, whichever comes
 * first) and tell the listeners what changed; a summary older than the one held is dropped.
 * @param {any} r
 */
export function updateRun(r) {
  const prev = S.runs.get(r.id);
  if (olderSummary(prev, r)) return; // read before a change the page already has
  const next = { ...(prev ?? {}), ...pickSummary(r) };
  S.runs.set(r.id, next);
  if (prev) for (const fn of listeners) fn(prev, next);
}
