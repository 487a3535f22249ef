// @ts-check
/**
 * DOM-free helpers of the class view and of the page's panel subscriptions: which heavy frames
 * the visible sections need, a run's progress and its place in the queue as words, "my runs"
 * versus "class runs". Tested by test/classview.test.js.
 */

/**
 * Heavy frames each section draws while it is on screen (service/hub.py sends those live, the
 * others at most once per hidden_heavy_interval_s). The Draw pad re-reads the drawing when the
 * kernels move, so it wants the (small) kernels frame too.
 * @type {Record<string, string[]>}
 */
export const SECTION_FRAMES = {
  draw: ["kernels"],
  learned: ["activations", "kernels", "gradients"],
};

/**
 * @param {Iterable<string>} visible ids of the sections on screen
 * @returns {string[]} heavy event types to receive live, sorted
 */
export function liveFrames(visible) {
  const out = new Set();
  for (const id of visible) for (const t of SECTION_FRAMES[id] ?? []) out.add(t);
  return [...out].sort();
}

/**
 * The epoch a person reads for a run, the status bar's and the Runs table's alike: the one in
 * progress ("1" while the first trains, or after a stop inside it), the last once all are done.
 * `run.epoch` counts finished epochs. @param {{epoch: number, epochs: number}} run @returns {number}
 */
export const epochInProgress = (run) => Math.min(run.epoch + 1, run.epochs);

/** @param {any} run a RunSummary @returns {string} */
export function progress(run) {
  if (run.total_steps) return `${Math.floor((100 * run.step) / run.total_steps)}%`;
  return `${run.epoch}/${run.epochs}`;
}

/**
 * A waiting run's place and estimated start, as a person reads it, in the page's language.
 * @typedef {(key: string, params?: Record<string, string|number>) => string} Say the catalogue's t()
 * @param {any} run a RunSummary @param {Say} say @returns {string}
 */
export function queueWords(run, say) {
  if (run.queue_position == null) return "";
  const place = run.queue_position === 1 ? say("class.next") : say("class.in_line", { pos: run.queue_position });
  if (run.starts_in_s == null) return say("class.start_unknown", { place });
  return say("class.starts", { place, when: inAbout(run.starts_in_s, say) });
}

/** @param {number} seconds @param {Say} say @returns {string} */
export function inAbout(seconds, say) {
  if (seconds < 1) return say("class.now");
  if (seconds < 90) return say("class.in_s", { n: Math.round(seconds) });
  if (seconds < 5400) return say("class.in_min", { n: Math.round(seconds / 60) });
  return say("class.in_h", { n: (seconds / 3600).toFixed(1) });
}

/**
 * @param {any[]} runs RunSummary list
 * @param {"mine"|"class"} mode
 * @param {string} me the owner name of this page
 * @returns {any[]}
 */
export function pickRuns(runs, mode, me) {
  return mode === "mine" ? runs.filter((r) => r.owner === me) : runs;
}

/** @typedef {{owner: string, role: string}} You who this page is (the socket's hello) */

/**
 * Whether this page may change a run, as the server decides it (owners.py ``may_control``): the
 * teacher any, a student (or a browser with its own name) only their own, a viewer none. Who the
 * page is not known yet: every button is shown, and the server still refuses with a 403.
 * @param {You|null|undefined} you @param {{owner?: string|null}} run
 */
export function mayControl(you, run) {
  if (!you) return true;
  return you.role === "teacher" || (you.role !== "viewer" && run.owner === you.owner);
}

/**
 * Why the join page refused, in the page's language (QA3 class #5): a wrong code, a name the class
 * has (ask the teacher for your link: typing a name never hands out its token), a full class, or
 * too many names from this network, with the real wait (its ``Retry-After``) — never a setting's
 * name, which is for the server's log — or a name that cannot be one (QA5 class #3: the server's
 * English sentence and "(422)" stood on the 中文 page; the code is checked first, so a 422 from
 * /api/join is about the name). Other refusals: null (the caller says them its usual way).
 * @param {{code?: string|null, status?: number, retryAfter?: number|null}} e an ApiError
 * @param {string} name the name typed
 * @param {(key: string, params?: Record<string, unknown>) => string} say
 * @returns {string|null}
 */
export function joinRefusal(e, name, say) {
  switch (e?.code) {
    case "wrong_join_code": return say("join.refused.code");
    case "name_taken": return say("join.refused.taken", { name });
    case "class_full": return say("join.refused.full");
    case "invalid": return e.status === 422 ? say("join.refused.name", { name }) : null;
    case "names_quota": {
      const wait = e.retryAfter != null && e.retryAfter > 0 ? e.retryAfter : null;
      return wait == null ? say("join.refused.quota_soon") : say("join.refused.quota", { when: inAbout(wait, say) });
    }
    default: return null;
  }
}

/**
 * Where a student's link points (QA5 class #5). The server answers a link as `/?token=…`; made on
 * a teacher's page open on this machine (http://127.0.0.1:8000/, as `serve` says to open it), it
 * read http://127.0.0.1:8000/?token=…, which opens nowhere but on the teacher's machine. Then the
 * server's first address for other machines (`addresses` of GET /api/class) is used instead, as
 * `serve` prints them; a page opened at any other address keeps its own.
 * @param {string} link the server's link, `/?token=…`
 * @param {string} page the page's address (location.href)
 * @param {string[]|null|undefined} addresses the server's addresses for other machines
 * @returns {string} the link in full
 */
export function studentLink(link, page, addresses) {
  const here = new URL(page);
  const host = here.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const loopback = host === "localhost" || host.endsWith(".localhost") || host === "::1" || /^127\./.test(host);
  return new URL(link, loopback && addresses?.length ? addresses[0] : here.href).href;
}

/**
 * When a student joined, as the roster shows it: the time alone on the day it is read, the date
 * too on another day (a lesson's roster kept over night: yesterday's 09:05 is not today's).
 * @param {number} joined seconds since 1970 (the server's clock)
 * @param {Date} now the reader's now
 * @param {string | undefined} lang the page's language ("en", "zh-CN")
 */
export function joinedWhen(joined, now, lang) {
  const at = new Date(joined * 1000);
  const time = at.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" });
  if (at.toDateString() === now.toDateString()) return time;
  return `${at.toLocaleDateString(lang, { day: "numeric", month: "short" })} ${time}`;
}
