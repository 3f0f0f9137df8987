// Browser tests of the visitor runtime against its own build (standalone mode): each test gives
// the script a site config, then runs the shared scenarios of scenarios.mjs in Chromium.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setup, makeBar, runtime, runtimeSource, gzipSize, modulesFor, moduleNames, withPort, lorem, ARTIFACTS, WIDGET } from './lib.mjs';
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

test('screenshots of a top and a bottom bar, a modal, a takeover and a slider', async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const shots = [
    ['top.png', makeBar({ p: 'top' })],
    ['bottom.png', makeBar({ p: 'bottom', g: 'email' }, { m: 'Get our newsletter', l: 'Subscribe' })],
    ['mobile-top.png', makeBar({ p: 'top', o: 0 }), s.PIXEL],
    ['modal.png', makeBar({ y: 'modal', g: 'email', cd: { e: 86400 * 2 } }, { m: 'Get our newsletter', l: 'Subscribe' })],
    ['takeover.png', makeBar({ y: 'takeover' }, { m: 'We are live: the spring collection is here' })],
    ['slider.png', makeBar({ y: 'slider', p: 'bottom' })],
    ['mobile-modal.png', makeBar({ y: 'modal', g: 'call' }, { l: 'Call us', u: 'tel:+15551234567' }), s.PIXEL],
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

test('modal taller than a small screen: its own content scrolls, the page behind does not', async () => {
  use(typed('modal', 'email', {}, { m: 'A long message. '.repeat(60) }));
  const t = await env.open({ context: { viewport: { width: 360, height: 400 } } });
  await s.steady(t);
  const box = await t.bar().boundingBox();
  assert.ok(box.height <= 400, `the panel fits the screen: ${box.height}`);
  await t.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await t.page.mouse.wheel(0, 300);
  await t.page.waitForFunction(() => document.querySelector('barkeep-bar').shadowRoot.querySelector('.b').scrollTop > 0);
  await t.page.mouse.move(5, 5);
  await t.page.mouse.wheel(0, 300);
  await t.page.waitForTimeout(200);
  assert.equal(await t.page.evaluate(() => scrollY), 0);
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
  test(`${type}: a right-to-left message lays out right to left (link and email), in the variant's colours`, async () => {
    use(typed(type, 'link', {}, { m: 'شحن مجاني هذا الأسبوع', l: 'تسوق الآن' }));
    await s.rightToLeft(env);
    use(typed(type, 'email', {}, { m: 'اشترك في نشرتنا الإخبارية', l: 'اشترك' }));
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

// ---- Modules: a site's script carries only what its bars need ----

test('one link bar works with no module at all (head + tail): shows, clicks, dismisses', async () => {
  use(makeBar());
  env.modules([]);
  await s.shows(env);
  await s.dismiss(env, { days: 7 });
  await s.clickFollowsLink(env, { path: '/other', href: env.url('/sale'), deployment: 101 });
});

test('a modal with email, countdown, translations and targeting works with exactly the modules the server selects', async () => {
  const bar = typed('modal', 'email', {
    cd: { e: 3600 },
    t: { in: ['/*'], la: { in: ['de'] }, q: [['promo', null]], vn: 'new' },
    fq: [0, 3, 0],
  }, { tx: { de: { m: 'Newsletter abonnieren', l: 'Anmelden' } } });
  use(bar);
  env.modules('auto');
  assert.deepEqual(modulesFor({ b: [bar] }).sort(), ['countdown', 'dialog', 'form', 'freq', 'i18n', 'lang', 'paths', 'query', 'visits']);
  const t = await env.open({ path: '/?promo', context: { locale: 'de-DE' } });
  await s.steady(t);
  assert.equal(await t.bar().locator('span').first().textContent(), 'Newsletter abonnieren');
  assert.equal(await t.bar().locator('button.g').textContent(), 'Anmelden');
  await t.bar().locator('[role=timer]').waitFor();
});

// ---- Targeting ----

const MIN = 60e3;
/** A context with Playwright's clock installed (at `time`, flowing), on `path`. */
async function clocked(o = {}) {
  const t = await env.open({ goto: false, context: o.context, init: o.init });
  await t.context.clock.install(o.time ? { time: o.time } : {});
  await t.goto(o.path ?? '/');
  await t.settle();
  return t;
}
/** The message shown after the runtime has had time to act, or null for no element. */
async function shown(t) {
  await t.settle(400);
  return (await t.host().count()) ? t.bar().locator('span').first().textContent() : null;
}
async function reloadShown(t, forward = 0) {
  if (forward) await t.context.clock.fastForward(forward);
  await t.page.reload();
  return shown(t);
}

test('visits: new and returning across reloads; a visit ends after 30 idle minutes', async () => {
  use(makeBar({ i: 1, t: { vn: 'returning' } }, { m: 'Welcome back' }), makeBar({ i: 2, t: { vn: 'new' } }, { d: 201, i: 2, m: 'Hello' }));
  const t = await clocked();
  assert.equal(await shown(t), 'Hello');
  assert.equal(await reloadShown(t, 29 * MIN), 'Hello', 'the same visit');
  assert.equal(await reloadShown(t, 29 * MIN), 'Hello', 'still the same visit: 29 minutes since the last page');
  assert.equal(await reloadShown(t, 31 * MIN), 'Welcome back');
  assert.equal(await reloadShown(t), 'Welcome back');
});

test('visits: visit number range', async () => {
  use(makeBar({ t: { vc: [2, 3] } }));
  const t = await clocked();
  const seen = [await shown(t)];
  for (let i = 0; i < 3; i++) seen.push(await reloadShown(t, 31 * MIN));
  assert.deepEqual(seen.map(Boolean), [false, true, true, false]);
  use(makeBar({ t: { vc: [null, 1] } }));
  assert.equal(Boolean(await reloadShown(t, 31 * MIN)), false, 'visit 5 is past an open-ended max of 1');
});

test('visits: whole days since the previous visit (never on a first visit)', async () => {
  use(makeBar({ t: { ds: [1, null] } }));
  const t = await clocked();
  assert.equal(await shown(t), null, 'a first visit has no previous one');
  assert.equal(await reloadShown(t, 31 * MIN), null, 'previous visit 31 minutes ago: 0 days');
  assert.ok(await reloadShown(t, 2 * DAY), '2 days since the previous visit');
  use(makeBar({ t: { ds: [null, 0] } }));
  assert.equal(await reloadShown(t, 3 * DAY), null);
  assert.ok(await reloadShown(t, 40 * MIN));
});

test('visits: pages seen this visit, counting this one', async () => {
  use(makeBar({ t: { pv: [3, 4] } }));
  const t = await clocked();
  const seen = [await shown(t)];
  for (let i = 0; i < 4; i++) seen.push(await reloadShown(t, MIN));
  seen.push(await reloadShown(t, 31 * MIN));
  assert.deepEqual(seen.map(Boolean), [false, false, true, true, false, false]);
});

test('visits: counters stay in the visitor\'s storage and never appear in a beacon', async () => {
  use(makeBar({ g: 'email', t: { vn: 'new', pv: [1, null] } }, { l: 'Subscribe', u: undefined }));
  const t = await s.emailLead(env);
  await t.page.reload();
  const stored = await t.page.evaluate(() => JSON.parse(localStorage.barkeep)._);
  assert.equal(stored.n, 1);
  assert.equal(stored.p, 2);
  for (const b of t.beacons) {
    assert.deepEqual(Object.keys(b.data).filter((k) => !['k', 'd', 'h', 'p', 'b', 'm', 'hp'].includes(k)), [], b.raw);
    assert.ok(!/"(n|l|s|t)":|_/.test(b.raw), `no visit counter in ${b.raw}`);
  }
});

test('language: include and exclude by the visitor\'s languages (tag or tag + "-")', async () => {
  const cases = [
    [{ in: ['de'] }, 'de-DE', true],
    [{ in: ['de'] }, 'fr-FR', false],
    [{ in: ['fr', 'pt-br'] }, 'pt-BR', true],
    [{ in: ['pt-br'] }, 'pt-PT', false],
    [{ in: ['pt'] }, 'pt-BR', true],
    [{ ex: ['de'] }, 'de-AT', false],
    [{ ex: ['de'] }, 'en-US', true],
    [{ in: ['en'], ex: ['en-gb'] }, 'en-GB', false],
  ];
  for (const [la, locale, show] of cases) {
    use(makeBar({ t: { la } }));
    if (show) await s.shows(env, { context: { locale } });
    else await s.hidden(env, { context: { locale } });
  }
});

test('clock: weekday and time of day in a named zone and in the visitor\'s own', async () => {
  // Wednesday 10:30 UTC = 11:30 in Berlin, 19:30 in Tokyo, 05:30 in New York.
  const time = new Date('2026-12-09T10:30:00Z');
  const cases = [
    [{ wd: [3], hr: [660, 720], tz: 'Europe/Berlin' }, 'UTC', true],
    [{ hr: [600, 660], tz: 'Europe/Berlin' }, 'UTC', false],
    [{ wd: [4], tz: 'Europe/Berlin' }, 'UTC', false],
    [{ wd: [4], tz: 'Asia/Tokyo' }, 'UTC', false],
    [{ hr: [1140, 1200] }, 'Asia/Tokyo', true],
    [{ hr: [1140, 1200] }, 'America/New_York', false],
    [{ hr: [1320, 360] }, 'America/New_York', true],
    [{ hr: [1320, 360] }, 'Asia/Tokyo', false],
    [{ wd: [1, 2, 3, 4, 5], hr: [300, 360] }, 'America/New_York', true],
    [{ wd: [6, 7] }, 'Asia/Tokyo', false],
    [{ wd: [3], tz: 'Not/A_Zone' }, 'UTC', false],
  ];
  for (const [rule, timezoneId, show] of cases) {
    use(makeBar({ t: rule }));
    const t = await clocked({ time, context: { timezoneId } });
    assert.equal(Boolean(await shown(t)), show, `${JSON.stringify(rule)} in ${timezoneId}`);
    if (!show) assert.equal(t.events().length, 0);
    await t.context.close();
  }
});

test('query parameters: present or equal', async () => {
  use(makeBar({ t: { q: [['ref', 'mail'], ['promo', null]] } }));
  await s.shows(env, { path: '/?promo&ref=mail' });
  await s.shows(env, { path: '/p?ref=mail&promo=7&x=1' });
  await s.hidden(env, { path: '/?ref=mail' });
  await s.hidden(env, { path: '/?ref=Mail&promo' });
  await s.hidden(env, { path: '/' });
});

const pushed = (when, values) =>
  when === 'head'
    ? `<script>(window.barkeep = window.barkeep || []).push(${values.map((v) => JSON.stringify(v)).join(', ')})</script>`
    : `<script>setTimeout(() => (window.barkeep = window.barkeep || []).push(${values.map((v) => JSON.stringify(v)).join(', ')}), ${when})</script>`;

test('page values: pushed before the script, the later ones winning; compared as text', async () => {
  use(makeBar({ t: { pg: [['plan', 'pro'], ['logged_in', 'true']] } }));
  env.page('/a', { head: pushed('head', [{ plan: 'free', logged_in: true }, { plan: 'pro' }]) });
  env.page('/b', { head: pushed('head', [{ plan: 'pro' }, { plan: 'free', logged_in: true }]) });
  env.page('/c', { head: pushed('head', [{ plan: 'pro' }]) });
  const t = await s.shows(env, { path: '/a' });
  assert.equal(await t.page.evaluate(() => window.barkeep.length), 2, 'the page\'s array keeps its entries');
  await s.hidden(env, { path: '/b' });
  await s.hidden(env, { path: '/c' });
  await s.hidden(env, { path: '/none' });
});

test('page values: pushed after load (new array, or onto the existing one) pick again; no global made', async () => {
  use(makeBar({ t: { pg: [['plan', 'pro']] } }));
  // The page pushes when the test says so (window.later), after the runtime has looked.
  const later = (v) => `<script>window.later = () => (window.barkeep = window.barkeep || []).push(${JSON.stringify(v)})</script>`;
  env.page('/late', { body: `<h1>Late</h1>${later({ plan: 'pro' })}` });
  env.page('/queue', { head: pushed('head', [{ plan: 'free' }]), body: `<h1>Queue</h1>${later({ plan: 'pro' })}` });
  env.page('/wrong', { body: `<h1>Wrong</h1>${later({ plan: 'basic' })}` });
  const late = await env.open({ path: '/late' });
  await late.settle(600);
  assert.equal(await late.host().count(), 0, 'no bar before the value');
  await late.page.evaluate(() => window.later());
  await late.bar().waitFor({ timeout: 3000 });
  await late.waitEvents('v');
  const queue = await env.open({ path: '/queue' });
  await queue.settle(300);
  assert.equal(await queue.host().count(), 0);
  assert.equal(await queue.page.evaluate(() => window.later()), 2, 'push still returns the new length');
  await queue.bar().waitFor({ timeout: 1000 });
  assert.equal(await queue.page.evaluate(() => window.barkeep.push({ more: 1 })), 3);
  const wrong = await env.open({ path: '/wrong' });
  await wrong.settle(300);
  await wrong.page.evaluate(() => window.later());
  assert.equal(await wrong.settle(1200).then(() => wrong.host().count()), 0);
  assert.equal(wrong.events().length, 0);
  const none = await s.hidden(env, { path: '/nothing', wait: 800 });
  assert.equal(await none.page.evaluate(() => 'barkeep' in window), false, 'no window.barkeep made by the runtime');
});

test('nothing matches: nothing is drawn and nothing is sent', async () => {
  use(
    makeBar({ i: 1, t: { la: { in: ['xx'] } } }),
    makeBar({ i: 2, t: { q: [['never', null]] } }),
    makeBar({ i: 3, t: { vn: 'returning' } }),
    makeBar({ i: 4, t: { pg: [['plan', 'pro']] }, fq: [1, 1, 5] }),
    makeBar({ i: 5, y: 'modal', cd: { u: Date.now() - 1000 } })
  );
  const t = await s.hidden(env, { wait: 1200 });
  assert.equal(t.beacons.length, 0, 'no request to barkeep');
  assert.equal(await t.page.evaluate(() => document.querySelector('barkeep-bar, barkeep-sp')), null);
});

// ---- Frequency ----

test('frequency: once per visit', async () => {
  use(makeBar({ fq: [1, 0, 0] }));
  const t = await clocked();
  const seen = [await shown(t), await reloadShown(t, MIN), await reloadShown(t, 31 * MIN), await reloadShown(t, MIN)];
  assert.deepEqual(seen.map(Boolean), [true, false, true, false]);
});

test('frequency: at most N views in all', async () => {
  use(makeBar({ fq: [0, 2, 0] }));
  const t = await clocked();
  const seen = [await shown(t), await reloadShown(t, MIN), await reloadShown(t, 31 * MIN), await reloadShown(t, DAY)];
  assert.deepEqual(seen.map(Boolean), [true, true, false, false]);
});

test('frequency: every Nth page view of the site', async () => {
  use(makeBar({ fq: [0, 0, 3] }));
  const t = await clocked();
  const seen = [await shown(t)];
  for (let i = 0; i < 6; i++) seen.push(await reloadShown(t, i === 3 ? 31 * MIN : MIN));
  assert.deepEqual(seen.map(Boolean), [false, false, true, false, false, true, false]);
});

// ---- Translations ----

const TX = {
  de: { m: 'Versandkostenfrei diese Woche', l: 'Jetzt kaufen' },
  'pt-br': { m: 'Frete grátis esta semana' },
  ar: { m: 'شحن مجاني هذا الأسبوع', l: 'تسوق الآن' },
};
const languages = (list) => [
  (list) => Object.defineProperty(Navigator.prototype, 'languages', { get: () => list, configurable: true }),
  list,
];

test('translations: the first matching language wins, field by field, else the variant\'s texts', async () => {
  use(makeBar({}, { tx: TX }));
  const cases = [
    [{ context: { locale: 'de-AT' } }, 'Versandkostenfrei diese Woche', 'Jetzt kaufen'],
    [{ context: { locale: 'pt-BR' } }, 'Frete grátis esta semana', 'Shop now'],
    [{ context: { locale: 'pt-PT' } }, 'Free shipping this week', 'Shop now'],
    [{ context: { locale: 'fr-FR' } }, 'Free shipping this week', 'Shop now'],
    [{ init: [languages(['fr-FR', 'pt-BR', 'de'])] }, 'Frete grátis esta semana', 'Shop now'],
    [{ init: [languages(['de-CH', 'pt-BR'])] }, 'Versandkostenfrei diese Woche', 'Jetzt kaufen'],
  ];
  for (const [o, m, l] of cases) {
    const t = await s.shows(env, { ...o, message: m });
    assert.equal(await t.bar().locator('a.g').textContent(), l);
    await t.waitEvents('v');
    assert.deepEqual(Object.keys(t.events('v')[0].data).sort(), ['b', 'd', 'h', 'k'], 'the language is never sent');
    await t.context.close();
  }
});

test('translations: a right-to-left translation lays out right to left', async () => {
  use(typed('slider', 'link', {}, { tx: TX }));
  await s.rightToLeft(env, { context: { locale: 'ar-EG' } });
});

// ---- Countdown ----

test('countdown, fixed end: ticks every second in the visitor\'s language, then the element goes', async () => {
  const time = new Date('2026-12-09T10:00:00Z').getTime();
  use(makeBar({ cd: { u: time + DAY + 2 * 3600e3 + 3 * MIN + 4e3 } }));
  const t = await clocked({ time, context: { locale: 'en-US' } });
  const timer = t.bar().locator('[role=timer]');
  assert.match(await timer.textContent(), /^1 day 02:03:0[0-4]$/);
  assert.equal(await timer.getAttribute('aria-live'), null, 'a timer is not announced (implicit aria-live off)');
  await t.context.clock.fastForward(DAY);
  assert.match(await timer.textContent(), /^02:0[23]:\d\d$/);
  const before = await timer.textContent();
  await t.context.clock.runFor(2000);
  assert.notEqual(await timer.textContent(), before, 'it ticks');
  await t.context.clock.fastForward(2 * 3600e3 + 4 * MIN);
  await t.host().waitFor({ state: 'detached' });
  assert.equal(t.events('x').length, 0, 'ending is no dismissal');
  await t.page.reload();
  assert.equal(await shown(t), null, 'an ended countdown without end text makes the bar ineligible');
  await t.context.close();
  // Localised: days as a unit, digits in the visitor's script.
  for (const [locale, re] of [['de-DE', /^1 Tag \d\d:\d\d:\d\d$/], ['ar-EG', /[٠-٩]{2}:[٠-٩]{2}:[٠-٩]{2}/]]) {
    const u = await clocked({ time, context: { locale } });
    assert.match(await u.bar().locator('[role=timer]').textContent(), re, locale);
    await u.context.close();
  }
});

test('countdown with end text: shown in place of message and countdown (translated too)', async () => {
  const time = new Date('2026-12-09T10:00:00Z').getTime();
  use(makeBar({ cd: { u: time + 5e3, x: 'The sale is over' } }, { tx: { de: { x: 'Der Ausverkauf ist vorbei' } } }));
  const t = await clocked({ time });
  await t.bar().locator('[role=timer]').waitFor();
  await t.context.clock.fastForward(6e3);
  await t.bar().getByText('The sale is over').waitFor();
  assert.equal(await t.bar().locator('[role=timer]').count(), 0);
  assert.equal(await t.bar().locator('span').first().textContent(), 'The sale is over');
  const u = await clocked({ time: time + 60e3, context: { locale: 'de-DE' } });
  assert.equal(await shown(u), 'Der Ausverkauf ist vorbei', 'already over: the end text at once');
});

test('countdown, evergreen: ends N seconds after this visitor\'s first view, kept across reloads', async () => {
  use(makeBar({ cd: { e: 3600 } }, {}));
  const t = await clocked();
  const timer = t.bar().locator('[role=timer]');
  assert.match(await timer.textContent(), /^(01:00:00|00:59:5\d)$/);
  const end = await t.page.evaluate(() => JSON.parse(localStorage.barkeep)[1].e);
  assert.ok(Math.abs(end - 3600e3 - (await t.page.evaluate(() => Date.now()))) < 5e3, 'the end is stored');
  await t.page.reload();
  await t.context.clock.fastForward(30 * MIN);
  await t.page.reload();
  assert.match(await timer.textContent(), /^00:(29|30):\d\d$/, 'not restarted by a reload');
  // Another visitor starts their own hour.
  const u = await clocked();
  assert.match(await u.bar().locator('[role=timer]').textContent(), /^(01:00:00|00:59:5\d)$/);
  await t.context.clock.fastForward(31 * MIN);
  await t.host().waitFor({ state: 'detached' });
  await t.page.reload();
  assert.equal(await shown(t), null, 'over for this visitor');
});

for (const type of ['modal', 'takeover', 'slider'])
  test(`${type}: on a hostile page (stylesheet, patched prototypes) and under a strict CSP, in its own colours`, async () => {
    for (const page of [
      { head: `<style>${s.HOSTILE_CSS}</style>` },
      { csp: `default-src 'none'; script-src ${env.scriptOrigin}; connect-src ${env.barkeepOrigin}` },
    ]) {
      use(typed(type, 'email'));
      env.pageDefaults(page);
      const t = await s.elementWorks(env, {
        type,
        goal: 'email',
        init: [s.PATCH_PROTOTYPES],
        thanks: 'Thanks, see you soon!',
        background: 'rgb(17, 34, 51)',
        color: 'rgb(255, 255, 255)',
      });
      const sizes = await t.bar().evaluate((b) => [getComputedStyle(b).fontSize, getComputedStyle(b.getRootNode().host).position]);
      assert.equal(sizes[1], 'fixed');
      assert.ok(parseFloat(sizes[0]) < 40, `the page's font size does not reach in: ${sizes[0]}`);
      await t.context.close();
    }
  });

test('countdown already over when a delayed push-down bar or modal shows: the element and its spacer go, focus returns', async () => {
  for (const over of [{ o: 0 }, { y: 'modal' }]) {
    const time = new Date('2026-12-09T10:00:00Z').getTime();
    use(makeBar({ ...over, tr: ['d', 2], cd: { u: time + 1000 } }));
    env.pageDefaults(BEFORE);
    const t = await clocked({ time });
    await t.page.locator('#before').focus();
    await t.context.clock.fastForward(3000);
    await t.page.waitForTimeout(300);
    assert.equal(await t.page.evaluate(() => document.querySelectorAll('barkeep-bar, barkeep-sp').length), 0);
    assert.equal(await t.page.evaluate(() => document.activeElement.id), 'before');
    assert.equal(t.events().length, 0);
    await t.context.close();
  }
});

test('a delayed email modal with an evergreen countdown and a German translation: used, by keyboard, no shift', async () => {
  use(
    typed('modal', 'email', { tr: ['d', 1], cd: { e: 3600 } }, {
      m: 'Join our list',
      ty: 'Welcome aboard',
      tx: { de: { m: 'Tritt unserer Liste bei', ty: 'Willkommen' } },
    })
  );
  env.pageDefaults({ body: '<button id="before">A button of the page</button><p>Content</p>' });
  await s.elementWorks(env, { type: 'modal', goal: 'email', thanks: 'Welcome aboard', message: 'Join our list' });
  await s.elementWorks(env, {
    type: 'modal',
    goal: 'email',
    thanks: 'Willkommen',
    message: 'Tritt unserer Liste bei',
    context: { locale: 'de-DE', viewport: { width: 1280, height: 800 } },
  });
  await s.dialogKeyboard(env);
  await s.noShift(env);
});

// ---- Holdout and site goals ----

const HOST = 'shop.example';
/** Init script: the runtime's storage starts as `o` (only when the context has none yet). */
const seeded = (o) => [
  (s) => {
    try {
      localStorage.barkeep ??= s;
    } catch {}
  },
  JSON.stringify(o),
];
/** Init script: Math.random() returns `r`, or localStorage.rnd once a test sets it. */
const random = (r) => [
  (r) => {
    Math.random = () => {
      try {
        return +(localStorage.rnd ?? r);
      } catch {
        return r;
      }
    };
  },
  r,
];
const HELD = random(0); // 0 * 100 < ho: held out
const SHOWN = random(0.99); // never held out (ho <= 50); the last variant by weight
/** The fields of an event beacon that the feature decides (k, d, g, a, n), in a fixed order. */
const ev = (e) => {
  const { k, d, g, a, n } = e.data;
  return JSON.parse(JSON.stringify({ k, d, g, a, n }));
};
const evs = (t, ...kinds) => t.events().filter((e) => kinds.includes(e.data.k)).map(ev);
/** Lets the runtime act, then checks the number of beacons of each kind named. */
async function counts(t, want, ms = 400) {
  await t.settle(ms);
  const got = {};
  for (const k of Object.keys(want)) got[k] = t.events(k).length;
  assert.deepEqual(got, want);
}
/** Nothing but the contract's fields in any beacon, no cookie, and only the "barkeep" keys. */
async function clean(t) {
  for (const b of t.beacons) {
    const extra = Object.keys(b.data).filter((k) => !['k', 'd', 'h', 'g', 'a', 'n', 'p', 'b'].includes(k));
    assert.deepEqual(extra, [], `nothing more in ${b.raw}`);
    assert.equal(b.data.h, HOST);
  }
  assert.deepEqual(await t.context.cookies(), []);
  assert.equal(await t.page.evaluate(() => document.cookie), '');
  const keys = await t.page.evaluate(() => [Object.keys(localStorage).filter((k) => k !== 'rnd'), Object.keys(sessionStorage)]);
  assert.deepEqual(keys, [['barkeep'], ['barkeep']]);
}

test('modules: goals goes along with site goals or a bar with a holdout', () => {
  assert.deepEqual(modulesFor({ b: [makeBar()], g: [[7, 'signup', '/thanks*']] }), ['goals']);
  assert.deepEqual(modulesFor({ b: [makeBar({ ho: 10 })] }), ['goals']);
  assert.deepEqual(modulesFor({ b: [makeBar()], g: [] }), []);
  assert.ok(moduleNames().indexOf('goals') > moduleNames().indexOf('source'));
});

test('holdout: a held-out visitor sees nothing, no view, one "o" per visit; without ho the bar shows by weight', async () => {
  // With "at most 1 view": not being shown is no view, so the bar shows once the holdout ends.
  const bar = (over = {}) => makeBar({ v: TWO, fq: [0, 1, 0], ...over });
  env.configure({ b: [bar({ ho: 50 })] });
  env.modules('auto');
  const t = await env.open({ init: [seeded({ 1: { v: 0 } })] });
  await t.waitEvents('o');
  await counts(t, { o: 1, v: 0, e: 0 });
  assert.equal(await t.host().count(), 0, 'nothing drawn');
  assert.deepEqual(evs(t, 'o'), [{ k: 'o', d: 301 }], "the first variant's deployment");
  await t.goto('/other');
  await counts(t, { o: 1, v: 0, e: 0 });
  assert.equal(await t.host().count(), 0, 'still held out');
  const entry = () => t.page.evaluate(() => JSON.parse(localStorage.barkeep)[1]);
  assert.deepEqual(await entry(), { v: 0 }, 'nothing counted as a view');
  await clean(t);
  // The bar no longer holds visitors out: the held-out visitor gets a variant by weight.
  env.configure({ b: [bar()] });
  await t.page.reload();
  await t.bar().waitFor();
  await t.waitEvents('v');
  assert.ok([1, 2].includes((await entry()).v));
  assert.equal(t.events('o').length, 1);
});

test('holdout: a new visitor is held out with probability ho/100, sticky on reload; a removed variant is re-picked by weight', async () => {
  env.configure({ b: [makeBar({ ho: 30, v: TWO })] });
  const held = await env.open({ init: [HELD] });
  await held.waitEvents('o');
  await counts(held, { o: 1, e: 0, v: 0 });
  // Math.random would now show it: the holdout sticks.
  await held.page.evaluate(() => (localStorage.rnd = '0.99'));
  await held.page.reload();
  await counts(held, { o: 1, e: 0, v: 0 });
  assert.equal(await held.host().count(), 0);

  const shown = await env.open({ init: [SHOWN] });
  await shown.bar().getByText('Variant B').waitFor();
  await shown.waitEvents('e');
  await shown.waitEvents('v');
  assert.deepEqual(evs(shown, 'e', 'o'), [{ k: 'e', d: 302 }]);
  // Math.random would now hold it out: the variant sticks.
  await shown.page.evaluate(() => (localStorage.rnd = '0'));
  await shown.page.reload();
  await shown.bar().getByText('Variant B').waitFor();
  await counts(shown, { o: 0, e: 1 });

  // A stored variant that no longer exists: a new variant by weight, never the holdout.
  const gone = await env.open({ init: [HELD, seeded({ 1: { v: 9 } })] });
  await gone.bar().getByText('Variant A').waitFor();
  await counts(gone, { o: 0, e: 1 });

  // Over fresh visitors without a stub, both arms occur.
  env.configure({ b: [makeBar({ ho: 50 })] });
  const seen = new Set();
  for (let i = 0; i < 24 && seen.size < 2; i++) {
    const t = await env.open();
    await t.waitEvents(undefined, 1);
    seen.add(t.events()[0].data.k);
    await t.context.close();
  }
  assert.deepEqual([...seen].sort(), ['e', 'o']);
});

test('goals: a path goal counts on a later page of the visit, once, for the arm the visitor was in', async () => {
  env.configure({ b: [makeBar({ ho: 50 })], g: [[7, 'signup', '/thanks*']] });
  const t = await env.open({ goto: false, init: [SHOWN] });
  await t.context.clock.install();
  await t.goto('/');
  await t.bar().waitFor();
  await t.waitEvents('e');
  await t.goto('/thanks/order-1');
  await t.waitEvents('g');
  await counts(t, { e: 1, g: 1 });
  assert.deepEqual(evs(t, 'e', 'o', 'g'), [{ k: 'e', d: 101 }, { k: 'g', d: 101, g: 7, a: 0 }]);
  await t.page.reload();
  await t.goto('/thanks');
  await counts(t, { e: 1, g: 1 });
  await clean(t);
  // 31 minutes later a new visit begins: its exposure is new, its goal too, on a later page.
  await t.context.clock.fastForward(31 * MIN);
  await t.goto('/');
  await t.waitEvents('e', 2);
  await t.goto('/thanks');
  await t.waitEvents('g', 2);
  await counts(t, { e: 2, g: 2 });

  const held = await env.open({ init: [HELD] });
  await held.waitEvents('o');
  await held.goto('/thanks');
  await held.waitEvents('g');
  await counts(held, { o: 1, g: 1, v: 0 });
  assert.deepEqual(evs(held, 'e', 'o', 'g'), [{ k: 'o', d: 101 }, { k: 'g', d: 101, g: 7, a: 1 }]);
  await clean(held);
});

test('goals: a path goal on the page of the exposure does not count; goals are sent per bar exposed', async () => {
  env.configure({
    b: [makeBar({ i: 1, t: { in: ['/thanks*'] } }), makeBar({ i: 2, ho: 20, t: { ex: ['/thanks*'] } }, { d: 201, i: 3 })],
    g: [[7, 'signup', '/thanks*']],
  });
  env.modules('auto');
  const t = await env.open({ path: '/thanks', init: [SHOWN] });
  await t.waitEvents('e');
  await counts(t, { e: 1, g: 0 });
  await t.goto('/');
  await t.waitEvents('e', 2);
  await counts(t, { e: 2, g: 0 }, 200);
  await t.goto('/thanks');
  await t.waitEvents('g', 2);
  await counts(t, { e: 2, g: 2 });
  assert.deepEqual(
    evs(t, 'g').sort((a, b) => a.d - b.d),
    [{ k: 'g', d: 101, g: 7, a: 0 }, { k: 'g', d: 201, g: 7, a: 0 }]
  );
});

test('goals: the visit survives a new landing remembered by the source module (same tab storage)', async () => {
  env.configure({ b: [makeBar({ ho: 50, t: { us: 'mail' } })], g: [[7, 'signup', '/thanks*']] });
  env.modules('auto');
  const t = await env.open({ path: '/?utm_source=mail', init: [SHOWN] });
  await t.waitEvents('e');
  // Another tagged link: the landing is replaced, the visit's exposures stay.
  await t.goto('/thanks?utm_source=mail&utm_campaign=spring');
  await t.waitEvents('g');
  await t.goto('/');
  await t.bar().waitFor();
  await counts(t, { e: 1, g: 1 });
  const v = await t.page.evaluate(() => JSON.parse(sessionStorage.barkeep));
  assert.deepEqual([v.s, v.c, v.g.e, v.g.r], ['mail', 'spring', [[1, 101, 0]], ['7:1']]);
});

test('goals: barkeep.goal(name, value) and queued calls; values rounded, invalid ones left out; unknown names ignored', async () => {
  const g = [[7, 'signup', '/thanks*'], [8, 'purchase', null], [9, 'trial', null], [10, 'demo', null], [11, 'lead', null]];
  env.configure({ b: [makeBar()], g });
  env.modules('auto');
  const t = await env.open();
  await t.waitEvents('e');
  const r = await t.page.evaluate(() =>
    [
      barkeep.goal('purchase', 49.904),
      barkeep.goal('purchase', 10),
      barkeep.goal('nope', 1),
      barkeep.goal('trial', -5),
      barkeep.goal('demo', NaN),
      barkeep.goal('lead', '12'),
      barkeep.goal('signup', Infinity),
    ].map((v) => typeof v)
  );
  assert.deepEqual(r, Array(7).fill('undefined'));
  await t.waitEvents('g', 5);
  await counts(t, { g: 5 });
  // A goal with a glob can be called too.
  assert.deepEqual(evs(t, 'g').sort((a, b) => a.g - b.g), [
    { k: 'g', d: 101, g: 7, a: 0 },
    { k: 'g', d: 101, g: 8, a: 0, n: 49.9 },
    { k: 'g', d: 101, g: 9, a: 0 },
    { k: 'g', d: 101, g: 10, a: 0 },
    { k: 'g', d: 101, g: 11, a: 0 },
  ]);
  await clean(t);

  // Queued before the script, with page values in the same array (page values still work,
  // and the goal's entry gives none: no "0" value), and pushed later.
  env.configure({
    b: [makeBar({ i: 1, t: { pg: [['0', 'goal']] } }, { m: 'Wrong' }), makeBar({ i: 2, t: { pg: [['plan', 'pro']] } }, { d: 201, i: 2 })],
    g,
  });
  env.page('/buy', { head: pushed('head', [['goal', 'purchase', 12.5], { plan: 'pro' }, ['goal', 'nope']]) });
  const q = await env.open({ path: '/buy' });
  await q.bar().getByText('Free shipping this week').waitFor();
  await q.waitEvents('g');
  assert.deepEqual(evs(q, 'e', 'g'), [{ k: 'e', d: 201 }, { k: 'g', d: 201, g: 8, a: 0, n: 12.5 }]);
  assert.equal(await q.page.evaluate(() => window.barkeep.push(['goal', 'trial'], { plan: 'pro' })), 5);
  await q.waitEvents('g', 2);
  assert.deepEqual(evs(q, 'g')[1], { k: 'g', d: 201, g: 9, a: 0 });
  // A later page of the visit: the page's calls count for the earlier exposure, once.
  await q.goto('/more');
  await q.page.evaluate(() => [barkeep.goal('purchase', 3), barkeep.goal('demo')]);
  await q.waitEvents('g', 3);
  await counts(q, { e: 1, g: 3 });
  assert.deepEqual(evs(q, 'g')[2], { k: 'g', d: 201, g: 10, a: 0 });

  // Another tab has its own visit: no goal for this tab's exposure there.
  env.configure({ b: [makeBar({ t: { ex: ['/thanks*'] } })], g });
  const tab = await q.context.newPage();
  await tab.goto(env.url('/thanks'));
  await tab.waitForLoadState('load');
  await tab.waitForTimeout(400);
  await tab.evaluate(() => barkeep.goal('lead'));
  await tab.waitForTimeout(400);
  await counts(q, { e: 1, g: 3 });
});

test('goals: the one global is the page\'s barkeep array; nothing else is added, no cookie', async () => {
  env.configure({ b: [makeBar({ ho: 10 })], g: [[8, 'purchase', null]] });
  env.page('/bare', { noScript: true });
  const bare = await env.open({ path: '/bare' });
  const without = new Set(await bare.page.evaluate(() => Object.getOwnPropertyNames(window)));
  const t = await env.open({ init: [SHOWN] });
  await t.waitEvents('e');
  const added = (await t.page.evaluate(() => Object.getOwnPropertyNames(window))).filter((n) => !without.has(n));
  assert.deepEqual(added, ['barkeep']);
  assert.deepEqual(await t.page.evaluate(() => [Array.isArray(barkeep), barkeep.length, typeof barkeep.goal]), [true, 0, 'function']);
  await clean(t);
  // A holdout without site goals makes no global.
  env.configure({ b: [makeBar({ ho: 10 })] });
  const h = await env.open({ init: [HELD] });
  await h.waitEvents('o');
  assert.equal(await h.page.evaluate(() => 'barkeep' in window), false);
});
