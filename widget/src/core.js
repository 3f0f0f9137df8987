// barkeep visitor runtime, core: picks at most one eligible bar from the config the server
// splices in for __BK_CONFIG__, draws it in a shadow root and sends view/click/dismiss/lead
// beacons. Everything else (other element types, goals, triggers, targeting rules) comes from
// the modules in src/mod/, which the assembled script places between head and tail: each one
// registers a function in K, called here with the shared object `x` before anything is picked.
// Modules add to the hooks of `x` by wrapping them (see build.mjs and README.md).
(() => {
  // Every entry point from the browser (this IIFE, timers, listeners, observers) goes through
  // `safe`: a failure here must never become an error on the member's page.
  const safe =
    (f) =>
    (e, y) => {
      try {
        return f(e, y);
      } catch {}
    };
  // Plain index loops only: host pages replace Array.prototype.forEach/map/some.
  const any = (a, f) => {
    for (let i = 0; a && i < a.length; i++) if (f(a[i])) return 1;
  };

  safe(() => {
    const c = __BK_CONFIG__,
      d = document,
      n = navigator,
      H = location.hostname,
      sub = (h, dom) => h == dom || h.endsWith("." + dom),
      own = (h) => any(c.h, (p) => (p[0] == "*" ? sub(h, p.slice(2)) : p == h));
    if (!own(H)) return;

    const el = (tag, props, parent) => {
      const e = Object.assign(d.createElement(tag), props);
      parent && parent.append(e);
      return e;
    };
    const P = n.doNotTrack == 1 || n.globalPrivacyControl == 1;
    // A string body makes sendBeacon send text/plain: a CORS-safelisted request, no preflight.
    // A beacon names the shown deployment unless it names its own (goals).
    const send = safe((o, p = "/e") => {
      o.d ||= x.V.d;
      o.h = H;
      if (P) o.p = 1;
      if (n.webdriver) o.b = 1;
      const u = c.e + p,
        body = JSON.stringify(o);
      n.sendBeacon?.(u, body) ||
        fetch(u, { method: "POST", body, keepalive: true, mode: "no-cors" }).catch(() => {});
    });
    const ev = (k) => send({ k });

    // Storage can throw (private mode, sandboxed iframes): then it simply acts as empty.
    // The key is the product's name: a short one could be the page's own.
    const io = (k, o) => {
      try {
        return o ? (window[k].barkeep = JSON.stringify(o)) : JSON.parse(window[k].barkeep);
      } catch {}
    };
    const S = io("localStorage") || {},
      save = () => io("localStorage", S);

    // What the modules share. Hooks: ok (is a bar eligible), v (the variant's texts), t (await
    // the trigger), y (after the element is built, before its stylesheet), rm (take it away),
    // e (the bar was shown or its visitor held out); f (the email form) and p (pick again) are
    // set by modules / below.
    const x = {
      c,
      d,
      n,
      any,
      sub,
      own,
      el,
      safe,
      io,
      S,
      save,
      send,
      ev,
      ok: () => 1,
      v: (V) => V,
      y() {},
      e() {},
      t: (k, N, f) => setTimeout(f, k == "d" ? N * 1e3 : 0),
    };
    any(K, (f) => {
      safe(f)(x);
    });

    let shown, cur, gen = 0;
    const show = (b, st, V) => {
      if (shown) return;
      shown = 1;
      x.b = b;
      x.st = st;
      x.V = V;
      S[b.i] = st;
      st.v = V.i;
      // Held out: nothing is drawn or counted as a view, and nothing else shows on this page.
      if (V.h) return save(), x.e(b, V);
      // After a dismiss (i = 0) or a conversion (i = 1): hide for f[i] days, -1 = forever.
      const hide = (x.hide = (i) => {
        const y = b.f?.[i];
        if (y) {
          st.h = y < 0 ? 9e15 : Date.now() + y * 864e5;
          save();
        }
      });

      const top = b.p != "bottom",
        C = V.c || [],
        host = (x.host = el("barkeep-bar", 0, d.body || d.documentElement)),
        root = (x.root = host.attachShadow({ mode: "open" }));
      x.k = `:host{all:initial}.b{all:initial;display:flex;flex-wrap:wrap;place-content:center;place-items:center;gap:8px;padding:8px 48px;font:15px system-ui;background:${C[0]};color:${C[1]}}a,button{font:inherit;border:0;border-radius:4px;padding:6px 14px}a,.x{color:inherit}.g{background:${C[2]};color:${C[3]};text-decoration:none}.x{position:absolute;inset:0 0 0 auto;background:0;font-size:22px}.p{padding:0;font-size:11px}`;
      x.rm = () => host.remove();
      // Set through the CSSOM, which a CSP without 'unsafe-inline' allows (a style attribute
      // would not be); !important because the page's !important rules reach the host element.
      // A non-sticky bottom bar keeps top/bottom auto: its static position is the end of the
      // body, where it adds its height to the page, or (overlay) is lifted over the last content.
      host.style.cssText = `position:${b.s ? "fixed" : "absolute"}!important;inset:${
        top ? "0 0 auto" : b.s ? "auto 0 0" : "auto 0"
      }!important;z-index:2147483647!important;display:block!important;translate:0 ${
        b.o && !(top || b.s) ? -100 : 0
      }%!important`;

      // A named <section> is a region landmark; dir=auto lays right-to-left texts out right.
      const bar = (x.bar = el("section", { className: "b", ariaLabel: "Announcement", dir: "auto" }, root));
      el("span", { textContent: V.m }, bar);
      if (b.g == "email") x.f(bar);
      else if (b.g != "announcement")
        // The beacon is queued synchronously and the navigation is left alone.
        el(
          "a",
          {
            className: "g",
            href: V.u,
            textContent: V.l,
            onclick: safe(() => {
              ev("c");
              hide(1);
            }),
          },
          bar
        );
      V.pb &&
        el("a", { className: "p", href: c.e, target: "_blank", textContent: "Powered by barkeep" }, bar);
      x.X = safe(() => {
        ev("x");
        hide(0);
        x.rm();
      });
      b.x && el("button", { className: "x", ariaLabel: "Close", textContent: "×", onclick: x.X }, bar);
      x.y();
      save();
      x.e(b, V);

      // Constructable sheets are not blocked by a strict style-src; <style> is the fallback.
      try {
        const s = new CSSStyleSheet();
        s.replaceSync(x.k);
        root.adoptedStyleSheets = [s];
      } catch {
        el("style", { textContent: x.k }, root);
      }

      // A view counts once, and only when the bar is on screen in a visible tab.
      let seen, on;
      const look = safe(() => {
        if (!seen && on && d.visibilityState == "visible") {
          seen = 1;
          ev("v");
        }
      });
      new IntersectionObserver(
        safe((es) => {
          on = es[es.length - 1].isIntersecting;
          look();
        })
      ).observe(bar);
      d.addEventListener("visibilitychange", look);
    };

    // The first eligible bar wins; its trigger is awaited only afterwards, and a bar already
    // waiting stays unless another one is picked (page values arriving later pick again).
    const pick = (x.p = safe(() => {
      const now = Date.now();
      let b, st, V, w = 0;
      if (
        shown ||
        !any(c.b, (y) => {
          b = y;
          st = S[y.i] || {};
          return !(st.h > now) && x.ok(y, y.t || {}, st, now);
        }) ||
        b == cur
      )
        return;
      cur = b;
      // Keep the variant first shown; pick by weight when there is none (or it was removed).
      // Holdout (ho percent): a new visitor may be held out (variant 0), and stays so while
      // the bar holds visitors out; the first variant's deployment carries the holdout's counts.
      any(b.v, (y) => {
        w += y.w;
        if (y.i === st.v) V = y;
      });
      if (b.ho && (st.v == null ? Math.random() * 100 < b.ho : st.v === 0)) V = { i: 0, h: 1, d: b.v[0].d };
      if (!V) {
        w *= Math.random();
        any(b.v, (y) => ((V = y), (w -= y.w) < 0));
      }
      const g = ++gen,
        T = b.tr || [];
      x.t(
        T[0],
        T[1],
        safe(() => g == gen && show(b, st, x.v(V)))
      );
    }));
    // The script is async: wait for the whole body so a bottom spacer really ends the page.
    d.readyState == "loading" ? d.addEventListener("DOMContentLoaded", pick) : pick();
  })();
})();
