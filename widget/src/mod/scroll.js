// scroll: trigger ["s", N] shows the bar once N % of the page is scrolled.
K[K.length] = (x) => {
  const o = x.t;
  x.t = (k, N, show) => {
    if (k != "s") return o(k, N, show);
    const E = x.d.documentElement,
      f = x.safe(() => {
        if (scrollY >= (N / 100) * (E.scrollHeight - innerHeight)) {
          removeEventListener("scroll", f);
          show();
        }
      });
    addEventListener("scroll", f);
    f();
  };
};
