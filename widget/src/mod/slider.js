// slider: y "slider", a panel in a corner (p "top"/"bottom", sd "l" = left, else right) that
// slides in without covering the page or taking focus.
K[K.length] = (x) => {
  const y = x.y;
  x.y = () => {
    y();
    const { b, bar } = x;
    if (b.y != "slider") return;
    x.host.style.cssText = `position:fixed!important;${b.p == "bottom" ? "bottom" : "top"}:16px!important;${
      b.sd == "l" ? "left" : "right"
    }:16px!important;z-index:2147483647!important;display:block!important;width:min(360px,calc(100vw - 32px))!important`;
    x.k +=
      ".b{position:relative;box-sizing:border-box;width:100%;flex-flow:column;align-items:flex-start;text-align:start;padding:20px 44px 20px 20px;border-radius:8px;box-shadow:0 4px 24px #0006}.x{inset:4px 4px auto auto;padding:4px 10px}";
    matchMedia("(prefers-reduced-motion:reduce)").matches ||
      bar.animate({ opacity: [0, 1], transform: [`translateY(${b.p == "bottom" ? 24 : -24}px)`, "none"] }, 300);
  };
};
