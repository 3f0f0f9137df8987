// push: a bar (no "y") with o = 0 pushes the page down instead of covering it.
K[K.length] = (x) => {
  const o = x.y;
  x.y = () => {
    o();
    const { b, bar, d } = x,
      top = b.p != "bottom",
      B = d.body || d.documentElement;
    // A push-down bar that is not already part of the page's end reserves its height with a
    // spacer in the flow, which grows smoothly so the content does not jump.
    if (!b.y && !b.o && (top || b.s)) {
      const sp = x.el("barkeep-sp"),
        rm = x.rm,
        fit = () => (sp.style.height = bar.offsetHeight + "px");
      sp.style.cssText = "display:block!important";
      top ? B.prepend(sp) : B.append(sp);
      // Under reduced motion the observer's first call (always made for a box that has a
      // size) sets the height before the next paint.
      matchMedia("(prefers-reduced-motion:reduce)").matches || sp.animate({ height: ["0", fit()] }, 300);
      new ResizeObserver(x.safe(fit)).observe(bar);
      x.rm = () => {
        rm();
        sp.remove();
      };
    }
  };
};
