// goals: site goals c.g = [[id, name, glob or null]] and holdouts (a bar's "ho"). The first time
// in a visit a bar is shown or its visitor held out is sent once ("e" / "o", with the deployment
// in "d"); a goal is sent once per visit and bar ("g": the goal, "a": 1 for the holdout, "n":
// the value) for the bars of the visit's earlier pages when this page's path matches its glob,
// and for those of the visit up to this page view when the page calls barkeep.goal(name,
// value) or queues ["goal", name, value] in its window.barkeep array. A visit is the tab's
// session until 30 minutes pass without a page; it lives in "g" of sessionStorage.barkeep
// (shared with the source module): t the last page, e the exposures [[bar, deployment, held]],
// r the goals sent ["goal:bar"]. Nothing that identifies the visitor is stored or sent.
K[K.length] = (x) => {
  const { c, any, safe } = x,
    G = c.g || [],
    now = Date.now(),
    s = x.io("sessionStorage") || {};
  if (!G.length && !any(c.b, (b) => b.ho)) return;
  const v = (s.g = now - s.g?.t < 18e5 ? s.g : { e: [], r: [] }),
    E = v.e,
    R = v.r,
    C = [],
    e = x.e,
    save = () => x.io("sessionStorage", s),
    // Goal g (with value n) for each exposure of the visit it was not yet sent for.
    hit = (g, n) => {
      for (let i = 0; i < E.length; i++) {
        const y = E[i],
          k = g[0] + ":" + y[0];
        if (!any(R, (r) => r == k)) {
          R[R.length] = k;
          save();
          x.send({ k: "g", d: y[1], g: g[0], a: y[2], n });
        }
      }
    },
    goal = safe((m, n) => {
      n = typeof n == "number" && n >= 0 && n < 1 / 0 ? +n.toFixed(2) : void 0;
      any(G, (g) => {
        if (g[1] === m) {
          C[C.length] = [g, n];
          hit(g, n);
        }
      });
    });
  v.t = now;
  save();
  // Shown or held out: the bar's first exposure of the visit, then the goals this page called.
  x.e = safe((b, V) => {
    e(b, V);
    if (any(E, (y) => y[0] == b.i)) return;
    E[E.length] = [b.i, V.d, V.h ? 1 : 0];
    save();
    x.send({ k: V.h ? "o" : "e", d: V.d });
    any(C, (q) => {
      hit(q[0], q[1]);
    });
  });
  // Path goals count for the exposures of earlier pages only: none of this page is known yet.
  any(G, (g) => {
    g[2] &&
      RegExp("^" + g[2].replace(/\W/g, (m) => (m == "*" ? ".*" : "\\" + m)) + "$").test(location.pathname) &&
      hit(g);
  });
  if (!G.length) return;
  // The page's API: the one global, made only for a site with goals.
  let w = window.barkeep;
  if (w == null) w = window.barkeep = [];
  if (!Array.isArray(w)) return;
  const push = w.push,
    take = (i) => {
      for (; i < w.length; i++) {
        const q = w[i];
        Array.isArray(q) && q[0] == "goal" && goal(q[1], q[2]);
      }
    };
  w.push = function (...a) {
    const l = this.length,
      r = push.apply(this, a);
    safe(take)(l);
    return r;
  };
  w.goal = goal;
  take(0);
};
