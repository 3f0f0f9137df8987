/* Dashboard enhancements. Pages work without them; each one acts only on
   the elements it finds. */
(() => {
  'use strict';

  const all = (sel) => document.querySelectorAll(sel);
  const byId = (id) => (id ? document.getElementById(id) : null);
  const on = (el, types, fn) => types.split(' ').forEach((t) => el.addEventListener(t, fn));

  /* Copy buttons: button[data-copy=ID] copies #ID's text. */
  const copyState = new WeakMap(); // button -> { nodes: original content, timer }

  function copyBySelecting(el) {
    const sel = window.getSelection();
    sel.selectAllChildren(el);
    let done = false;
    try { done = document.execCommand('copy'); } catch { /* unsupported */ }
    if (done) sel.removeAllRanges(); // else leave it selected to copy by hand
    return done;
  }

  function showCopied(btn, ok) {
    let region = btn.parentNode.querySelector(':scope > .sr-only[aria-live]');
    if (!region) {
      region = Object.assign(document.createElement('span'), { className: 'sr-only' });
      region.setAttribute('aria-live', 'polite');
      btn.after(region);
    }
    const state = copyState.get(btn) || { nodes: Array.from(btn.childNodes) };
    clearTimeout(state.timer);
    copyState.set(btn, state);
    btn.textContent = ok ? 'Copied' : 'Text selected';
    region.textContent = ''; // lets a repeated message be announced
    setTimeout(() => { region.textContent = ok ? 'Copied' : 'Not copied; the text is selected.'; }, 50);
    state.timer = setTimeout(() => btn.replaceChildren(...state.nodes), 2000);
  }

  document.addEventListener('click', (e) => {
    const btn = e.target.closest && e.target.closest('button[data-copy]');
    const source = btn && byId(btn.getAttribute('data-copy'));
    if (!source) return;
    e.preventDefault();
    const fallback = () => showCopied(btn, copyBySelecting(source));
    if (navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent.trim()).then(() => showCopied(btn, true), fallback);
    } else fallback();
  });

  /* form[data-confirm]: ask before submitting. */
  document.addEventListener('submit', (e) => {
    const form = e.target;
    if (form instanceof HTMLFormElement && form.hasAttribute('data-confirm') &&
        !window.confirm(form.getAttribute('data-confirm'))) e.preventDefault();
  });

  /* Conditional fields: data-show-when="NAME=v1|v2". A checkbox is "on" when
     checked, "" otherwise. */
  function currentValues(form, name) {
    let controls = Array.from(form ? form.elements : document.getElementsByName(name))
      .filter((el) => el.name === name);
    // Ignore a hidden input paired with a same-named checkbox.
    const shown = controls.filter((el) => el.type !== 'hidden');
    if (shown.length) controls = shown;
    if (!controls.length) return null;
    const values = controls.flatMap((el) => {
      if (el.type === 'checkbox') return el.checked ? ['on', el.value] : [];
      if (el.type === 'radio') return el.checked ? [el.value] : [];
      return [el.value];
    });
    return values.length ? values : [''];
  }

  // A hidden required control would block submitting invisibly, so
  // `required` is lifted while its block is hidden.
  const lifted = new WeakSet();
  function setShown(block, show) {
    if (block.hidden === !show) return;
    block.hidden = !show;
    block.querySelectorAll('input, select, textarea').forEach((el) => {
      if (!show && el.required) { el.required = false; lifted.add(el); }
      else if (show && lifted.has(el)) { el.required = true; lifted.delete(el); }
    });
  }

  function updateConditions() {
    all('[data-show-when]').forEach((block) => {
      const rule = block.getAttribute('data-show-when');
      const eq = rule.indexOf('=');
      if (eq < 1) return;
      const wanted = rule.slice(eq + 1).split('|').map((v) => v.trim());
      const values = currentValues(block.closest('form'), rule.slice(0, eq).trim());
      // An unknown control leaves the block as rendered.
      if (values) setShown(block, values.some((v) => wanted.includes(v)));
    });
  }

  /* Live preview: reload the frame with the form's values. */
  function initPreview(form) {
    const frame = byId(form.getAttribute('data-preview-frame'));
    const base = form.getAttribute('data-preview-url');
    if (!frame || !base) return;
    let timer;
    const refresh = () => {
      const params = new URLSearchParams();
      for (const [key, value] of new FormData(form)) {
        if (key !== 'csrf' && typeof value === 'string') params.append(key, value);
      }
      params.append('edited', '1');
      const next = base + (base.includes('?') ? '&' : '?') + params;
      if (new URL(next, document.baseURI).href !== frame.src) frame.src = next;
    };
    on(form, 'input change', () => {
      clearTimeout(timer);
      timer = setTimeout(refresh, 200);
    });
  }

  /* Colours: "#rgb" or "#rrggbb", normalised to lowercase "#rrggbb". */
  function parseHex(text) {
    const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(text.trim());
    return m && '#' + m[1].toLowerCase().replace(/^(.)(.)(.)$/, '$1$1$2$2$3$3');
  }

  // WCAG 2 relative luminance and contrast ratio.
  function luminance(hex) {
    const ch = (i) => {
      const c = parseInt(hex.slice(i, i + 2), 16) / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * ch(1) + 0.7152 * ch(3) + 0.0722 * ch(5);
  }

  function contrastRatio(a, b) {
    const [lo, hi] = [luminance(a), luminance(b)].sort((x, y) => x - y);
    return (hi + 0.05) / (lo + 0.05);
  }

  // Colour picker <-> its text field.
  function initPicker(picker) {
    const text = byId(picker.getAttribute('data-sync'));
    if (!text) return;
    on(picker, 'input change', () => {
      const value = picker.value.toLowerCase();
      if (text.value !== value) {
        text.value = value;
        text.dispatchEvent(new Event('input', { bubbles: true }));
      }
    });
    const fromText = () => {
      const hex = parseHex(text.value);
      if (hex && picker.value !== hex) picker.value = hex;
    };
    on(text, 'input change', fromText);
    fromText();
  }

  function initContrast(out) {
    const fg = byId(out.getAttribute('data-fg'));
    const bg = byId(out.getAttribute('data-bg'));
    if (!fg || !bg) return;
    const update = () => {
      const a = parseHex(fg.value);
      const b = parseHex(bg.value);
      out.classList.remove('ok', 'bad');
      if (!a || !b) {
        out.textContent = 'Enter a colour such as #1f2937';
        return;
      }
      const ratio = contrastRatio(a, b);
      const good = ratio >= 4.5;
      // Truncated, not rounded, so a failing ratio never reads as 4.5.
      const shown = (Math.floor(ratio * 10) / 10).toFixed(1);
      out.textContent = `Contrast ${shown}:1 — ${good ? 'readable' : 'too low, needs 4.5:1'}`;
      out.classList.add(good ? 'ok' : 'bad');
    };
    [fg, bg].forEach((el) => on(el, 'input change', update));
    update();
  }

  /* Character counters: "12 / 300" in #ID-count. */
  function initCounter(field) {
    const counter = byId(field.id && field.id + '-count');
    if (!counter) return;
    const update = () => { counter.textContent = `${field.value.length} / ${field.maxLength}`; };
    on(field, 'input change', update);
    update();
  }

  function init() {
    // Odd markup in one place must not stop the other features.
    const each = (sel, fn) => all(sel).forEach((el) => {
      try { fn(el); } catch (err) { console.error(err); }
    });
    each('form[data-preview-frame][data-preview-url]', initPreview);
    each('input[type=color][data-sync]', initPicker);
    each('output.contrast[data-fg][data-bg]', initContrast);
    each('input[maxlength][data-count], textarea[maxlength][data-count]', initCounter);
    // A chart wider than a phone opens on its newest days.
    each('.plot', (el) => { el.scrollLeft = el.scrollWidth; });
    updateConditions();
    on(document, 'input change', updateConditions);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
