// form: the email goal (g "email"). x.f draws the form into the bar.
K[K.length] = (x) => {
  x.f = (bar) => {
    const { el, V, safe } = x,
      f = el("form", 0, bar),
      i = el(
        "input",
        { type: "email", required: 1, autocomplete: "email", placeholder: "Email", ariaLabel: "Email" },
        f
      ),
      // Honeypot: people and assistive tech never reach it, naive bots fill it in. Off-screen
      // with position:fixed, so no scroll container (a right-to-left modal) scrolls to it.
      hp = el("input", { className: "h", name: "url", tabIndex: -1, autocomplete: "off", ariaHidden: "true" }, f);
    el("button", { className: "g", textContent: V.l }, f);
    x.k += "form{display:contents}input{font:inherit;border:0;border-radius:4px;padding:6px 14px;min-width:0}.h{position:fixed;left:-9999px}";
    f.onsubmit = safe((e) => {
      e.preventDefault();
      x.send({ m: i.value, hp: hp.value }, "/l");
      x.hide(1);
      // <output> is a status live region: the thank-you text is announced.
      f.replaceWith(el("output", { textContent: V.ty || "Thanks!" }));
    });
  };
};
