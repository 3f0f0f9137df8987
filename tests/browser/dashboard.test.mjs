// The dashboard in headless Chromium against a real barkeep (the debug binary, a fresh SQLite
// file — or a fresh PostgreSQL database when BARKEEP_TEST_POSTGRES_URL names a server — mail
// written to a folder, billing off): a new member goes from signup to a published
// bar and sees its first view and click in the chart, through the pages only; the visitor
// side is a local page with the site's snippet. Every page is scanned with axe-core and
// saved as a screenshot under tests/browser/artifacts/dashboard/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import crypto from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { chromium, CHROMIUM_ARGS, HUMAN_UA, ARTIFACTS, ROOT, WIDGET } from './lib.mjs';

const { AxeBuilder } = createRequire(path.join(WIDGET, 'package.json'))('@axe-core/playwright');

const BIN = process.env.BARKEEP_BIN || path.join(ROOT, 'target/debug/barkeep');
const SHOTS = path.join(ARTIFACTS, 'dashboard');
const EMAIL = 'ann@shop.example';
const PASSWORD = 'a long enough passphrase';
const SITE_HOST = 'shop.example';

let server; // the barkeep process
let base; // its URL
let env; // its environment, for the command line
let pagesServer; // the member's own site, with the snippet
let mailchimp; // a local server answering as Mailchimp's API does
let mailchimpUrl;
const mailchimpCalls = []; // every request it got: method, path, headers, body
let sitePort;
let snippet = '';
let browser;
let member; // the member's browser context
let page;
const scanned = new Map(); // page name -> axe violations (serious or critical)

const freePort = () =>
  new Promise((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** A fresh PostgreSQL database on the server of BARKEEP_TEST_POSTGRES_URL, or none. */
let pgDatabase;
function freshPostgres() {
  const admin = process.env.BARKEEP_TEST_POSTGRES_URL;
  if (!admin) return undefined;
  pgDatabase = `barkeep_test_dashboard_${process.pid}`;
  const made = spawnSync('psql', [admin, '-qc', `CREATE DATABASE ${pgDatabase}`], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  return `${admin.slice(0, admin.lastIndexOf('/'))}/${pgDatabase}`;
}

async function startBarkeep() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'barkeep-dashboard-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  env = {
    ...process.env,
    BARKEEP_DATA_DIR: dir,
    BARKEEP_LISTEN: `127.0.0.1:${port}`,
    BARKEEP_BASE_URL: base,
    BARKEEP_LOG: 'warn',
    BARKEEP_ESP_MAILCHIMP_URL: mailchimpUrl,
  };
  for (const k of ['BARKEEP_DATABASE_URL', 'BARKEEP_MAIL_URL', 'BARKEEP_STRIPE_SECRET_KEY']) delete env[k];
  const postgres = freshPostgres();
  if (postgres) env.BARKEEP_DATABASE_URL = postgres;
  console.log(`dashboard on ${postgres ? 'PostgreSQL' : 'SQLite'}`);
  server = spawn(BIN, ['serve'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  for (let i = 0; i < 150; i++) {
    try {
      const res = await fetch(`${base}/login`);
      if (res.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`barkeep did not start (${BIN})`);
}

/** The member's own site: one page with the snippet, and the page its bar links to. */
async function startSite() {
  sitePort = await freePort();
  pagesServer = http
    .createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      const body = req.url.startsWith('/sale') ? '<h1>Sale</h1>' : '<h1>Shop</h1><p>Welcome.</p>';
      res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>${snippet}</head><body>${body}</body></html>`);
    })
    .listen(sitePort, '127.0.0.1');
}

/**
 * Mailchimp's API as the fixtures answer it: the audiences (a 401 for the refused key
 * `bad-key-us6`), and the add of a member. Every request is kept, its JSON body parsed.
 */
async function startMailchimp() {
  const fixture = (name) => JSON.parse(fs.readFileSync(path.join(ROOT, 'tests/fixtures/esp/mailchimp', `${name}.json`), 'utf8'));
  const answer = (res, { status, headers, body }) => {
    res.writeHead(status, headers);
    res.end(JSON.stringify(body));
  };
  mailchimp = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const { pathname } = new URL(req.url, 'http://localhost');
      mailchimpCalls.push({ method: req.method, path: pathname, url: req.url, headers: req.headers, body: raw ? JSON.parse(raw) : null });
      const basic = (req.headers.authorization || '').match(/^Basic (.+)$/);
      const password = basic ? Buffer.from(basic[1], 'base64').toString('utf8').split(':').slice(1).join(':') : '';
      if (!password || password === 'bad-key-us6') return answer(res, fixture('bad_key.response'));
      if (req.method === 'GET' && pathname === '/3.0/lists') return answer(res, fixture('lists.response'));
      if (req.method === 'PUT' && /^\/3\.0\/lists\/[\w-]+\/members\/[0-9a-f]{32}$/.test(pathname)) {
        return answer(res, fixture('add_subscriber.response'));
      }
      answer(res, { status: 404, headers: { 'content-type': 'application/problem+json' }, body: { title: 'Resource Not Found', status: 404 } });
    });
  });
  await new Promise((resolve) => mailchimp.listen(0, '127.0.0.1', resolve));
  mailchimpUrl = `http://127.0.0.1:${mailchimp.address().port}`;
}

before(async () => {
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  await startMailchimp();
  await startBarkeep();
  await startSite();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    timeout: 20_000,
  });
  member = await browser.newContext({ userAgent: HUMAN_UA, viewport: { width: 1280, height: 900 } });
  page = await member.newPage();
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  pagesServer?.close();
  mailchimp?.close();
  if (pgDatabase) {
    spawnSync('psql', [process.env.BARKEEP_TEST_POSTGRES_URL, '-qc', `DROP DATABASE IF EXISTS ${pgDatabase} WITH (FORCE)`]);
  }
});

/** The path of the invitation link emailed to `to` (the text part, quoted-printable undone). */
async function invitationLink(to) {
  const dir = path.join(env.BARKEEP_DATA_DIR, 'mail-out');
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
    for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8').replace(/=\r?\n/g, '').replace(/=3D/gi, '=');
      if (!new RegExp(`^To:.*${to.replace('.', '\\.')}`, 'im').test(text)) continue;
      const m = text.match(/\/invitations\/accept\?token=[A-Za-z0-9_-]+/);
      if (m) return m[0];
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`no invitation email to ${to} in ${dir}`);
}

/**
 * The path of the unsubscribe link in the newest subscription email the member got (the
 * alert the operator sent earlier), from its List-Unsubscribe header. The mail worker
 * writes it within a second or two of the send.
 */
async function unsubscribeLink() {
  const dir = path.join(env.BARKEEP_DATA_DIR, 'mail-out');
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
    for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8').replace(/\r?\n[ \t]+/g, ' ');
      const m = text.match(/^List-Unsubscribe:[^\n]*?<https?:\/\/[^/>]+(\/unsubscribe\?t=[^>]+)>/im);
      if (m) return m[1];
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`no email with a List-Unsubscribe link in ${dir}`);
}

/** Saves a screenshot of the page and scans it with axe (WCAG 2.x A and AA rules). */
async function look(name, p = page) {
  await p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  const result = await new AxeBuilder({ page: p })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'])
    .analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  scanned.set(name, bad);
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
    [],
    `axe on ${name} (${p.url()})`,
  );
}

async function go(pathname) {
  const res = await page.goto(base + pathname);
  assert.ok(res.status() < 400, `${pathname} answered ${res.status()}`);
  return res;
}

/** The text of the one-line notice after a redirect. */
const notice = () => page.locator('.flash.ok').first().textContent();

let siteId;
let barId;

test('signup, using the keyboard only', async () => {
  await go('/signup');
  await look('signup');
  // The email field has the focus on arrival.
  await page.keyboard.type(EMAIL);
  await page.keyboard.press('Tab');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/sites/);
  assert.match(await notice(), /Welcome to barkeep/);
  assert.match(await page.locator('.banner').textContent(), /Confirm your email address/);
  await look('sites-empty');
});

test('a short password is refused next to its field, and the email is kept', async () => {
  const other = await browser.newContext({ userAgent: HUMAN_UA });
  const p = await other.newPage();
  await p.goto(`${base}/signup`);
  await p.fill('#f-email', 'bob@shop.example');
  await p.fill('#f-password', 'short');
  // The browser's own check would stop a short password: this is the server's answer.
  await p.evaluate(() => document.querySelector('#f-password').removeAttribute('minlength'));
  const [res] = await Promise.all([p.waitForResponse((r) => r.request().method() === 'POST'), p.click('button[type=submit]')]);
  assert.equal(res.status(), 422);
  assert.equal(await p.locator('#f-password').getAttribute('aria-invalid'), 'true');
  assert.match(await p.locator('#f-password-error').textContent(), /characters/);
  assert.equal(await p.inputValue('#f-email'), 'bob@shop.example');
  await look('signup-refused', p);
  await other.close();
});

test('a form without its CSRF token is refused and changes nothing', async () => {
  const res = await page.request.post(`${base}/sites`, {
    form: { name: 'Forged', hostnames: 'forged.example' },
    maxRedirects: 0,
  });
  assert.equal(res.status(), 403);
  assert.match(await res.text(), /form/i);
  await go('/sites');
  assert.equal(await page.getByText('Forged').count(), 0);
  // With a wrong token too.
  const wrong = await page.request.post(`${base}/sites`, {
    form: { csrf: 'x'.repeat(43), name: 'Forged', hostnames: 'forged.example' },
    maxRedirects: 0,
  });
  assert.equal(wrong.status(), 403);
});

test('the operator reads the confirmation email on the mail page and opens its link', async () => {
  // The first operator is made on the command line, as the README says.
  const grant = spawnSync(BIN, ['admin', 'grant', EMAIL], { env, encoding: 'utf8' });
  assert.equal(grant.status, 0, grant.stderr);
  await go('/admin/mail');
  const link = page.getByRole('link', { name: /Confirm your email/i }).first();
  await link.waitFor({ timeout: 15_000 });
  await look('admin-mail');
  await link.click();
  await look('admin-mail-one');
  const confirm = page.locator('pre.mail a[href*="/confirm-email"]').first();
  await confirm.click();
  await page.waitForLoadState();
  await look('email-confirmed');
  await go('/sites');
  assert.equal(await page.locator('.banner').count(), 0, 'the confirmation banner is gone');
});

test('a site: add it, read its snippet and its install status', async () => {
  await go('/sites');
  await page.fill('#f-name', 'Shop');
  await page.fill('#f-hostnames', SITE_HOST);
  await page.click('form[action="/sites"] button[type=submit]');
  await page.waitForURL(/\/sites\/\d+/);
  siteId = Number(page.url().match(/\/sites\/(\d+)/)[1]);
  snippet = (await page.locator('#snippet').textContent()).trim();
  assert.match(snippet, /^<script async src="http:\/\/127\.0\.0\.1:\d+\/s\/[\w-]+\.js"><\/script>$/);
  assert.equal(await page.locator('button[data-copy=snippet]').count(), 1);
  assert.match(await page.locator('table.data').first().textContent(), /not seen yet/);
  await look('site');
});

test('the bar editor: refusals beside their fields, a preview that follows every edit, publish', async () => {
  await go(`/sites/${siteId}/bars/new`);
  const frame = page.frameLocator('#preview');
  const barText = () => frame.locator('barkeep-bar').locator('span').first().textContent();
  await frame.locator('barkeep-bar').waitFor();
  await page.fill('#f-message', 'Winter sale: 20 % off');
  await page.fill('#f-button_label', 'Shop now');
  await page.fill('#f-link_url', `http://${SITE_HOST}:${sitePort}/sale`);
  await page.waitForFunction(async () => true);
  await assert.doesNotReject(() =>
    frame.locator('barkeep-bar span', { hasText: 'Winter sale: 20 % off' }).first().waitFor({ timeout: 5000 }),
  );
  // The preview follows a change of colour and of placement too.
  await page.fill('#f-background_color', '#7c2d12');
  await page.selectOption('#f-placement', 'bottom');
  await page.waitForFunction(() => document.querySelector('#preview').src.includes('placement=bottom') && document.querySelector('#preview').src.includes('7c2d12'));
  await frame.locator('barkeep-bar').waitFor();
  const bg = await frame.locator('barkeep-bar').evaluate((el) => getComputedStyle(el.shadowRoot.querySelector('.b')).backgroundColor);
  assert.equal(bg, 'rgb(124, 45, 18)');
  // Contrast feedback as the colour changes, before anything is sent.
  await page.fill('#f-text_color', '#8a3b1f');
  await page.locator('output.contrast.bad').first().waitFor();
  assert.match(await page.locator('output.contrast').first().textContent(), /too low/);
  // Conditional fields: the delay shows only for a delayed trigger.
  assert.equal(await page.locator('#f-trigger-seconds').isVisible(), false);
  await page.selectOption('#f-trigger-type', 'delay');
  assert.equal(await page.locator('#f-trigger-seconds').isVisible(), true);
  await page.selectOption('#f-trigger-type', 'immediate');
  await look('bar-new');
  // Saved with the unreadable colour: refused by the API's own check, next to the field.
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.click('#bar-form button[type=submit]'),
  ]);
  assert.equal(res.status(), 422);
  assert.equal(await page.locator('#f-text_color').getAttribute('aria-invalid'), 'true');
  assert.match(await page.locator('#f-text_color-error').textContent(), /contrast/i);
  assert.equal(await page.inputValue('#f-message'), 'Winter sale: 20 % off', 'nothing typed is lost');
  await look('bar-refused');
  await page.fill('#f-text_color', '#ffffff');
  await page.click('#bar-form button[type=submit]');
  await page.waitForURL(/\/bars\/\d+\?done=bar_created/);
  barId = Number(page.url().match(/\/bars\/(\d+)/)[1]);
  assert.match(await barText(), /Winter sale/);
  await page.click('form[action$="/publish"] button');
  await page.waitForURL(/done=published/);
  assert.match(await page.locator('h1 .badge').textContent(), /live/);
  assert.equal(await page.locator('ol.timeline li').count(), 1, 'one deployment in the history');
  await look('bar');
});

test('a variant with its weight, then removed', async () => {
  await go(`/bars/${barId}`);
  await page.click(`form[action="/bars/${barId}/variants"] button`);
  await page.waitForURL(/\/variants\/\d+/);
  await page.fill('#f-weight', '50');
  await page.fill('#f-message', 'Winter sale, B');
  await page.click('#bar-form button[type=submit]');
  await page.waitForURL(/done=variant_saved/);
  assert.match(await page.locator('nav.tabs[aria-label=Variants]').textContent(), /B · 50 %/);
  await look('variant');
  page.once('dialog', (d) => d.accept());
  await page.click('form[action$="/delete"] button.danger >> nth=0');
  await page.waitForURL(/done=variant_deleted/);
});

test('the bar editor makes a modal with a countdown, audience rules and a translation; the preview draws the modal', async () => {
  await go(`/sites/${siteId}/bars/new`);
  const frame = page.frameLocator('#preview');
  await frame.locator('barkeep-bar').waitFor();
  await page.selectOption('#f-goal', 'email');
  await page.fill('#f-message', 'Join the list');
  await page.selectOption('#f-element_type', 'modal');
  assert.equal(await page.locator('#f-display').isVisible(), false, 'push-down is for bars only');
  assert.equal(await page.locator('#f-side').isVisible(), false, 'the corner is for sliders only');
  await page.waitForFunction(() => document.querySelector('#preview').src.includes('element_type=modal'));
  await frame.getByRole('dialog', { name: 'Announcement' }).waitFor();
  assert.equal(await page.locator('#f-countdown-minutes').isVisible(), false);
  await page.selectOption('#f-countdown-type', 'evergreen');
  await page.fill('#f-countdown-minutes', '90');
  await page.fill('#f-countdown-end_text', 'The offer has ended');
  await page.selectOption('#f-targeting-visitor', 'returning');
  await page.fill('#f-targeting-visit_number-min', '2');
  await page.fill('#f-targeting-languages_include', 'de fr');
  await page.check('#f-targeting-weekdays-sat');
  await page.check('#f-targeting-weekdays-sun');
  await page.fill('#f-targeting-hours-from', '09:00');
  await page.fill('#f-targeting-hours-to', '17:30');
  await page.fill('#f-targeting-time_zone', 'Europe/Berlin');
  await page.fill('#f-targeting-page_values', 'plan=pro');
  await page.check('#f-frequency-once_per_visit');
  await page.fill('#f-translations', 'de.message = Auf die Liste\nde.button_label = Los');
  // Without a GeoIP database on the server, a country rule is refused beside its field.
  await page.fill('#f-targeting-countries_include', 'DE');
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.click('#bar-form button[type=submit]'),
  ]);
  assert.equal(res.status(), 422);
  assert.match(await page.locator('#f-targeting-countries_include-error').textContent(), /BARKEEP_GEOIP_DB/);
  assert.equal(await page.inputValue('#f-translations'), 'de.message = Auf die Liste\nde.button_label = Los');
  await page.fill('#f-targeting-countries_include', '');
  await page.click('#bar-form button[type=submit]');
  await page.waitForURL(/\/bars\/\d+\?done=bar_created/);
  // What was saved comes back into the form as it was typed (tidied).
  assert.equal(await page.inputValue('#f-element_type'), 'modal');
  assert.equal(await page.inputValue('#f-countdown-type'), 'evergreen');
  assert.equal(await page.inputValue('#f-countdown-minutes'), '90');
  assert.equal(await page.inputValue('#f-targeting-visitor'), 'returning');
  assert.equal(await page.inputValue('#f-targeting-languages_include'), 'de fr');
  assert.equal(await page.isChecked('#f-targeting-weekdays-sat'), true);
  assert.equal(await page.isChecked('#f-targeting-weekdays-mon'), false);
  assert.equal(await page.inputValue('#f-targeting-hours-to'), '17:30');
  assert.equal(await page.isChecked('#f-frequency-once_per_visit'), true);
  assert.match(await page.inputValue('#f-translations'), /de\.button_label = Los/);
  await frame.getByRole('dialog', { name: 'Announcement' }).waitFor();
  await look('bar-modal');
  // A draft: the site's visitors keep seeing the published bar alone.
  page.once('dialog', (d) => d.accept());
  await page.click('form[action$="/delete"] button.danger');
  await page.waitForURL(/done=bar_deleted|\/sites\/\d+/);
});

test('a visitor sees the bar on the site and clicks it; the chart shows the view and the click', async () => {
  // A human visitor: a regular user agent and no automation flag, as real visitors have.
  const visitor = await browser.newContext({ userAgent: HUMAN_UA });
  await visitor.addInitScript(() =>
    Object.defineProperty(Navigator.prototype, 'webdriver', { get: () => false, configurable: true }),
  );
  const v = await visitor.newPage();
  await v.goto(`http://${SITE_HOST}:${sitePort}/`);
  const link = v.locator('barkeep-bar a.g');
  await link.waitFor({ timeout: 10_000 });
  await v.waitForTimeout(300);
  await link.click();
  await v.waitForURL(/\/sale/);
  await visitor.close();

  // Counting is exact and quick: poll the stats page until both show.
  let kpi = {};
  for (let i = 0; i < 40; i++) {
    await go(`/bars/${barId}/stats?range=24h`);
    kpi = Object.fromEntries(
      await page.locator('dl.kpis > div').evaluateAll((els) =>
        els.map((el) => [el.querySelector('dt').textContent.trim(), el.querySelector('dd').textContent.trim().split(' ')[0]]),
      ),
    );
    if (kpi.Views === '1' && kpi.Clicks === '1') break;
    await page.waitForTimeout(500);
  }
  if (kpi.Views !== '1') {
    const metrics = await (await fetch(`${base}/metrics`)).text();
    console.log(metrics.split('\n').filter((l) => l.startsWith('barkeep_events')).join('\n'));
  }
  assert.equal(kpi.Views, '1');
  assert.equal(kpi.Clicks, '1');
  assert.equal(kpi['Click-through rate'], '100.00');
  // The chart is drawn, labelled, and has its table and sentence.
  assert.equal(await page.locator('figure.chart svg[role=img]').count(), 1);
  assert.match(await page.locator('.summary').first().textContent(), /Views in all: 1\./);
  await look('stats');

  // The chart's table matches the stats API, bucket by bucket.
  const api = await (await page.request.get(base + (await page.locator('a', { hasText: 'JSON' }).getAttribute('href')))).json();
  const rows = await page.locator('#series tbody tr').evaluateAll((trs) =>
    trs.map((tr) => ({ start: tr.dataset.start, cells: [...tr.querySelectorAll('td')].map((td) => td.textContent.trim()) })),
  );
  assert.equal(rows.length, api.series.length);
  for (const [i, p] of api.series.entries()) {
    assert.equal(rows[i].start, p.start.replace(/\.\d+/, ''));
    assert.deepEqual(rows[i].cells.slice(0, 5).map(Number), [p.views, p.unique_visitors, p.clicks, p.dismissals, p.leads]);
  }
  assert.equal(api.totals.views, 1);

  // The CSV download is the API's.
  const csv = await page.request.get(base + (await page.locator('a', { hasText: 'Download CSV' }).getAttribute('href')));
  assert.equal(csv.status(), 200);
  assert.match(csv.headers()['content-type'], /text\/csv/);
  // Row by row, the same numbers as the API's series.
  const lines = (await csv.text()).trim().split('\n');
  assert.equal(lines[0], 'start,views,unique_visitors,clicks,dismissals,leads,ctr');
  assert.equal(lines.length - 1, api.series.length);
  for (const [i, p] of api.series.entries()) {
    const [start, ...numbers] = lines[i + 1].split(',');
    assert.equal(Date.parse(start), Date.parse(p.start), `row ${i}`);
    assert.deepEqual(numbers.slice(0, 5).map(Number), [p.views, p.unique_visitors, p.clicks, p.dismissals, p.leads], `row ${i}`);
    assert.equal(numbers[5] === '' ? null : Number(numbers[5]), p.ctr === null ? null : Number(p.ctr.toFixed(6)), `row ${i}`);
  }

  // The install status now names when the script was last seen.
  await go(`/sites/${siteId}`);
  assert.doesNotMatch(await page.locator('table.data').first().textContent(), /not seen yet/);
});

test('an A/B test: a second variant, visitors on both, each variant against the first drawn with its interval', async () => {
  await go(`/bars/${barId}`);
  await page.click(`form[action="/bars/${barId}/variants"] button`);
  await page.waitForURL(/\/variants\/\d+/);
  const variantPage = new URL(page.url()).pathname;
  await page.fill('#f-message', 'Winter sale, now with a second message');
  await page.click('#bar-form button[type=submit]');
  await page.waitForURL(/done=variant_saved/);
  await page.click('form[action$="/publish"] button');
  await page.waitForURL(/done=published/);
  const listed = await (await page.request.get(`${base}/api/v1/bars/${barId}/deployments`)).json();
  const live = listed.deployments.filter((d) => d.live);
  assert.equal(live.length, 2);
  // Views and clicks as a visitor's page sends them: 30 views each, 6 clicks on the first
  // and 12 on the second; spaced, to stay under the per-address rate.
  const visitor = await browser.newContext({ userAgent: HUMAN_UA });
  const v = await visitor.newPage();
  await v.goto(`http://${SITE_HOST}:${sitePort}/`);
  const beacons = [];
  for (const [d, clicks] of [[live[0].id, 6], [live[1].id, 12]]) {
    for (let i = 0; i < 30; i++) beacons.push({ d, k: 'v', h: SITE_HOST });
    for (let i = 0; i < clicks; i++) beacons.push({ d, k: 'c', h: SITE_HOST });
  }
  await v.evaluate(async ([url, list]) => {
    for (const b of list) {
      await fetch(url, { method: 'POST', body: JSON.stringify(b), mode: 'no-cors' });
      await new Promise((r) => setTimeout(r, 80));
    }
  }, [`${base}/e`, beacons]);
  await visitor.close();
  for (let i = 0; i < 40; i++) {
    await go(`/bars/${barId}/stats?range=24h`);
    if ((await page.locator('#comparisons tbody tr').count()) === 1 && (await page.locator('[aria-labelledby="intervals-caption"]').count()) === 1) break;
    await page.waitForTimeout(500);
  }
  // Thirty views a side is far from enough to call anything: the verdict says so, and the
  // interval, drawn around zero, crosses it.
  assert.match(await page.locator('ul.verdicts').textContent(), /can be claimed yet/);
  assert.equal(await page.locator('svg[aria-labelledby="intervals-caption"] circle.dot').count(), 1);
  assert.match(await page.locator('#comparisons tbody td').nth(4).textContent(), /^[−+]\d+\.\d\d to [−+]\d+\.\d\d$/);
  await look('stats-ab');
  const csv = await page.request.get(base + (await page.locator('a', { hasText: 'Download the comparison as CSV' }).getAttribute('href')));
  assert.equal(csv.status(), 200);
  assert.match((await csv.text()).split('\n')[0], /^variant_id,name,days,/);
  // The bar goes back to one variant for the tests after this one.
  await go(variantPage);
  page.once('dialog', (d) => d.accept());
  await page.click('form[action$="/delete"] button.danger >> nth=0');
  await page.waitForURL(/done=variant_deleted/);
});

test('site goals and a holdout: a held-out and a shown visitor in Chromium reach a thank-you page and a called goal; the stats compare them', async () => {
  // Two goals on the site page: a thank-you page, and a purchase the page reports.
  await go(`/sites/${siteId}`);
  await page.fill('#f-goal_name', 'Signup!');
  await page.click(`form[action="/sites/${siteId}/goals"] button[type=submit]`);
  assert.equal(await page.locator('#f-goal_name').getAttribute('aria-invalid'), 'true');
  assert.match(await page.locator('#f-goal_name-error').textContent(), /lowercase/);
  await page.fill('#f-goal_name', 'signup');
  await page.fill('#f-goal_path', '/thanks*');
  await page.click(`form[action="/sites/${siteId}/goals"] button[type=submit]`);
  await page.waitForURL(/done=goal_added/);
  await page.fill('#f-goal_name', 'purchase');
  await page.click(`form[action="/sites/${siteId}/goals"] button[type=submit]`);
  await page.waitForURL(/done=goal_added/);
  assert.match(await page.locator('section[aria-labelledby=goals] table').textContent(), /signup.*\/thanks\*.*purchase.*barkeep\.goal\("purchase"\)/s);
  await look('site-goals');

  // Half of new visitors held out, published.
  await go(`/bars/${barId}`);
  await page.fill('#f-holdout', '50');
  await page.click('#bar-form button[type=submit]');
  await page.waitForURL(/done=bar_saved/);
  await page.click('form[action$="/publish"] button');
  await page.waitForURL(/done=published/);
  const bar = await (await page.request.get(`${base}/api/v1/bars/${barId}`)).json();
  assert.equal(bar.holdout, 50);
  const variantId = bar.variants[0].id;

  // Two visitors, each assigned to an arm as the runtime would have (its stored choice):
  // variant 0 is the holdout.
  const visit = async (v, value) => {
    const visitor = await browser.newContext({ userAgent: HUMAN_UA });
    await visitor.addInitScript(([id, v]) => {
      Object.defineProperty(Navigator.prototype, 'webdriver', { get: () => false, configurable: true });
      if (!localStorage.barkeep) localStorage.barkeep = JSON.stringify({ [id]: { v } });
    }, [barId, v]);
    const sent = [];
    visitor.on('request', (r) => {
      if (r.url() === `${base}/e`) sent.push(JSON.parse(r.postData()));
    });
    const p = await visitor.newPage();
    await p.goto(`http://${SITE_HOST}:${sitePort}/`);
    const until = async (f) => {
      for (let i = 0; i < 100 && !f(); i++) await p.waitForTimeout(100);
    };
    await until(() => sent.some((b) => b.k === 'e' || b.k === 'o'));
    const shown = await p.locator('barkeep-bar').count();
    await p.goto(`http://${SITE_HOST}:${sitePort}/thanks/welcome`);
    await until(() => sent.some((b) => b.k === 'g'));
    await p.evaluate((n) => window.barkeep.goal('purchase', n), value);
    await until(() => sent.filter((b) => b.k === 'g').length === 2);
    await p.waitForTimeout(300);
    await visitor.close();
    return { shown, sent };
  };
  const held = await visit(0, 20);
  assert.equal(held.shown, 0, 'a held-out visitor sees no bar');
  assert.deepEqual(held.sent.map((b) => b.k), ['o', 'g', 'g'], 'no view, one held-out visit, two goals');
  assert.ok(held.sent.every((b) => b.k !== 'g' || b.a === 1));
  const shown = await visit(variantId, 49.9);
  assert.equal(shown.shown, 1, 'a shown visitor sees the bar');
  assert.deepEqual(shown.sent.filter((b) => b.k !== 'v').map((b) => b.k), ['e', 'g', 'g']);
  assert.deepEqual(shown.sent.find((b) => b.n !== undefined), { k: 'g', d: shown.sent[0].d, g: shown.sent.find((b) => b.n !== undefined).g, a: 0, n: 49.9, h: SITE_HOST });

  // Counted exactly: one visit a side, each reaching both goals, with its value.
  let x;
  for (let i = 0; i < 40; i++) {
    x = (await (await page.request.get(`${base}/api/v1/bars/${barId}/experiment`)).json()).goals;
    if (x.shown_visits === 1 && x.held_out_visits === 1 && x.goals.every((g) => g.shown_reached === 1 && g.held_out_reached === 1)) break;
    await page.waitForTimeout(500);
  }
  assert.equal(x.holdout, 50);
  assert.deepEqual([x.shown_visits, x.held_out_visits], [1, 1], JSON.stringify(x));
  const purchase = x.goals.find((g) => g.name === 'purchase');
  assert.deepEqual([purchase.shown_reached, purchase.held_out_reached, purchase.shown_value, purchase.held_out_value], [1, 1, 49.9, 20]);
  assert.deepEqual(x.goals.find((g) => g.name === 'signup').path, '/thanks*');

  await go(`/bars/${barId}/stats?range=24h`);
  const rows = await page.locator('#goal-comparisons tbody tr').evaluateAll((trs) => trs.map((tr) => tr.textContent));
  assert.equal(rows.length, 2);
  assert.match(rows.join('|'), /signup.*1 of 1 \(100\.00 %\).*1 of 1 \(100\.00 %\)/);
  assert.match(rows.join('|'), /purchase.*49\.90 \/ 20\.00/);
  assert.match(await page.locator('section[aria-labelledby=goals]').textContent(), /50 % of new visitors are held out/);
  await look('stats-goals');

  // Back to no holdout for the tests after this one.
  await go(`/bars/${barId}`);
  await page.fill('#f-holdout', '0');
  await page.click('#bar-form button[type=submit]');
  await page.waitForURL(/done=bar_saved/);
  await page.click('form[action$="/publish"] button');
  await page.waitForURL(/done=published/);
});

test('stats over other ranges, compared with the previous period, and the site total', async () => {
  await go(`/bars/${barId}/stats?range=30d&compare=on&metric=clicks`);
  assert.equal(await page.locator('.legend li.previous').count(), 1);
  await look('stats-30d-compared');
  await go(`/sites/${siteId}/stats?range=7d`);
  await look('stats-site');
  const res = await page.goto(`${base}/bars/${barId}/stats?range=custom&from=2026-13-01&to=x`);
  assert.equal(res.status(), 422);
  await look('stats-refused');
});

test('a list forward: the provider picked, a refused key shown beside its field, the list picked, a test, and a lead added to the list', async () => {
  const BAD_KEY = 'bad-key-us6';
  const GOOD_KEY = '0123456789abcdef0123456789abcdef-us6';
  const lists = `/sites/${siteId}/lists`;
  const readLists = `form[action="${lists}/check"] button[type=submit]`;
  const puts = () => mailchimpCalls.filter((c) => c.method === 'PUT');
  await go(lists);
  assert.match(await page.locator('section[aria-labelledby=list]').textContent(), /No list yet/);
  await look('lists-empty');

  // A key Mailchimp refuses: the answer is beside the key field, and the key is not shown back.
  await page.selectOption('#f-provider', 'mailchimp');
  await page.fill('#f-key', BAD_KEY);
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/lists/check')),
    page.click(readLists),
  ]);
  assert.equal(refused.status(), 422);
  await page.locator('#f-key-error').waitFor();
  assert.equal(await page.locator('#f-key').getAttribute('aria-invalid'), 'true');
  assert.match(await page.locator('#f-key-error').textContent(), /refused the key/);
  assert.equal(await page.inputValue('#f-key'), '', 'the key is never written back');
  assert.equal(await page.inputValue('#f-provider'), 'mailchimp');
  assert.ok(!(await page.content()).includes(BAD_KEY), 'the refused key is nowhere in the page');
  assert.equal(mailchimpCalls.at(-1).headers.authorization, `Basic ${Buffer.from(`anystring:${BAD_KEY}`).toString('base64')}`);

  // A good key: the audiences it sees, to pick from; the key goes on sealed, never in clear.
  await page.fill('#f-key', GOOD_KEY);
  await page.click(readLists);
  const audiences = page.locator('input[type=radio][name=list_id]');
  await audiences.first().waitFor();
  assert.deepEqual(await audiences.evaluateAll((els) => els.map((el) => [el.value, el.labels[0].textContent])), [
    ['a1b2c3d4e5', 'Newsletter'],
    ['f6e5d4c3b2', 'Product launch waitlist'],
  ]);
  const read = mailchimpCalls.at(-1);
  assert.deepEqual([read.method, read.path], ['GET', '/3.0/lists']);
  assert.ok(!(await page.content()).includes(GOOD_KEY), 'the key is nowhere in the page in clear');
  assert.ok((await page.inputValue('input[name=pending]')).length > 0, 'the key goes on sealed');
  await page.check('input[name=list_id][value=a1b2c3d4e5]');
  assert.equal(await page.isChecked('#f-double_opt_in'), true, 'double opt-in is on by default');
  await page.click(`form[action="${lists}"] button[type=submit]`);
  await page.waitForURL(/done=list_forward_saved/);
  assert.match(await notice(), /Forward saved/);
  const facts = await page.locator('dl.facts').textContent();
  assert.match(facts, /Mailchimp/);
  assert.match(facts, /Newsletter/);
  assert.match(facts, /ending in -us6/);
  assert.match(facts, /Double opt-in\s*on: Mailchimp asks each address to confirm/);
  assert.match(facts, /Status\s*working/);
  assert.ok(!(await page.content()).includes(GOOD_KEY));
  await look('lists-saved');

  // A test with the made-up address, added at once.
  const sent = puts().length;
  await page.click(`form[action="${lists}/test"] button[type=submit]`);
  const tested = page.getByRole('status').filter({ hasText: 'made-up address' });
  await tested.waitFor();
  assert.match(await tested.textContent(), /barkeep-test@example\.com was added/);
  const testPuts = puts().slice(sent);
  assert.equal(testPuts.length, 1);
  assert.equal(testPuts[0].path, `/3.0/lists/a1b2c3d4e5/members/${crypto.createHash('md5').update('barkeep-test@example.com').digest('hex')}`);
  assert.equal(testPuts[0].body.email_address, 'barkeep-test@example.com');
  assert.equal(testPuts[0].body.status_if_new, 'pending');

  // A lead, from an email bar of the site (its first bar links to the sale page), posted as the
  // runtime posts it; the delivery job adds it to the audience within seconds.
  const first = await (await page.request.get(`${base}/api/v1/bars/${barId}`)).json();
  assert.notEqual(first.goal, 'email');
  const made = await page.request.post(`${base}/api/v1/sites/${siteId}/bars`, { data: { goal: 'email', message: 'Join the list' } });
  assert.equal(made.status(), 201, await made.text());
  const emailBar = (await made.json()).id;
  const published = await page.request.post(`${base}/api/v1/bars/${emailBar}/publish`, { data: {} });
  assert.equal(published.status(), 200, await published.text());
  const deployment = (await published.json()).deployments[0].id;
  const lead = await fetch(`${base}/l`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain;charset=UTF-8', origin: `http://${SITE_HOST}:${sitePort}`, 'user-agent': HUMAN_UA },
    body: JSON.stringify({ d: deployment, h: SITE_HOST, m: 'jane.doe@example.com', hp: '' }),
  });
  assert.equal(lead.status, 204);
  const jane = `/3.0/lists/a1b2c3d4e5/members/${crypto.createHash('md5').update('jane.doe@example.com').digest('hex')}`;
  for (const deadline = Date.now() + 20_000; Date.now() < deadline && !puts().some((c) => c.path === jane); ) {
    await page.waitForTimeout(200);
  }
  const added = puts().find((c) => c.path === jane);
  assert.ok(added, `no PUT for the lead (${mailchimpCalls.map((c) => `${c.method} ${c.path}`).join(', ')})`);
  assert.equal(added.body.email_address, 'jane.doe@example.com');
  assert.equal(added.body.status_if_new, 'pending');
  assert.deepEqual(added.body.tags, ['website-bar']);
  // The attempt is written once the answer is read: the page shows it within a moment.
  const leadRow = page.locator('#attempts ~ .scroll tbody tr', { hasText: /#\d+, try \d+/ });
  for (let i = 0; i < 30; i++) {
    await go(lists);
    if ((await leadRow.count()) > 0) break;
    await page.waitForTimeout(500);
  }
  assert.match(await leadRow.first().textContent(), /added/);
  assert.match(await page.locator('#attempts ~ .scroll tbody').textContent(), /test\s*added/);
  const html = await page.content();
  assert.ok(!html.includes('jane.doe'), 'the lead\'s address is nowhere in the page');
  assert.ok(!html.includes('barkeep-test@'), 'nor the made-up one');
  await look('lists-attempts');

  // Removed, after the confirmation.
  page.once('dialog', (d) => d.accept());
  await page.click(`form[action="${lists}/delete"] button[type=submit]`);
  await page.waitForURL(/done=list_forward_removed/);
  assert.match(await notice(), /Forward removed/);
  assert.match(await page.locator('section[aria-labelledby=list]').textContent(), /No list yet/);

  // The email bar stops showing, so the site's visitors see its first bar alone again.
  const paused = await page.request.post(`${base}/api/v1/bars/${emailBar}/pause`, { data: {} });
  assert.ok(paused.ok(), await paused.text());
});

test('the bar editor is usable with the keyboard alone: every field and button takes the focus in order', async () => {
  await go(`/bars/${barId}`);
  const reached = [];
  for (let i = 0; i < 90; i++) {
    await page.keyboard.press('Tab');
    const at = await page.evaluate(() => {
      const el = document.activeElement;
      return el && (el.id || el.getAttribute('name') || el.textContent.trim().slice(0, 30));
    });
    reached.push(at);
  }
  for (const id of ['f-name', 'f-goal', 'f-placement', 'f-sticky', 'f-message', 'f-button_label', 'f-link_url', 'f-background_color', 'f-text_color', 'f-targeting-paths_include', 'f-trigger-type', 'f-frequency-after_dismiss_days']) {
    assert.ok(reached.includes(id), `Tab reaches #${id} (reached: ${reached.join(', ')})`);
  }
  assert.ok(reached.includes('Save'), 'Tab reaches the Save button');
  assert.ok(reached.indexOf('f-message') < reached.indexOf('f-background_color'), 'in reading order');
  // On a fresh page the skip link comes first.
  await go(`/bars/${barId}`);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
});

test('benchmarks, billing and the account pages', async () => {
  await go('/benchmarks');
  await look('benchmarks');
  await go('/billing');
  assert.match(await page.locator('main').textContent(), /Billing is off|without limits/i);
  await look('billing');
  await go('/account');
  await page.selectOption('#f-industry', { index: 2 });
  await page.fill('#f-name', 'Ann');
  await page.click('form[action="/account/profile"] button');
  await page.waitForURL(/done=profile_saved/);
  assert.equal(await page.inputValue('#f-name'), 'Ann');
  await page.fill('#f-token_name', 'deploy script');
  await page.click('form[action="/account/tokens"] button');
  await page.locator('#new-token').waitFor();
  await look('account');
});

test('people: an editor invited, accepting in their own browser, the audit log, and switching accounts', async () => {
  await go('/people');
  await look('people');
  await page.fill('#f-email', 'ed@shop.example');
  await page.selectOption('#f-role', 'editor');
  await page.click('form[action="/people/invitations"] button[type=submit]');
  await page.waitForURL(/done=invitation_sent/);
  assert.match(await page.locator('#invitations').textContent(), /ed@shop\.example/);

  // The invited person opens the emailed link in a browser of their own.
  const theirs = await browser.newContext({ userAgent: HUMAN_UA });
  const p = await theirs.newPage();
  const res = await p.goto(base + (await invitationLink('ed@shop.example')));
  assert.equal(res.status(), 200);
  await look('accept-invitation', p);
  await p.fill('#f-password', 'editors long passphrase');
  await p.click('main button[type=submit]');
  assert.match(await p.locator('main').textContent(), /You joined .* as editor/);
  await p.goto(`${base}/login`);
  await p.fill('#f-email', 'ed@shop.example');
  await p.fill('#f-password', 'editors long passphrase');
  await p.click('main button[type=submit]');
  await p.waitForURL(/\/sites/);
  // The editor sees the account's site, and no billing in the navigation.
  assert.match(await p.locator('main').textContent(), new RegExp(SITE_HOST.replace('.', '\\.')));
  assert.equal(await p.locator('nav a[href="/billing"]').count(), 0);
  assert.equal(await p.locator('nav a[href="/people"]').count(), 1);
  // A page an editor may not open says so.
  const refused = await p.goto(`${base}/people/audit`);
  assert.equal(refused.status(), 403);
  await theirs.close();

  // The owner reads who did what.
  await go('/people/audit');
  assert.match(await page.locator('main').textContent(), /person\.invited/);
  await look('audit');

  // With a second account the header offers to switch.
  // (Through the API with the browser's session: the pages' policy lets no script fetch.)
  const made = (await member.request.post(`${base}/api/v1/accounts`, { data: { name: 'Second shop' } })).status();
  assert.equal(made, 201);
  await go('/sites');
  await page.selectOption('#switch-account', { label: 'Second shop' });
  await page.click('form.switcher button[type=submit]');
  await page.waitForURL(/done=switched/);
  assert.equal(await page.locator('main a[href^="/sites/"]').count(), 0, 'the second account has no site');
  await look('switched');
  await page.selectOption('#switch-account', { index: 0 });
  await page.click('form.switcher button[type=submit]');
  await page.waitForURL(/done=switched/);
  assert.ok(await page.locator('main a[href^="/sites/"]').count() > 0, 'back in the first account, its site');
});

test('the operator area: jobs, members, policies, Stripe events, and an alert composed, previewed and sent', async () => {
  for (const [name, p] of [['admin', '/admin'], ['admin-members', '/admin/members?q=ann'], ['admin-policies', '/admin/policies'], ['admin-stripe-events', '/admin/stripe-events']]) {
    await go(p);
    await look(name);
  }
  await go('/admin/alerts');
  await look('admin-alerts');
  await page.selectOption('#f-kind', 'new_feature');
  await page.fill('#f-new_feature-feature', 'Dashboard');
  await page.fill('#f-new_feature-summary', 'Every number of barkeep, in your browser.');
  await page.selectOption('#f-audience', 'member');
  await page.fill('#f-audience_member', '1');
  await page.click('form[action="/admin/alerts"] button[type=submit]');
  await page.waitForURL(/\/admin\/alerts\/\d+/);
  assert.match(await page.locator('pre.mail').textContent(), /Dashboard/);
  await look('admin-alert-draft');
  page.once('dialog', (d) => d.accept());
  await page.click('form[action$="/send"] button');
  await page.waitForURL(/done=alert_sent/);
  await look('admin-alert-sent');
});

test('public pages: login, forgot and reset password, unsubscribe, a missing page', async () => {
  const visitor = await browser.newContext({ userAgent: HUMAN_UA });
  const p = await visitor.newPage();
  for (const [name, url] of [
    ['login', '/login'],
    ['forgot-password', '/forgot-password'],
    ['reset-password', '/reset-password?token=abc'],
    ['unsubscribe', await unsubscribeLink()],
    ['unsubscribe-broken-link', '/unsubscribe?t=abc'],
    ['not-found', '/no-such-page'],
  ]) {
    const res = await p.goto(base + url);
    // Each page is what its name says: the real unsubscribe page, not a 404 in its place.
    const want = name === 'not-found' || name === 'unsubscribe-broken-link' ? 404 : 200;
    assert.equal(res.status(), want, `${name}: ${url}`);
    await look(name, p);
  }
  // A page of members sends a visitor to the login page, and back after it.
  await p.goto(`${base}/billing`);
  await p.waitForURL(/\/login\?next=/);
  await p.fill('#f-email', EMAIL);
  await p.fill('#f-password', PASSWORD);
  await p.click('main button[type=submit]');
  await p.waitForURL(/\/billing$/);
  await visitor.close();
});

test('on a phone: the sites, the editor and the stats fit the screen, and pass axe', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    for (const [name, p] of [['phone-site', `/sites/${siteId}`], ['phone-bar', `/bars/${barId}`], ['phone-stats', `/bars/${barId}/stats?range=30d`]]) {
      await go(p);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `${p} scrolls sideways by ${overflow}px on a phone`);
      await look(name);
    }
  } finally {
    await page.setViewportSize({ width: 1280, height: 900 });
  }
});

test('every page kept its Content-Security-Policy and frame-ancestors', async () => {
  const res = await page.request.get(`${base}/sites`);
  const csp = res.headers()['content-security-policy'];
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  const preview = await page.request.get(`${base}/preview?bar=${barId}`);
  assert.match(preview.headers()['content-security-policy'], /frame-ancestors 'self'/);
  assert.match(preview.headers()['content-security-policy'], /script-src 'nonce-/);
  assert.ok(scanned.size >= 25, `pages scanned: ${[...scanned.keys()].join(', ')}`);
  console.log(`axe: ${scanned.size} pages, no serious or critical violation`);
});
