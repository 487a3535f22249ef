// @ts-check
/**
 * Tells the server which heavy frames this page shows now (`{"type": "panels", "live": [...]}`):
 * the sections on screen decide (classview.liveFrames). The others still come, at most once per
 * hidden_heavy_interval_s, and the latest is sent at once when a section scrolls into view — so a
 * room of viewers looking at the charts does not receive every layer's maps.
 */
import { liveFrames, SECTION_FRAMES } from "./classview.js";

export class PanelWatch {
  /** @param {(msg: any) => boolean} send */
  constructor(send) {
    this.send = send;
    /** @type {Set<string>} */
    this.visible = new Set();
    this.sent = "";
    const observer = new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (e.isIntersecting) this.visible.add(e.target.id); else this.visible.delete(e.target.id);
      }
      this.update();
    });
    for (const id of Object.keys(SECTION_FRAMES)) {
      const el = document.getElementById(id);
      if (el) observer.observe(el);
    }
  }

  update(force = false) {
    const live = liveFrames(this.visible);
    const key = live.join(",");
    if (!force && key === this.sent) return;
    if (this.send({ type: "panels", live })) this.sent = key;
  }

  /** A new connection: say it again (the server forgets with the socket). */
  resend() { this.update(true); }
}
