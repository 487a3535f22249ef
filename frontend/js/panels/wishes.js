// @ts-check
/**
 * The cost of one digit and the output layer's wishes: for each of the outputs, its activation,
 * what the cost wants (y: 1 for the target, 0 elsewhere), the cost term and the wish −∂C/∂a as a
 * signed bar with its number. Every number is the server's exact value (data-value holds it whole).
 */
import { fmt, cutPercent } from "../learnmath.js";
import { esc } from "../heatmap.js";
import { t } from "../i18n.js";

export class WishesView {
  /** @param {HTMLElement} root */
  constructor(root) {
    this.root = root;
  }

  /** @param {any} ex an /api/explain answer */
  show(ex) {
    const k = ex.wishes.length;
    const mse = ex.loss === "mse";
    const out = ex.layers[ex.layers.length - 1].output.values;
    const maxWish = Math.max(1e-300, ...ex.wishes.map(Math.abs));
    const rows = [];
    for (let j = 0; j < k; j++) {
      const y = j === ex.target ? 1 : 0;
      const w = ex.wishes[j];
      const pct = (Math.abs(w) / maxWish) * 50;
      const dir = w > 0 ? "up" : w < 0 ? "down" : "none";
      rows.push(`<tr data-digit="${j}" class="${j === ex.target ? "target" : ""}">
        <th scope="row">${j}</th>
        <td class="num" data-value="${out[j]}">${fmt(out[j])}</td>
        <td class="num" data-value="${ex.probabilities[j]}">${cutPercent(ex.probabilities[j])}</td>
        <td class="num">${y}</td>
        <td class="num" data-value="${ex.terms[j]}">${fmt(ex.terms[j])}</td>
        <td class="wishcell"><span class="wishbar ${dir}" data-pct="${pct.toFixed(2)}"></span></td>
        <td class="num" data-testid="wish-${j}" data-value="${w}">${w > 0 ? "+" : ""}${fmt(w)}</td>
      </tr>`);
    }
    const a = mse ? "a<sub>j</sub>" : `z<sub>j</sub> (${t("wishes.score")})`;
    const term = mse ? "(a<sub>j</sub> − y<sub>j</sub>)²" : "−y<sub>j</sub>·log p<sub>j</sub>";
    const wish = mse ? "−∂C/∂a<sub>j</sub> = −2(a<sub>j</sub> − y<sub>j</sub>)" : "−∂C/∂z<sub>j</sub> = y<sub>j</sub> − p<sub>j</sub>";
    this.root.innerHTML = `
      <p class="cost-line">${t("wishes.cost")} C = ${mse ? "Σ (a<sub>j</sub> − y<sub>j</sub>)²" : "−log p<sub>target</sub>"} =
        <b data-testid="learn-cost" data-value="${ex.cost}">${fmt(ex.cost, 5)}</b>
        <span class="muted">${t(ex.target_was_given ? "wishes.for_target" : ex.source.label != null ? "wishes.for_target_true" : "wishes.for_target_own", { target: ex.target })}</span></p>
      <div class="table-wrap" tabindex="0" role="region" aria-label="${esc(t("wishes.table.label"))}"><table class="wishes" data-testid="wishes-table">
        <thead><tr><th scope="col">${t("wishes.digit")}</th><th scope="col">${a}</th><th scope="col">p</th><th scope="col">y</th>
          <th scope="col">${t("wishes.cost_term")} ${term}</th><th scope="col" colspan="2">${t("net.wish")} ${wish}</th></tr></thead>
        <tbody>${rows.join("")}</tbody></table></div>`;
    // Bar widths through the CSSOM (a style attribute in markup would need 'unsafe-inline').
    for (const bar of /** @type {NodeListOf<HTMLElement>} */ (this.root.querySelectorAll(".wishbar"))) {
      bar.style.width = `${bar.dataset.pct}%`;
    }
    this.root.setAttribute("aria-label", t("wishes.label", { cost: fmt(ex.cost), target: ex.target, loss: ex.loss }));
  }

  clear(message = "") {
    this.root.innerHTML = message ? `<p class="muted">${esc(message)}</p>` : "";
  }
}
