// @ts-check
/**
 * The header's section links when they do not all fit (a phone, or a laptop while a run's status
 * takes the room): the strip scrolls sideways, and says so. The side that hides links fades out
 * and shows a "more" button that scrolls one view further; the mouse wheel scrolls the strip
 * sideways too. Without these a mouse user saw "Learned · Epochs · Tra" and no sign of the rest.
 */

/**
 * Which sides of a strip hide content: "", "left", "right" or "both".
 * @param {number} scrollLeft @param {number} scrollWidth @param {number} clientWidth
 */
export function hiddenSides(scrollLeft, scrollWidth, clientWidth) {
  const left = scrollLeft > 1;
  const right = scrollLeft + clientWidth < scrollWidth - 1;
  return left && right ? "both" : left ? "left" : right ? "right" : "";
}

/**
 * Watch a scrolling strip: keep its ``data-hidden`` attribute true, add the two "more" buttons.
 * @param {HTMLElement} strip @param {(key: string) => string} label
 */
export function watchStrip(strip, label) {
  const wrap = document.createElement("div");
  wrap.className = "strip-wrap";
  strip.replaceWith(wrap);
  wrap.append(strip);
  /** @param {-1 | 1} dir */
  const button = (dir) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = `strip-more ${dir < 0 ? "left" : "right"}`;
    b.textContent = dir < 0 ? "‹" : "›";
    b.tabIndex = -1; // keyboard users Tab through the links themselves
    b.setAttribute("aria-hidden", "true");
    b.title = label(dir < 0 ? "head.more_left" : "head.more_right");
    b.addEventListener("click", () => strip.scrollBy({ left: dir * strip.clientWidth * 0.8, behavior: "smooth" }));
    wrap.append(b);
  };
  button(-1);
  button(1);
  const update = () => {
    wrap.dataset.hidden = hiddenSides(strip.scrollLeft, strip.scrollWidth, strip.clientWidth);
  };
  strip.addEventListener("scroll", update, { passive: true });
  // A link reached with Tab is shown: scrolled into the strip's view, never focused out of sight.
  strip.addEventListener("focusin", (e) => /** @type {HTMLElement} */ (e.target).scrollIntoView({ block: "nearest", inline: "nearest" }));
  strip.addEventListener(
    "wheel",
    (e) => {
      // A vertical wheel over a strip that scrolls sideways moves the strip, not the page.
      if (strip.scrollWidth <= strip.clientWidth || Math.abs(e.deltaX) > Math.abs(e.deltaY)) return;
      strip.scrollLeft += e.deltaY;
      e.preventDefault();
    },
    { passive: false },
  );
  new ResizeObserver(update).observe(strip);
  new MutationObserver(update).observe(strip, { childList: true, subtree: true, characterData: true });
  update();
  return update;
}
