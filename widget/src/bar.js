// barkeep visitor runtime: picks at most one eligible bar from the config the server splices in
// for __BK_CONFIG__, draws it in a shadow root and sends view/click/dismiss/lead beacons.
(() => {
  // Every entry point from the browser (this IIFE, timers, listeners, observers) goes through
  // `safe`: a failure here must never become an error on the member's page.
  const safe = (f) => (e, x) => {
    try {
      f(e, x);
    } catch {}
  };
  // Plain index loops only: host pages replace Array.prototype.forEach/map/some.
  const any = (a, f) => {
    for (let i = 0; a && i < a.length; i++) if (f(a[i])) return 1;
  };
  const sub = (h, dom) => h == dom || h.endsWith("." + dom);
  const lc = (s) => (s || "").toLowerCase();

  safe(() => {
    const c = __BK_CONFIG__,
      d = document,
      n = navigator,
      H = location.hostname,
      own = (h) => any(c.h, (p) => (p[0] == "*" ? sub(h, p.slice(2)) : p == h));
    if (!own(H)) return;

    const el = (tag, props, parent) => {
      const e = Object.assign(d.createElement(tag), props);
      parent && parent.append(e);
      return e;
    };
    const P = n.doNotTrack == 1 || n.globalPrivacyControl == 1;
    // A string body makes sendBeacon send text/plain: a CORS-safelisted request, no preflight.
    const send = safe((o, p = "/e") => {
      o.d = V.d;
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

    // The landing page's referrer and UTM values hold for the whole visit (the tab's session),
    // until the visitor arrives again from outside or through another tagged link.
    const q = new URLSearchParams(location.search),
      r = d.referrer && new URL(d.referrer).hostname;
    let v = io("sessionStorage");
    if (!v || /utm_/.test(location.search) || (r && !own(r)))
      io("sessionStorage", (v = { r, s: lc(q.get("utm_source")), c: lc(q.get("utm_campaign")) }));

    const mob = n.userAgentData?.mobile || /Mobi|Android|iPhone|iPad/.test(n.userAgent),
      now = Date.now(),
      glob = (g) =>
        RegExp("^" + g.replace(/\W/g, (m) => (m == "*" ? ".*" : "\\" + m)) + "$").test(
          location.pathname
        );
    let b, st;
    // The first eligible bar wins; its trigger is awaited only afterwards.
    if (
      !any(c.b, (x) => {
        const t = x.t || {};
        b = x;
        st = S[x.i] || {};
        return (
          !(st.h > now) &&
          (x.g != "call" || mob) &&
          (!t.in?.length || any(t.in, glob)) &&
          !any(t.ex, glob) &&
          (!t.dv || (t.dv == "mobile") == mob) &&
          !(now < t.sa || now >= t.ea) &&
          (!t.rf || (v.r && sub(v.r, t.rf))) &&
          (!t.us || lc(t.us) == v.s) &&
          (!t.uc || lc(t.uc) == v.c)
        );
      })
    )
      return;

    // Keep the variant first shown; pick by weight when there is none (or it was removed).
    let V,
      w = 0;
    any(b.v, (x) => {
      w += x.w;
      if (x.i === st.v) V = x;
    });
    if (!V) {
      w *= Math.random();
      any(b.v, (x) => ((V = x), (w -= x.w) < 0));
    }
    // After a dismiss (i = 0) or a conversion (i = 1): hide for f[i] days, -1 = forever.
    const hide = (i) => {
      const x = b.f?.[i];
      if (x) {
        st.h = x < 0 ? 9e15 : Date.now() + x * 864e5;
        save();
      }
    };

    let shown;
    const show = safe(() => {
      if (shown) return;
      shown = 1;
      S[b.i] = st;
      st.v = V.i;
      save();

      const top = b.p != "bottom",
        B = d.body || d.documentElement,
        still = matchMedia("(prefers-reduced-motion:reduce)").matches,
        C = V.c || [],
        host = el("barkeep-bar", 0, B),
        root = host.attachShadow({ mode: "open" }),
        css = `:host{all:initial}.b{all:initial;display:flex;flex-wrap:wrap;place-content:center;place-items:center;gap:8px;padding:8px 48px;font:15px system-ui;background:${C[0]};color:${C[1]}}a,button,input{font:inherit;border:0;border-radius:4px;padding:6px 14px}a,.x{color:inherit}.g{background:${C[2]};color:${C[3]};text-decoration:none}form{display:contents}.x{position:absolute;inset:0 0 0 auto;background:0;font-size:22px}.p{padding:0;font-size:11px}.h{position:absolute;left:-9999px}`;
      // Set through the CSSOM, which a CSP without 'unsafe-inline' allows (a style attribute
      // would not be); !important because the page's !important rules reach the host element.
      // A non-sticky bottom bar keeps top/bottom auto: its static position is the end of the
      // body, where it adds its height to the page, or (overlay) is lifted over the last content.
      host.style.cssText = `position:${b.s ? "fixed" : "absolute"}!important;inset:${
        top ? "0 0 auto" : b.s ? "auto 0 0" : "auto 0"
      }!important;z-index:2147483647!important;display:block!important;translate:0 ${
        b.o && !(top || b.s) ? -100 : 0
      }%!important`;
      // Constructable sheets are not blocked by a strict style-src; <style> is the fallback.
      try {
        const s = new CSSStyleSheet();
        s.replaceSync(css);
        root.adoptedStyleSheets = [s];
      } catch {
        el("style", { textContent: css }, root);
      }

      // A named <section> is a region landmark; <output> (below) is a status live region.
      const bar = el("section", { className: "b", ariaLabel: "Announcement" }, root);
      el("span", { textContent: V.m }, bar);
      if (b.g == "email") {
        const f = el("form", 0, bar),
          i = el(
            "input",
            { type: "email", required: 1, autocomplete: "email", placeholder: "Email", ariaLabel: "Email" },
            f
          ),
          // Honeypot: people and assistive tech never reach it, naive bots fill it in.
          hp = el(
            "input",
            { className: "h", name: "url", tabIndex: -1, autocomplete: "off", ariaHidden: "true" },
            f
          );
        el("button", { className: "g", textContent: V.l }, f);
        f.onsubmit = safe((e) => {
          e.preventDefault();
          send({ m: i.value, hp: hp.value }, "/l");
          hide(1);
          f.replaceWith(el("output", { textContent: V.ty || "Thanks!" }));
        });
      } else if (b.g != "announcement")
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
      let sp;
      b.x &&
        el(
          "button",
          {
            className: "x",
            ariaLabel: "Close",
            textContent: "×",
            onclick: safe(() => {
              ev("x");
              hide(0);
              host.remove();
              sp?.remove();
            }),
          },
          bar
        );

      // A push-down bar that is not already part of the page's end reserves its height with a
      // spacer in the flow, which grows smoothly so the content does not jump.
      if (!b.o && (top || b.s)) {
        sp = el("barkeep-sp");
        sp.style.cssText = "display:block!important";
        top ? B.prepend(sp) : B.append(sp);
        const fit = () => (sp.style.height = bar.offsetHeight + "px");
        // Under reduced motion the observer's first call (always made for a box that has a
        // size) sets the height before the next paint.
        still || sp.animate({ height: ["0", fit()] }, 300);
        new ResizeObserver(safe(fit)).observe(bar);
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
    });

    const T = b.tr || [],
      k = T[0],
      N = T[1],
      go = safe(() => {
        if (k == "s") {
          const f = safe(() => {
            if (scrollY >= (N / 100) * (d.documentElement.scrollHeight - innerHeight)) {
              removeEventListener("scroll", f);
              show();
            }
          });
          addEventListener("scroll", f);
          f();
        } else if (k == "e" && matchMedia("(pointer:fine)").matches)
          d.addEventListener(
            "mouseout",
            safe((e) => e.relatedTarget || e.clientY > 0 || show())
          );
        // Without a fine pointer there is no "leaving through the top": exit intent waits 10 s.
        else setTimeout(show, k == "d" ? N * 1e3 : k == "e" ? 1e4 : 0);
      });
    // The script is async: wait for the whole body so a bottom spacer really ends the page.
    d.readyState == "loading" ? d.addEventListener("DOMContentLoaded", go) : go();
  })();
})();
