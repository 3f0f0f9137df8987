// Harness for the runtime's browser tests: Debian's Chromium driven by playwright-core, and a
// plain Node HTTP server that plays the member's site (any Host header) and, in standalone mode,
// the barkeep server too (script with a test config spliced in, /e and /l answered with 204).
//
// Modes, chosen by the environment:
//   standalone (default)  the script is assembled from widget/dist/runtime.json (every module,
//                         unless a test picks some with env.modules) with the config a test
//                         supplies;
//   external              BARKEEP_SCRIPT_URL=<url of a real /s/SITEKEY.js>: pages load that
//                         script, whose bars the caller configured (BARKEEP_SITE_HOST names the
//                         site's hostname, default shop.example; BARKEEP_PAGE_PORT fixes the
//                         test pages' port, default random).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const WIDGET = path.join(ROOT, 'widget');
export const ARTIFACTS = path.join(ROOT, 'tests/browser/artifacts');

// playwright-core is a devDependency of widget/, not of the repository root.
const require = createRequire(path.join(WIDGET, 'package.json'));
export const { chromium, devices } = require('playwright-core');

export const EXTERNAL = process.env.BARKEEP_SCRIPT_URL || '';
export const HUMAN_UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
export const SITE_HOST = process.env.BARKEEP_SITE_HOST || 'shop.example';

// The fixed launch flags agreed for CI; the resolver rule sends every hostname to 127.0.0.1.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--host-resolver-rules=MAP * 127.0.0.1',
];

let built = null;

/**
 * The runtime's pieces (head, tail, modules, needs: see widget/build.mjs), built from
 * `widget/src` into `widget/dist/runtime.json` once per test run (esbuild takes a fraction of a
 * second), so the tests never read a `dist/` left over from older sources.
 */
export function runtime() {
  if (built === null) {
    execFileSync(process.execPath, [path.join(WIDGET, 'build.mjs'), path.join(WIDGET, 'dist')], { stdio: 'inherit' });
    built = JSON.parse(fs.readFileSync(path.join(WIDGET, 'dist/runtime.json'), 'utf8'));
  }
  return built;
}

/** Names of all modules, in their concatenation order. */
export const moduleNames = () => runtime().modules.map(([n]) => n);

/**
 * The script as the server assembles it: head + the chosen modules (with the modules they
 * need, in the runtime's order) + tail; `mods` null or omitted = every module.
 */
export function runtimeSource(mods = null) {
  const { head, tail, modules, needs } = runtime();
  const want = new Set(mods ?? moduleNames());
  for (const n of [...want]) for (const m of needs[n] || []) want.add(m);
  return head + modules.filter(([n]) => want.has(n)).map(([, c]) => c).join('') + tail;
}

/** Gzipped size (zlib level 9) in bytes. */
export const gzipSize = (s) => zlib.gzipSync(Buffer.from(s), { level: 9 }).length;

/**
 * The modules the server selects for a config ({b: [BAR]}): a module goes along when a bar
 * uses its key or value (see widget/README.md).
 */
export function modulesFor(cfg) {
  const m = new Set();
  for (const b of cfg.b || []) {
    const t = b.t || {};
    const has = (...k) => k.some((k) => t[k] !== undefined && t[k] !== null);
    if (b.g === 'email') m.add('form');
    if ((b.y ?? 'bar') === 'bar' && b.o === 0) m.add('push');
    if (b.y === 'modal' || b.y === 'takeover') m.add('dialog');
    if (b.y === 'slider') m.add('slider');
    const tr = (b.tr || [])[0];
    if (tr === 's') m.add('scroll');
    if (tr === 'e') m.add('exit');
    if (t.in?.length || t.ex?.length) m.add('paths');
    if (has('dv') || b.g === 'call') m.add('device');
    if (has('sa', 'ea')) m.add('schedule');
    if (has('rf', 'us', 'uc')) m.add('source');
    if (has('vn', 'vc', 'ds', 'pv')) m.add('visits');
    if (has('la')) m.add('lang');
    if (has('wd', 'hr', 'tz')) m.add('clock');
    if (has('q')) m.add('query');
    if (has('pg')) m.add('page');
    if (b.fq) m.add('freq').add('visits');
    if (b.cd) m.add('countdown');
    if ((b.v || []).some((v) => v.tx)) m.add('i18n');
    if (b.ho) m.add('goals');
  }
  if (cfg.g?.length) m.add('goals');
  return [...m];
}

/** Minified and gzipped (level 9) sizes of the script with every module, in bytes. */
export function runtimeSize(mods = null) {
  const src = runtimeSource(mods);
  return { min: Buffer.byteLength(src), gz: gzipSize(src) };
}

/** Escapes text for the test pages' HTML. */
export const esc = (s) =>
  String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

/** A filler paragraph, so pages have content under a bar and can scroll. */
export const lorem = (n = 1) =>
  Array.from({ length: n }, (_, i) => `<p>Paragraph ${i + 1}: the quick brown fox jumps over the lazy dog.</p>`).join('');

/**
 * Starts the browser and the server. The returned env is shared by the tests of one file;
 * each test opens its own browser contexts and calls env.finish() (e.g. from afterEach),
 * which closes them and fails if any page logged a console error or threw.
 */
export async function setup({ external = EXTERNAL } = {}) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    timeout: 20_000,
  });

  let config = { b: [] };
  const pages = new Map(); // path -> page options, for the current test
  let defaults = {};
  // Modules served to the current test: null = all (the default), "auto" = as the server
  // would select them for the config (BARKEEP_WIDGET_MODULES=auto makes that the default).
  const defaultMods = process.env.BARKEEP_WIDGET_MODULES === 'auto' ? 'auto' : null;
  let mods = defaultMods;
  const received = []; // beacons as the standalone server saw them

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url, 'http://x');
      const body = Buffer.concat(chunks).toString();
      if (req.method === 'POST' && (url.pathname === '/e' || url.pathname === '/l')) {
        received.push({ path: url.pathname, body, host: req.headers.host });
        res.writeHead(204).end();
      } else if (url.pathname === '/s/test.js') {
        const json = JSON.stringify({ e: env.barkeepOrigin, ...config });
        res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-store' });
        // A function, so "$&" and the like in the config's texts stay literal.
        res.end(runtimeSource(mods === 'auto' ? modulesFor(config) : mods).replace('__BK_CONFIG__', () => json));
      } else if (url.pathname === '/favicon.ico') {
        res.writeHead(204).end();
      } else {
        const p = { ...defaults, ...(pages.get(url.pathname) || {}) };
        const headers = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' };
        if (p.csp) headers['content-security-policy'] = p.csp;
        res.writeHead(200, headers);
        res.write(
          '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
            '<meta name="viewport" content="width=device-width,initial-scale=1">' +
            `<title>${esc(url.pathname)}</title>${p.head || ''}` +
            (p.noScript ? '' : `<script async src="${esc(env.scriptUrl)}"></script>`) +
            '</head>'
        );
        // delayBody: the script arrives and runs while the document is still loading.
        const rest = `<body>${p.body ?? `<h1 id="first">Page ${esc(url.pathname)}</h1>${lorem(8)}`}</body></html>`;
        if (p.delayBody) setTimeout(() => res.end(rest), p.delayBody);
        else res.end(rest);
      }
    });
  });
  // A fixed port (BARKEEP_PAGE_PORT) lets an external caller configure link targets on it.
  await new Promise((r) => server.listen(Number(process.env.BARKEEP_PAGE_PORT) || 0, '127.0.0.1', r));
  const port = server.address().port;

  let contexts = [];
  let problems = [];

  const env = {
    browser,
    port,
    external: !!external,
    siteHost: SITE_HOST,
    /** Where beacons go in standalone mode (the config's "e"). */
    barkeepOrigin: `http://127.0.0.1:${port}`,
    scriptUrl: external || `http://127.0.0.1:${port}/s/test.js`,
    get scriptOrigin() {
      return new URL(env.scriptUrl).origin;
    },
    received,

    /** URL of a test page on the given hostname (default: the site's). */
    url: (p = '/', host = SITE_HOST) => `http://${host}:${port}${p}`,

    /** Standalone only: the site config the script carries ({h, b}; "e" is filled in). */
    configure(cfg) {
      config = withPort({ h: [SITE_HOST], ...cfg }, port);
    },

    /**
     * Standalone only: the modules the script carries for the current test: a list of names,
     * "auto" (those the server would select for the configured bars) or null (all, the default).
     */
    modules(list) {
      mods = list;
    },

    /** Page options for a path: {body, head, csp, noScript, delayBody (ms)}. */
    page(p, opts) {
      pages.set(p, opts);
    },
    /** Options for every page of the current test. */
    pageDefaults(opts) {
      defaults = opts;
    },

    /**
     * A fresh browser context (fresh storage) with a page opened on `path`.
     * opts: {path, host, context (Playwright context options), init (init scripts), goto: false}
     */
    async open(opts = {}) {
      // A "human" visitor: a regular Chrome user agent and no automation flag, as a real
      // visitor's browser has, so that barkeep counts its events.
      const human = opts.human ?? env.human;
      const contextOptions = { ...(opts.context || {}) };
      if (human) contextOptions.userAgent ??= HUMAN_UA;
      const context = await browser.newContext(contextOptions);
      if (human) {
        await context.addInitScript(() =>
          Object.defineProperty(Navigator.prototype, 'webdriver', { get: () => false, configurable: true })
        );
      }
      contexts.push(context);
      context.setDefaultTimeout(5_000);
      // Init scripts: functions, strings, or [function, argument] pairs.
      for (const s of opts.init || []) await (Array.isArray(s) ? context.addInitScript(...s) : context.addInitScript(s));
      const beacons = [];
      // Requests as the browser sends them (also those a page queues while it navigates away).
      context.on('request', (r) => {
        if (r.method() !== 'POST') return;
        const u = new URL(r.url());
        if (u.pathname !== '/e' && u.pathname !== '/l') return;
        let data = null;
        try {
          data = JSON.parse(r.postData() || 'null');
        } catch {}
        beacons.push({ url: r.url(), path: u.pathname, raw: r.postData(), data, headers: r.headers(), at: Date.now() });
      });
      const watch = (page) => {
        page.on('console', (m) => {
          if (m.type() === 'error') problems.push(`console error on ${page.url()}: ${m.text()}`);
        });
        page.on('pageerror', (e) => problems.push(`pageerror on ${page.url()}: ${e.message}`));
      };
      context.on('page', watch);
      const page = await context.newPage();
      const t = {
        context,
        page,
        beacons,
        /** Events of kind v / c / x sent to /e. */
        events: (k) => beacons.filter((b) => b.path === '/e' && (!k || b.data?.k === k)),
        leads: () => beacons.filter((b) => b.path === '/l'),
        /** The bar's region inside the shadow root (Playwright's CSS pierces open shadow roots). */
        bar: () => page.locator('barkeep-bar .b'),
        host: () => page.locator('barkeep-bar'),
        goto: (p = '/', host = opts.host) => page.goto(env.url(p, host)),
        /** Waits until `n` events of kind k were sent. */
        waitEvents: async (k, n = 1, timeout = 10_000) => {
          const end = Date.now() + timeout;
          while (t.events(k).length < n) {
            if (Date.now() > end) assert.fail(`expected ${n} "${k}" beacon(s), saw ${t.events(k).length}`);
            await page.waitForTimeout(25);
          }
        },
        /** Resolves once the runtime has had the chance to act (script executed + `ms`). */
        settle: async (ms = 300) => {
          await page.waitForLoadState('load');
          await page.waitForTimeout(ms);
        },
      };
      if (opts.goto !== false) await t.goto(opts.path || '/', opts.host);
      return t;
    },

    /** Closes this test's contexts; fails when any page logged an error or threw. */
    async finish() {
      const open = contexts;
      contexts = [];
      pages.clear();
      defaults = {};
      mods = defaultMods;
      // Closed first: a page can still send a beacon while its context closes, and it
      // belongs to this test, not the next.
      await Promise.all(open.map((c) => c.close().catch(() => {})));
      received.length = 0;
      const p = problems;
      problems = [];
      assert.deepEqual(p, [], 'pages must log no console errors and throw nothing');
    },

    async close() {
      await browser.close();
      await new Promise((r) => server.close(r));
    },
  };
  return env;
}

/** A standalone BAR with sensible defaults; `over` overrides top-level keys. */
export function makeBar(over = {}, variant = {}) {
  return {
    i: 1,
    g: 'link',
    p: 'top',
    o: 1,
    s: 1,
    x: 1,
    t: {},
    tr: ['i'],
    f: [7, 30],
    v: [
      {
        d: 101,
        i: 1,
        w: 1,
        m: 'Free shipping this week',
        l: 'Shop now',
        u: `http://${SITE_HOST}:PORT/sale`,
        c: ['#112233', '#ffffff', '#ffcc00', '#000000'],
        pb: 1,
        ...variant,
      },
    ],
    ...over,
  };
}

/** Fills the PORT placeholder of makeBar's link targets. */
export function withPort(cfg, port) {
  return JSON.parse(JSON.stringify(cfg).replaceAll(':PORT', `:${port}`));
}
