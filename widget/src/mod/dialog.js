// dialog: y "modal" (centred over a dimmed page; a click on the dimmed part closes it) and
// y "takeover" (the whole viewport). Both are modal dialogs: focus moves in and stays in (Tab,
// Shift+Tab), Escape and the close button (always there) close them, and focus goes back to
// what had it. The page behind cannot scroll (wheel, touch and scrolling keys are held), and
// nothing about the page's own layout changes.
K[K.length] = (x) => {
  const y = x.y;
  x.y = () => {
    y();
    const { b, bar, host, root, d, el, safe } = x,
      T = b.y == "takeover",
      C = x.V.c || [];
    if (!T && b.y != "modal") return;
    const bd = el("div", { className: "d" }, root),
      prev = d.activeElement,
      rm = x.rm,
      stop = (e) => e.preventDefault(),
      list = () => bar.querySelectorAll("a[href],button,input:not(.h)"),
      first = () => list()[0],
      key = safe((e) => {
        const f = list(),
          a = root.activeElement,
          k = e.key,
          z = e.shiftKey ? f[0] : f[f.length - 1];
        if (k == "Escape") x.X();
        else if (k == "Tab") {
          if (!a || a == z) {
            stop(e);
            (e.shiftKey ? f[f.length - 1] : f[0]).focus();
          }
        } else {
          // Keys that would scroll the page: Space (unless typing or pressing a button),
          // Home / End (unless moving in the field), pages and lines always.
          const g = a?.tagName;
          (k == " " ? !/^(INPUT|BUTTON)$/.test(g) : /^(Home|End)$/.test(k) ? g != "INPUT" : /^(Page|Arrow(Up|Down))/.test(k)) &&
            stop(e);
        }
      }),
      keep = safe((e) => e.target == host || first().focus()),
      on = (t, f, o) => {
        d.addEventListener(t, f, o);
        return () => d.removeEventListener(t, f, o);
      },
      off1 = on("keydown", key, true),
      off2 = on("focusin", keep);
    bar.setAttribute("role", "dialog");
    bar.setAttribute("aria-modal", "true");
    bd.append(bar);
    b.x || el("button", { className: "x", ariaLabel: "Close", textContent: "×", onclick: x.X }, bar);
    // (A handler returning false would cancel the click: this one returns nothing.)
    T ||
      (bd.onclick = safe((e) => {
        e.target == bd && x.X();
      }));
    // A panel taller than a small screen scrolls itself (overscroll-behavior keeps that
    // from reaching the page); anything else would scroll the page.
    const hold = safe((e) => (bar.scrollHeight > bar.clientHeight && bar.contains(e.composedPath()[0])) || stop(e));
    host.addEventListener("wheel", hold, { passive: false });
    host.addEventListener("touchmove", hold, { passive: false });
    host.style.cssText =
      "position:fixed!important;inset:0!important;z-index:2147483647!important;display:block!important";
    x.k +=
      `.d{position:fixed;inset:0;display:flex;align-items:center;justify-content:center;box-sizing:border-box;padding:${
        T ? 0 : 16
      }px;background:${T ? C[0] : "#000a"}}.b{position:relative;box-sizing:border-box;flex-flow:column;gap:16px;text-align:center;overflow:auto;overscroll-behavior:contain;max-height:100%;` +
      (T
        ? "width:100%;height:100%;padding:56px 24px;font-size:clamp(20px,5vw,32px)"
        : "width:min(100%,480px);padding:48px 24px 24px;border-radius:8px;font-size:17px") +
      "}.x{inset:4px 4px auto auto;padding:4px 10px}";
    matchMedia("(prefers-reduced-motion:reduce)").matches ||
      (bd.animate({ opacity: [0, 1] }, 200), T || bar.animate({ transform: ["scale(.95)", "none"] }, 200));
    x.rm = () => {
      rm();
      off1();
      off2();
      prev?.focus?.({ preventScroll: true });
    };
    first().focus({ preventScroll: true });
  };
};
