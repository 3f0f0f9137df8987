// clock: t.wd (ISO weekdays, 1 = Monday), t.hr ([from, to) minutes of the day, wrapping midnight
// when from > to), in t.tz (an IANA zone) or the visitor's own zone.
K[K.length] = (x) => {
  const o = x.ok;
  // A zone the browser does not know makes the rule fail (safe gives undefined), not the pick.
  const at = x.safe((t, now) => {
    const p = {},
      h = t.hr;
    x.any(
      new Intl.DateTimeFormat("en-US", {
        timeZone: t.tz,
        weekday: "short",
        hour: "numeric",
        minute: "numeric",
        hourCycle: "h23",
      }).formatToParts(now),
      (q) => {
        p[q.type] = q.value;
      }
    );
    const wd = "MonTueWedThuFriSatSun".indexOf(p.weekday) / 3 + 1,
      m = (p.hour % 24) * 60 + +p.minute;
    return (
      (!t.wd?.length || x.any(t.wd, (w) => w == wd)) &&
      (!h || (h[0] <= h[1] ? m >= h[0] && m < h[1] : m >= h[0] || m < h[1]))
    );
  });
  x.ok = (b, t, st, now) => (!(t.wd?.length || t.hr) || at(t, now)) && o(b, t, st, now);
};
