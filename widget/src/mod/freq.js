// freq: fq = [once per visit, at most N views in all (0 = no cap), every Nth page view (0/1 =
// every one)]. Views are counted in the bar's own storage entry (n views, o the visit of the
// last one); visits and page views come from the visits module (x.u).
K[K.length] = (x) => {
  const o = x.ok,
    y = x.y;
  x.ok = (b, t, st, now) => {
    const q = b.fq,
      u = x.u;
    return (
      (!q || !((q[0] && st.o == u.n) || (q[1] > 0 && st.n >= q[1]) || (q[2] > 1 && u.t % q[2]))) &&
      o(b, t, st, now)
    );
  };
  x.y = () => {
    y();
    const { b, st } = x;
    if (b.fq) {
      st.n = (st.n || 0) + 1;
      st.o = x.u.n;
    }
  };
};
