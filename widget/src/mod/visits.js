// visits: counts this visitor's visits and page views in their own storage (key "_" of
// localStorage.barkeep: n visit number, p pages this visit, t page views in all, l last page,
// s the previous visit's last page; never sent) and checks t.vn / t.vc / t.ds / t.pv.
// A visit ends after 30 minutes without a page. Counting starts only on a site with a bar that
// uses these rules or a frequency ("fq"), as the server only sends this module there.
K[K.length] = (x) => {
  const { S, c, any } = x,
    now = Date.now();
  if (!any(c.b, (b) => b.fq || ((b = b.t) && (b.vn || b.vc || b.ds || b.pv)))) return;
  const u = (x.u = S._ = S._ || {});
  if (!(now - u.l < 18e5)) {
    u.s = u.l;
    u.n = (u.n || 0) + 1;
    u.p = 0;
  }
  u.p++;
  u.t = (u.t || 0) + 1;
  u.l = now;
  x.save();
  // [min, max], either null for open; a missing value (no previous visit) never matches.
  const rg = (r, v) => !r || (v != null && !(r[0] != null && v < r[0]) && !(r[1] != null && v > r[1])),
    o = x.ok;
  x.ok = (b, t, st, now) =>
    (!t.vn || (t.vn == "new") == (u.n == 1)) &&
    rg(t.vc, u.n) &&
    rg(t.ds, u.s ? Math.floor((now - u.s) / 864e5) : null) &&
    rg(t.pv, u.p) &&
    o(b, t, st, now);
};
