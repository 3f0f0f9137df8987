// source: t.rf (referrer domain), t.us / t.uc (utm_source / utm_campaign). The landing page's
// referrer and UTM values hold for the whole visit (the tab's session), until the visitor
// arrives again from outside or through another tagged link.
K[K.length] = (x) => {
  const o = x.ok,
    lc = (s) => (s || "").toLowerCase(),
    q = new URLSearchParams(location.search),
    r = x.d.referrer && new URL(x.d.referrer).hostname;
  let v = x.io("sessionStorage");
  if (!v || /utm_/.test(location.search) || (r && !x.own(r)))
    // Other fields of the tab's object (the goals module's "g") stay.
    x.io("sessionStorage", (v = { ...v, r, s: lc(q.get("utm_source")), c: lc(q.get("utm_campaign")) }));
  x.ok = (b, t, st, now) =>
    (!t.rf || (v.r && x.sub(v.r, t.rf))) &&
    (!t.us || lc(t.us) == v.s) &&
    (!t.uc || lc(t.uc) == v.c) &&
    o(b, t, st, now);
};
