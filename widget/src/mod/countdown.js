// countdown: cd = {u: end, epoch ms} or {e: seconds after this visitor first saw the bar (the
// end kept as "e" in the bar's storage entry)}, and x: the text shown when it ends (else the
// element goes away; a countdown already over without x makes the bar ineligible). Shown after
// the message, every second, in the visitor's language: localised days, then hh:mm:ss.
K[K.length] = (x) => {
  const o = x.ok,
    y = x.y;
  x.ok = (b, t, st, now) => {
    const c = b.cd;
    return (!c || c.x || !((c.u || st.e) <= now)) && o(b, t, st, now);
  };
  x.y = () => {
    y();
    const { b, st, V, bar, safe } = x,
      c = b.cd;
    if (!c) return;
    const E = c.u || (st.e = st.e || Date.now() + c.e * 1e3),
      m = bar.firstChild,
      s = x.el("span", { className: "t" }),
      N = (f) => new Intl.NumberFormat(undefined, f),
      two = N({ minimumIntegerDigits: 2 }).format,
      day = N({ style: "unit", unit: "day", unitDisplay: "long" }).format,
      tick = safe(() => {
        let r = Math.ceil((E - Date.now()) / 1e3);
        if (r > 0) {
          const D = Math.floor(r / 864e2);
          r %= 864e2;
          s.textContent =
            (D ? day(D) + " " : "") + two((r / 3600) | 0) + ":" + two(((r / 60) | 0) % 60) + ":" + two(r % 60);
        } else {
          clearInterval(id);
          const z = V.x || c.x;
          z ? ((m.textContent = z), s.remove()) : x.rm();
        }
      }),
      id = setInterval(tick, 1e3);
    // A timer is not announced on every change (implicit aria-live off).
    s.setAttribute("role", "timer");
    x.k += ".t{font-variant-numeric:tabular-nums;font-weight:700}";
    m.after(s);
    tick();
  };
};
