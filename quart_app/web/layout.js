// The sticky top bar and the tables under it. The top bar stays at the top of the
// window as the page scrolls; the jobs table's heading row sticks just below it instead
// of sliding under it. The bar's height changes (its buttons wrap on narrow windows, the
// token button appears), so it is measured, not guessed: --topbar-bottom on the root is
// where the bar ends, and style.css sticks table headings there.

export function followTopbar(topbar, root = document.documentElement) {
  const update = () => {
    const style = getComputedStyle(topbar);
    // On phones the bar scrolls away with the page (position: static): nothing to clear.
    const bottom = style.position === "sticky" ? (parseFloat(style.top) || 0) + topbar.offsetHeight : 0;
    root.style.setProperty("--topbar-bottom", `${Math.ceil(bottom)}px`);
  };
  update();
  new ResizeObserver(update).observe(topbar);
  window.addEventListener("resize", update);
  return update;
}
