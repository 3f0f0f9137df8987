// Browser tests of the visitor runtime against its own build (standalone mode): each test gives
// the script a site config, then runs the shared scenarios of scenarios.mjs in Chromium.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setup, makeBar, runtime, runtimeSource, gzipSize, modulesFor, withPort, lorem, ARTIFACTS, WIDGET } from './lib.mjs';
import * as s from './scenarios.mjs';
import { createRequire } from 'node:module';

const { AxeBuilder } = createRequire(path.join(WIDGET, 'package.json'))('@axe-core/playwright');

let env;
before(async () => {
  env = await setup({ external: '' });
});
after(() => env?.close());
afterEach(() => env.finish());

const use = (...bars) => env.configure({ b: bars });
const DAY = 864e5;
const TWO = [
  { d: 301, i: 1, w: 1, m: 'Variant A', l: 'Go', u: 'http://shop.example:PORT/sale', c: ['#112233', '#ffffff', '#ffcc00', '#000000'] },
  { d: 302, i: 2, w: 1, m: 'Variant B', l: 'Go', u: 'http://shop.example:PORT/sale', c: ['#332211', '#ffffff', '#00ccff', '#000000'] },
];

test('size: head + tail with one link bar is at most 2,000 bytes gzipped; one config placeholder', (t) => {
  const { head, tail, modules } = runtime();
  // Exactly what the server sends a site with one link bar at the top (overlay, sticky,
  // closable, immediate, powered by): no module at all.
  const cfg = withPort({ e: 'https://barkeep.host', h: ['shop.example'], b: [makeBar()] }, 8080);
  assert.deepEqual(modulesFor(cfg), []);
  const one = (head + tail).replace('__BK_CONFIG__', () => JSON.stringify(cfg));
  const all = runtimeSource().replace('__BK_CONFIG__', () => JSON.stringify(cfg));
  const line = `one link bar: ${Buffer.byteLength(one)} bytes minified, ${gzipSize(one)} gzipped (level 9); ` +
    `every module: ${Buffer.byteLength(all)} minified, ${gzipSize(all)} gzipped`;
  t.diagnostic(line);
  console.log(`runtime size: ${line}`);
  assert.ok(gzipSize(one) <= 2000, `one link bar's script is ${gzipSize(one)} bytes gzipped`);
  assert.equal((head + tail).split('__BK_CONFIG__').length, 2);
  for (const [name, code] of modules) assert.ok(!code.includes('__BK_CONFIG__'), name);
});

test('shows the message in a labelled region', async () => {
  use(makeBar());
  await s.shows(env);
});

test('a message with markup shows as literal text', async () => {
  const m = '<img src=x onerror="window.__xss=1"><b>bold</b> $& \\u0041';
  use(makeBar({}, { m }));
  await s.shows(env, { message: m });
});

test('the runtime declares no globals and sets no cookie', async () => {
  use(makeBar());
  env.page('/bare', { noScript: true });
  const bare = await env.open({ path: '/bare' });
  const names = () => bare.page.evaluate(() => Object.getOwnPropertyNames(window));
  const without = new Set(await names());
  const t = await s.shows(env);
  const added = (await t.page.evaluate(() => Object.getOwnPropertyNames(window))).filter((n) => !without.has(n));
  assert.deepEqual(added, []);
  assert.deepEqual(await t.context.cookies(), []);
  assert.equal(await t.page.evaluate(() => document.cookie), '');
});

test('clicking the button sends a click beacon and follows the link; the bar then stays away', async () => {
  use(makeBar());
  const t = await s.clickFollowsLink(env, { href: env.url('/sale'), deployment: 101 });
  assert.deepEqual(await t.context.cookies(), [], 'no cookie');
  await t.goto('/');
  await t.settle();
  assert.equal(await t.host().count(), 0, 'hidden for f[1] days after a conversion');
});

test('a view is sent once the bar shows (delay 1 s), not before, and only once', async () => {
  use(makeBar({ tr: ['d', 1] }));
  await s.viewOnceVisible(env, { delayMs: 1000 });
});

test('no view is sent while the tab is hidden', async () => {
  use(makeBar());
  await s.noViewWhileHidden(env);
});

test('dismiss by keyboard (Tab, Enter): gone, dismiss beacon, still hidden after a reload', async () => {
  use(makeBar({ f: [7, 30] }));
  const before = Date.now();
  const t = await s.dismiss(env, { days: 7 });
  // One localStorage key, one small object per bar: variant kept, hidden until now + 7 days.
  const stored = await t.page.evaluate(() => ({ keys: Object.keys(localStorage), value: localStorage.barkeep }));
  assert.deepEqual(stored.keys, ['barkeep']);
  const { 1: entry, ...others } = JSON.parse(stored.value);
  assert.deepEqual(others, {});
  assert.equal(entry.v, 1);
  assert.ok(entry.h >= before + 7 * DAY && entry.h <= Date.now() + 7 * DAY, `hidden until ${entry.h}`);
});

test('dismiss with f[0] = 0 (Space): the bar comes back on the next page view', async () => {
  use(makeBar({ f: [0, 30] }));
  await s.dismiss(env, { days: 0, key: 'Space' });
});

test('a dismissed bar comes back after f[0] days, a forever one does not', async () => {
  for (const [days, back] of [[2, true], [-1, false]]) {
    use(makeBar({ f: [days, 30] }));
    const t = await env.open({ goto: false });
    await t.context.clock.install();
    await t.goto('/');
    await t.bar().locator('button.x').click();
    await t.host().waitFor({ state: 'detached' });
    await t.context.clock.fastForward(days > 0 ? days * DAY - 3600e3 : 400 * DAY);
    await t.page.reload();
    assert.equal(await t.host().count(), 0, 'still hidden');
    if (back) {
      await t.context.clock.fastForward(2 * 3600e3);
      await t.page.reload();
      await t.bar().waitFor();
    }
    await t.context.close();
  }
});

test('storage that throws (sandboxed pages) behaves as empty', async () => {
  use(makeBar());
  const block = () => {
    for (const k of ['localStorage', 'sessionStorage'])
      Object.defineProperty(window, k, {
        get() {
          throw new DOMException('denied', 'SecurityError');
        },
      });
  };
  const t = await s.shows(env, { init: [block] });
  await t.bar().locator('button.x').click();
  await t.waitEvents('x');
});

test('beacons fall back to fetch (keepalive) when sendBeacon is missing or refuses', async () => {
  use(makeBar());
  const missing = () => delete Navigator.prototype.sendBeacon;
  const refuses = () => (Navigator.prototype.sendBeacon = () => false);
  for (const init of [missing, refuses]) {
    const t = await env.open({ init: [init] });
    await t.waitEvents('v');
    const [v] = t.events('v');
    assert.match(v.headers['content-type'], /^text\/plain/);
    assert.equal(v.data.d, 101);
    // Views of this bar as the server got them (another context's late beacon is not one).
    const views = () =>
      env.received.filter((r) => {
        try {
          const e = JSON.parse(r.body);
          return r.path === '/e' && e.k === 'v' && e.d === 101;
        } catch {
          return false;
        }
      });
    const end = Date.now() + 2000;
    while (!views().length && Date.now() < end) await t.page.waitForTimeout(25);
    await t.page.waitForTimeout(200);
    assert.equal(views().length, 1, 'the server got exactly one view');
    await t.context.close();
    env.received.length = 0;
  }
});

test('a script that runs before the body exists waits for the document', async () => {
  use(makeBar({ o: 0, p: 'top' }));
  env.pageDefaults({ delayBody: 400 });
  const t = await env.open({ goto: false });
  await t.goto('/');
  await s.steady(t);
  assert.equal(await t.page.evaluate(() => document.body.firstElementChild.localName), 'barkeep-sp');
  assert.equal(await t.page.evaluate(() => document.body.lastElementChild.localName), 'barkeep-bar');
});

test('targeting: path include and exclude globs', async () => {
  use(makeBar({ t: { in: ['/blog/*', '/p.html'], ex: ['/blog/private*'] } }));
  await s.shows(env, { path: '/blog/post-1' });
  await s.shows(env, { path: '/p.html' });
  await s.hidden(env, { path: '/shop' });
  await s.hidden(env, { path: '/pxhtml' });
  await s.hidden(env, { path: '/blog/private-2' });
});

test('the first eligible bar wins, and only one bar shows', async () => {
  use(makeBar({ i: 1, t: { ex: ['/x*'] } }, { m: 'First' }), makeBar({ i: 2 }, { d: 201, i: 2, m: 'Second' }));
  await s.shows(env, { message: 'First' });
  await s.shows(env, { path: '/x', message: 'Second' });
});

test('targeting: device desktop / mobile (Pixel 7 emulation), and call bars only on mobile', async () => {
  use(makeBar({ t: { dv: 'desktop' } }));
  await s.shows(env);
  await s.hidden(env, { context: s.PIXEL });
  use(makeBar({ t: { dv: 'mobile' } }));
  await s.shows(env, { context: s.PIXEL });
  await s.hidden(env);
  use(makeBar({ g: 'call' }, { l: 'Call us', u: 'tel:+15551234567' }));
  const t = await s.shows(env, { context: s.PIXEL });
  assert.equal(await t.bar().locator('a.g').getAttribute('href'), 'tel:+15551234567');
  await s.hidden(env);
});

test('targeting: schedule', async () => {
  const now = Date.now();
  use(makeBar({ t: { sa: now - 2 * DAY, ea: now - DAY } }));
  await s.hidden(env);
  use(makeBar({ t: { sa: now + DAY } }));
  await s.hidden(env);
  use(makeBar({ t: { sa: now - 3600e3, ea: now + 3600e3 } }));
  await s.shows(env);
});

test('targeting: UTM source and campaign, remembered for the visit', async () => {
  use(makeBar({ t: { us: 'newsletter', uc: 'spring' } }));
  const t = await s.shows(env, { path: '/?utm_source=Newsletter&utm_campaign=SPRING' });
  await t.goto('/next');
  await t.bar().waitFor();
  await s.hidden(env, { path: '/next' });
  await s.hidden(env, { path: '/?utm_source=ads&utm_campaign=spring' });
});

test('targeting: referrer domain, remembered for the visit', async () => {
  use(makeBar({ t: { rf: 'news.example' } }));
  const shop = env.url('/');
  env.page('/story', { body: `<a id="go" href="${shop}">to the shop</a>` });
  const t = await env.open({ path: '/story', host: 'www.news.example' });
  await t.page.click('#go');
  await t.page.waitForURL(shop);
  await t.bar().waitFor();
  await t.goto('/next', 'shop.example');
  await t.bar().waitFor();
  const u = await env.open({ path: '/story', host: 'fakenews.example' });
  await u.page.click('#go');
  await u.page.waitForURL(shop);
  assert.equal(await u.settle().then(() => u.host().count()), 0);
});

test('hostnames: wildcard entries match the domain and its subdomains only', async () => {
  env.configure({ h: ['*.example.org'], b: [makeBar()] });
  await s.shows(env, { host: 'a.b.example.org' });
  await s.shows(env, { host: 'example.org' });
  await s.hidden(env, { host: 'badexample.org' });
  await s.hidden(env, { host: 'shop.example' });
});

test('does nothing on a hostname that is not the site\'s', async () => {
  use(makeBar());
  const t = await s.hidden(env, { host: 'other.example' });
  assert.equal(t.beacons.length, 0, 'no request to barkeep');
});

for (const [p, sticky] of [['top', 1], ['top', 0], ['bottom', 1], ['bottom', 0]])
  test(`overlay ${p} ${sticky ? 'sticky' : 'scrolling'}: zero layout shift`, async () => {
    use(makeBar({ o: 1, p, s: sticky }));
    await s.overlayNoShift(env, { scroll: true });
  });

test('overlay bottom, not sticky: sits at the end of the page without extending it', async () => {
  use(makeBar({ o: 1, p: 'bottom', s: 0 }));
  env.pageDefaults({ body: `<h1 id="first">Long</h1>${lorem(60)}<footer id="end">end</footer>` });
  env.page('/bare', { noScript: true });
  const bare = await env.open({ path: '/bare' });
  const height = () => bare.page.evaluate(() => document.documentElement.scrollHeight);
  const t = await s.overlayNoShift(env);
  assert.equal(await t.page.evaluate(() => document.documentElement.scrollHeight), await height());
  const bar = await t.bar().boundingBox();
  const end = await t.page.locator('#end').boundingBox();
  assert.ok(Math.abs(bar.y + bar.height - (end.y + end.height)) < 1, 'bar ends where the content ends');
});

test('push-down top (sticky): content below the bar, space grows smoothly', async () => {
  use(makeBar({ o: 0, s: 1 }));
  await s.pushDownTop(env);
});

test('push-down top (scrolling) under prefers-reduced-motion: no animation', async () => {
  use(makeBar({ o: 0, s: 0 }));
  await s.pushDownTop(env, { reducedMotion: true });
});

test('push-down bottom, sticky and scrolling: the end of the content stays above the bar', async () => {
  env.pageDefaults({ body: `<h1 id="first">Long</h1>${lorem(40)}` });
  for (const sticky of [1, 0]) {
    use(makeBar({ o: 0, p: 'bottom', s: sticky }));
    await s.pushDownBottom(env);
  }
});

test('scroll trigger: shows past 50 % of the page, not before', async () => {
  use(makeBar({ tr: ['s', 50] }));
  env.pageDefaults({ body: `<h1 id="first">Long</h1>${lorem(150)}` });
  await s.scrollTrigger(env, { percent: 50 });
});

test('exit intent: the mouse leaving through the top shows the bar', async () => {
  use(makeBar({ tr: ['e'] }));
  await s.exitIntent(env);
});

test('exit intent without a fine pointer: shows after 10 s', async () => {
  use(makeBar({ tr: ['e'] }));
  await s.exitIntentTouch(env);
});

test('A/B: a visitor keeps their variant, also across re-publishes; fresh visitors see both', async () => {
  use(makeBar({ v: TWO }));
  const { t, message } = await s.variantSticks(env);
  const kept = TWO.find((v) => v.m === message);
  // Re-published: new deployment ids, same variant ids.
  use(makeBar({ v: TWO.map((v) => ({ ...v, d: v.d + 100 })) }));
  await t.page.reload();
  await t.bar().waitFor();
  assert.equal(await t.bar().locator('span').first().textContent(), message);
  const end = Date.now() + 3000;
  while (!t.events('v').some((e) => e.data.d === kept.d + 100) && Date.now() < end) await t.page.waitForTimeout(25);
  assert.ok(t.events('v').some((e) => e.data.d === kept.d + 100), 'events carry the new deployment');
  // The kept variant was removed: the visitor gets one that exists.
  const other = TWO.find((v) => v !== kept);
  use(makeBar({ v: [other] }));
  await t.page.reload();
  await t.bar().getByText(other.m).waitFor();
  use(makeBar({ v: TWO }));
  await s.variantsSplit(env, { messages: ['Variant A', 'Variant B'] });
});

test('email goal: lead POST, thank-you text, honeypot unreachable; then hidden as converted', async () => {
  use(makeBar({ g: 'email' }, { l: 'Subscribe', u: undefined, ty: 'Thanks, see you soon!' }));
  const t = await s.emailLead(env, { thanks: 'Thanks, see you soon!' });
  await t.page.reload();
  await t.settle();
  assert.equal(await t.host().count(), 0);
});

test('an invalid address is not sent', async () => {
  use(makeBar({ g: 'email' }, { l: 'Subscribe', u: undefined }));
  const t = await env.open();
  await t.bar().locator('input[type=email]').fill('not-an-address');
  await t.bar().locator('button.g').click();
  await t.page.waitForTimeout(300);
  assert.equal(t.leads().length, 0);
  assert.equal(await t.bar().locator('form').count(), 1);
});

test('hostile page: stylesheet and patched Array prototypes', async () => {
  use(makeBar());
  env.pageDefaults({ head: `<style>${s.HOSTILE_CSS}</style>` });
  await s.hostilePage(env);
});

test('hostile page: strict CSP without inline styles or scripts', async () => {
  use(makeBar());
  env.pageDefaults({ csp: `default-src 'none'; script-src ${env.scriptOrigin}; connect-src ${env.barkeepOrigin}` });
  await s.hostilePage(env);
});

test('Do Not Track / Global Privacy Control add "p":1', async () => {
  use(makeBar());
  await s.privacySignals(env);
});

test('screenshots of a top and a bottom bar', async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const shots = [
    ['top.png', makeBar({ p: 'top' })],
    ['bottom.png', makeBar({ p: 'bottom', g: 'email' }, { m: 'Get our newsletter', l: 'Subscribe' })],
    ['mobile-top.png', makeBar({ p: 'top', o: 0 }), s.PIXEL],
  ];
  for (const [name, bar, context] of shots) {
    use(bar);
    const file = path.join(ARTIFACTS, name);
    fs.rmSync(file, { force: true });
    await s.screenshot(env, { file, context });
    assert.ok(fs.statSync(file).size > 1000);
  }
});

// ---- Element types × goals ----

const TYPES = ['bar', 'modal', 'takeover', 'slider'];
const GOALS = {
  link: [{}, {}],
  email: [{ g: 'email' }, { l: 'Subscribe', u: undefined, ty: 'Thanks, see you soon!' }],
  call: [{ g: 'call' }, { l: 'Call us', u: 'tel:+15551234567' }],
  announcement: [{ g: 'announcement' }, { l: undefined, u: undefined }],
};
/** A BAR of element type `type` ("bar" = no "y") with goal `goal`. */
const typed = (type, goal = 'link', over = {}, variant = {}) =>
  makeBar({ ...(type === 'bar' ? {} : { y: type, p: 'bottom' }), ...GOALS[goal][0], ...over }, { ...GOALS[goal][1], ...variant });
const BEFORE = { body: `<button id="before">Before</button><h1 id="first">Page</h1>${lorem(40)}` };

for (const type of TYPES)
  for (const goal of Object.keys(GOALS))
    test(`${type} × ${goal}: drawn with its role and usable${goal === 'call' ? ' (Pixel 7)' : ''}`, async () => {
      use(typed(type, goal));
      await s.elementWorks(env, {
        type,
        goal,
        href: goal === 'link' ? env.url('/sale') : undefined,
        thanks: 'Thanks, see you soon!',
        message: 'Free shipping this week',
      });
    });

for (const type of ['modal', 'takeover'])
  test(`${type}: keyboard only — focus moves in, Tab stays in, Escape closes, focus returns`, async () => {
    use(typed(type, 'email', { tr: ['d', 1], x: 0 }));
    env.pageDefaults(BEFORE);
    await s.dialogKeyboard(env);
  });

test('modal: a click on the dimmed page closes it (dismiss beacon); a click inside does not', async () => {
  use(typed('modal', 'announcement'));
  const t = await env.open();
  await s.steady(t);
  await t.bar().locator('span').first().click();
  await t.page.waitForTimeout(200);
  assert.equal(await t.host().count(), 1);
  await t.page.mouse.click(5, 5);
  await t.host().waitFor({ state: 'detached' });
  await t.waitEvents('x');
  await t.page.reload();
  await t.settle();
  assert.equal(await t.host().count(), 0, 'hidden for f[0] days like a closed bar');
});

test('slider: never takes focus, the page stays usable and scrollable; corners by p and sd', async () => {
  use(typed('slider', 'link', { tr: ['d', 1] }));
  env.pageDefaults(BEFORE);
  await s.sliderNoFocus(env);
  for (const [p, sd, top, left] of [['bottom', undefined, false, false], ['top', 'l', true, true]]) {
    use(typed('slider', 'link', { p, sd }));
    const t = await env.open({ context: { viewport: { width: 1280, height: 720 } } });
    await s.steady(t);
    const box = await t.bar().boundingBox();
    assert.ok(top ? box.y <= 20 : box.y + box.height >= 700, `${p}: ${JSON.stringify(box)}`);
    assert.ok(left ? box.x <= 20 : box.x + box.width >= 1260, `${sd}: ${JSON.stringify(box)}`);
    assert.ok(box.width <= 360);
    await t.context.close();
  }
});

for (const type of TYPES)
  test(`${type}: axe finds no violation (link and email goals)`, async () => {
    for (const goal of ['link', 'email']) {
      use(typed(type, goal));
      const t = await env.open({ context: { viewport: { width: 1280, height: 720 } } });
      await s.steady(t);
      const result = await new AxeBuilder({ page: t.page })
        .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'])
        .include('barkeep-bar')
        .analyze();
      assert.deepEqual(
        result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
        [],
        `axe on a ${type} with goal ${goal}`
      );
      await t.context.close();
    }
  });

for (const type of TYPES)
  test(`${type}: no animation under prefers-reduced-motion${type === 'bar' ? '' : ', an entrance otherwise'}`, async () => {
    use(typed(type));
    await s.motion(env, { reduced: true });
    await s.motion(env, { reduced: false, animates: type !== 'bar' });
  });

for (const type of TYPES)
  test(`${type}: a right-to-left message lays out right to left, in the variant's colours`, async () => {
    use(typed(type, 'link', {}, { m: 'شحن مجاني هذا الأسبوع', l: 'تسوق الآن' }));
    await s.rightToLeft(env);
  });

for (const type of TYPES)
  test(`${type}: fits a 360 px wide screen (email goal)`, async () => {
    use(typed(type, 'email', {}, { m: 'Get 10 % off your first order when you join our weekly newsletter today' }));
    await s.fitsSmallScreen(env);
  });

for (const type of TYPES)
  test(`${type}: zero layout shift`, async () => {
    use(typed(type, 'email'));
    await s.noShift(env);
  });
