// exit: trigger ["e"], the mouse leaving the window through the top edge; without a fine
// pointer (phones, tablets) there is no such thing, so the bar shows after 10 s instead.
K[K.length] = (x) => {
  const o = x.t;
  x.t = (k, N, show) =>
    k != "e"
      ? o(k, N, show)
      : matchMedia("(pointer:fine)").matches
        ? x.d.addEventListener(
            "mouseout",
            x.safe((e) => e.relatedTarget || e.clientY > 0 || show())
          )
        : setTimeout(show, 1e4);
};
