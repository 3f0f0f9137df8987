// paths: t.in / t.ex, globs over the whole location.pathname ("*" = any run of characters).
K[K.length] = (x) => {
  const o = x.ok,
    glob = (g) =>
      RegExp("^" + g.replace(/\W/g, (m) => (m == "*" ? ".*" : "\\" + m)) + "$").test(location.pathname);
  x.ok = (b, t, st, now) => (!t.in?.length || x.any(t.in, glob)) && !x.any(t.ex, glob) && o(b, t, st, now);
};
