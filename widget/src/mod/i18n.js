// i18n: a variant's "tx" = {tag: {m, l, ty, x}}: the visitor's first language (in
// navigator.languages order) with a translation, exactly or by its primary subtag, gives the
// texts it has; the others stay the variant's own.
K[K.length] = (x) => {
  const o = x.v,
    L = x.n.languages || [x.n.language];
  x.v = (V) => {
    const T = V.tx;
    let W;
    T &&
      x.any(L, (l) => {
        l = (l || "").toLowerCase();
        return (W = T[l] || T[l.split("-")[0]]);
      });
    if (W) {
      V = Object.assign({}, V);
      x.any(["m", "l", "ty", "x"], (k) => {
        if (W[k] != null) V[k] = W[k];
      });
    }
    return o(V);
  };
};
