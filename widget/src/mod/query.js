// query: t.q = [[name, value or null]]: each parameter present (null) or equal (exact).
K[K.length] = (x) => {
  const o = x.ok,
    q = new URLSearchParams(location.search);
  x.ok = (b, t, st, now) =>
    !x.any(t.q, (p) => (p[1] == null ? !q.has(p[0]) : q.get(p[0]) !== p[1])) && o(b, t, st, now);
};
