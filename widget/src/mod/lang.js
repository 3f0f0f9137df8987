// lang: t.la = {in: [tags], ex: [tags]} against navigator.languages; a tag matches a language
// equal to it or beginning with tag + "-" (lowercased).
K[K.length] = (x) => {
  const o = x.ok,
    L = x.n.languages || [x.n.language],
    has = (tags) =>
      x.any(tags, (g) =>
        x.any(L, (l) => ((l = (l || "").toLowerCase()), (g = g.toLowerCase()), l == g || l.startsWith(g + "-")))
      );
  x.ok = (b, t, st, now) => {
    const a = t.la;
    return (!a || ((!a.in || has(a.in)) && !has(a.ex))) && o(b, t, st, now);
  };
};
