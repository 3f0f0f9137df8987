// page: t.pg = [[key, value]]: values the page gives with
// (window.barkeep = window.barkeep || []).push({key: value}), before or after this script.
// Entries already queued are read and later pushes taken (the array's push is wrapped); until a
// bar shows, each new value picks again. No global is created: the page's own array is looked
// for now, when the document is parsed and loaded, and for 15 s.
K[K.length] = (x) => {
  const { d, safe } = x,
    P = Object.create(null),
    o = x.ok,
    take = (w, i) => {
      for (; i < w.length; i++) {
        const e = w[i];
        // Only objects give values: arrays are other calls (["goal", ...]).
        if (e && typeof e == "object" && !Array.isArray(e)) for (const k in e) P[k] = e[k];
      }
      d.readyState != "loading" && x.p?.();
    };
  let a, n = 0;
  const grab = safe(() => {
    const w = window.barkeep;
    if (!Array.isArray(w) || w == a) return;
    const push = w.push;
    a = w;
    w.push = function (...v) {
      const l = this.length,
        r = push.apply(this, v);
      safe(take)(this, l);
      return r;
    };
    take(w, 0);
  });
  const id = setInterval(() => {
    grab();
    ++n > 30 && clearInterval(id);
  }, 500);
  grab();
  d.addEventListener("DOMContentLoaded", grab);
  addEventListener("load", grab);
  x.ok = (b, t, st, now) => !x.any(t.pg, (p) => !(p[0] in P) || String(P[p[0]]) != String(p[1])) && o(b, t, st, now);
};
