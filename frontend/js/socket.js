// @ts-check
/**
 * The live socket: parses envelopes (protocol.js), reconnects by itself with exponential backoff
 * (0.5 s, 1 s, 2 s … up to 15 s, with jitter) after a server restart, and reports its state.
 */
import { parseMessage, SeqTracker } from "./protocol.js";

/** @typedef {"connecting"|"open"|"reconnecting"|"closed"|"signedout"} SocketState */

/** How often a signed-out page looks again (a new link opened in another tab signs it back in). */
export const SIGNED_OUT_RETRY_MS = 30000;

/**
 * Delay before reconnect attempt n (0-based). Pure; exported for tests.
 * @param {number} attempt @param {number} [random] in [0, 1)
 */
export function backoff(attempt, random = Math.random()) {
  const base = Math.min(15000, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.8 + 0.4 * random));
}

export class LiveSocket {
  /**
   * @param {string} url
   * @param {{onEvent: (e: import("./protocol.js").Envelope) => void, onState: (s: SocketState, info: string) => void, onProblem: (msg: string) => void,
   *   say?: (key: string, params?: Record<string, string|number>) => string}} handlers
   *   say: the page's words for a message key (i18n.js t); without it the keys themselves
   */
  constructor(url, handlers) {
    this.url = url;
    this.h = handlers;
    const say = handlers.say ?? ((/** @type {string} */ key) => key);
    this.t = (/** @type {string} */ key, /** @type {Record<string, string|number>} */ params = {}) => say(key, params);
    /** @type {WebSocket|null} */
    this.ws = null;
    this.attempt = 0;
    this.seq = new SeqTracker();
    /** @type {SocketState} */
    this.state = "connecting";
    this.timer = 0;
    this.countdown = 0;
    this.told = false; // the signed-out notice was shown
  }

  connect() {
    clearTimeout(this.timer);
    this.set(this.attempt ? "reconnecting" : "connecting", this.attempt ? this.t("conn.trying_again", { n: this.attempt + 1 }) : this.t("head.connecting"));
    let ws;
    try { ws = new WebSocket(this.url); } catch (e) { this.h.onProblem(this.t("conn.cannot_open", { error: String(e) })); this.retry(); return; }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => { opened = true; this.attempt = 0; this.told = false; this.seq.reset(); this.set("open", this.t("conn.live")); };
    ws.onmessage = (m) => {
      if (typeof m.data !== "string") return;
      const r = parseMessage(m.data);
      if (!r.ok) { this.h.onProblem(r.error); return; }
      this.seq.see(r.envelope.seq);
      this.h.onEvent(r.envelope);
    };
    ws.onclose = async (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (ev.code === 1009) this.h.onProblem(this.t("conn.too_big"));
      if (ev.code === 1008) this.h.onProblem(this.t("conn.refused"));
      // A handshake the server refused looks like any lost connection to a page (1006): ask
      // whether the sign-in still holds. A token that changed (the teacher rotated it) is said
      // once, not retried every few seconds as "unreachable".
      if (!opened && await this.signedOut()) {
        this.set("signedout", this.t("conn.signed_out"));
        if (!this.told) { this.told = true; this.h.onProblem(this.t("conn.signed_out_long")); }
        this.timer = window.setTimeout(() => this.connect(), SIGNED_OUT_RETRY_MS);
        return;
      }
      this.retry();
    };
    ws.onerror = () => { /* onclose follows and schedules the retry */ };
  }

  /** Whether the server answers this page's sign-in with 401 (its token is no longer valid). */
  async signedOut() {
    try {
      return (await fetch("/api/me", { cache: "no-store" })).status === 401;
    } catch {
      return false; // unreachable: the usual retries
    }
  }

  retry() {
    const delay = backoff(this.attempt++);
    const until = Date.now() + delay;
    const tick = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      this.set("reconnecting", this.t("conn.retrying_in", { s: left }));
      if (Date.now() < until) this.countdown = window.setTimeout(tick, 1000);
    };
    clearTimeout(this.countdown);
    tick();
    this.timer = window.setTimeout(() => { clearTimeout(this.countdown); this.connect(); }, delay);
  }

  /** @param {SocketState} s @param {string} info */
  set(s, info) { this.state = s; this.h.onState(s, info); }

  /** @param {any} msg @returns {boolean} sent */
  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  get open() { return !!this.ws && this.ws.readyState === WebSocket.OPEN; }
}
