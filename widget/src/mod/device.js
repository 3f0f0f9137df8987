// device: t.dv "mobile" | "desktop", and "call" bars only on mobile.
K[K.length] = (x) => {
  const o = x.ok,
    n = x.n,
    mob = n.userAgentData?.mobile || /Mobi|Android|iPhone|iPad/.test(n.userAgent);
  x.ok = (b, t, st, now) => (b.g != "call" || mob) && (!t.dv || (t.dv == "mobile") == mob) && o(b, t, st, now);
};
