// @ts-check
/**
 * The status bar: the connection (live, or "server unreachable, retrying in N s"), the watched
 * run's state (visibly stale while the server is away), epoch and step, speed, time left.
 */
import { S, $, watchedRun, isActive } from "../state.js";
import { STATUS } from "../protocol.js";
import { steadyRate } from "../chartmath.js";
import { t, statusWord, duration } from "../i18n.js";
import { epochInProgress } from "../classview.js";

/**
 * @param {import("../socket.js").SocketState} state @param {string} info
 */
export function showConnection(state, info) {
  const el = document.querySelector('[data-testid="connection"]');
  if (!el) return;
  el.setAttribute("data-state", state);
  /** @type {HTMLElement} */ (el.querySelector(".txt")).textContent = info;
  const stale = state !== "open";
  if (stale !== S.stale) {
    S.stale = stale;
    document.body.classList.toggle("stale", stale);
  }
  announce();
}

/** What was last said in the status bar's live region: the connection's and the run's state. */
const said = { key: "" };

/**
 * The status bar itself is not a live region: its step count changes with every mini-batch and its
 * speed every 2 s, and a screen reader would read the whole bar each time, several times a second.
 * Its one live region (#status-say) speaks when the connection's state or the watched run's state
 * changes ("live; mlp #2: paused"); the step, speed and time left are read on demand.
 */
function announce() {
  const conn = document.querySelector('[data-testid="connection"]');
  const say = document.getElementById("status-say");
  if (!conn || !say) return;
  const run = watchedRun();
  const key = [conn.getAttribute("data-state"), run?.id ?? "", run?.name ?? "", run?.status ?? ""].join("|");
  if (key === said.key) return;
  said.key = key;
  const words = [conn.querySelector(".txt")?.textContent ?? "", document.querySelector('[data-testid="run-status"] .txt')?.textContent ?? ""];
  say.textContent = words.filter(Boolean).join(t("list.sep2"));
}

export function paintStatus() {
  const run = watchedRun();
  const pill = /** @type {HTMLElement|null} */ (document.querySelector('[data-testid="run-status"]'));
  if (!pill) return;
  pill.setAttribute("data-state", run ? run.status : "none");
  pill.classList.toggle("stale", S.stale);
  const txt = run ? `${run.name}: ${statusWord(run.status)}` : t("head.no_run");
  /** @type {HTMLElement} */ (pill.querySelector(".txt")).textContent = S.stale && run ? t("status.last_known", { txt }) : txt;
  pill.title = run ? `${S.stale ? t("status.stale.title") : t("head.the_run_being_watched.title")}: ${txt}` : t("head.no_run.title");
  announce();
  const prog = $("progress"), speed = $("speed"), eta = $("eta");
  if (!run) { prog.textContent = ""; speed.textContent = ""; eta.textContent = ""; return; }
  const total = run.total_steps ? `/${run.total_steps.toLocaleString("en-US")}` : "";
  prog.textContent = t("status.progress", { epoch: epochInProgress(run), epochs: run.epochs, step: `${run.step.toLocaleString("en-US")}${total}` });
  const active = isActive(run) && !S.stale;
  // A speed only while it trains: paused, the last figure would go stale (and one Step's "2/s" means nothing).
  const training = active && run.status === STATUS.RUNNING;
  const rate = training ? readableSpeed(S.speed) : (shown.rate = null);
  speed.textContent = rate ? t("status.speed", { n: Math.trunc(rate).toLocaleString("en-US") }) : "";
  const bs = S.detail?.id === run.id ? S.detail.config?.batch_size : null;
  const steady = training ? measured(run.id, S.speed) : (measuring.run = null);
  if (rate && bs && run.total_steps) {
    eta.textContent = steady ? t("status.left", { time: duration(((run.total_steps - run.step) * bs) / steady) }) : t("status.estimating");
  } else eta.textContent = "";
}

/** The speeds read since the shown run (re)started training, for its time left (steadyRate). */
const measuring = { run: /** @type {string|null} */ (null), readings: /** @type {{at: number, rate: number}[]} */ ([]) };

/** The steady speed of `runId`, or null while not measured well enough. @param {string} runId @param {number|null} latest */
function measured(runId, latest) {
  const now = performance.now();
  if (measuring.run !== runId) { measuring.run = runId; measuring.readings = []; }
  if (!latest) return null;
  const last = measuring.readings[measuring.readings.length - 1];
  if (!last || last.rate !== latest) measuring.readings.push({ at: now, rate: latest });
  measuring.readings = measuring.readings.filter((r, i) => i === 0 || r.at >= now - 60_000);
  return steadyRate(measuring.readings, now);
}

/** The speed the bar shows, and since when: it changes at a pace a person can read. */
const shown = { rate: /** @type {number|null} */ (null), at: 0 };
const SPEED_EVERY_MS = 2000;

/** The server's speed (already over several seconds), taken at most every 2 s. @param {number|null} latest */
function readableSpeed(latest) {
  const now = performance.now();
  if (!latest) return (shown.rate = null);
  if (shown.rate === null || now - shown.at >= SPEED_EVERY_MS) { shown.rate = latest; shown.at = now; }
  return shown.rate;
}
