// Runs scenarios of scenarios.mjs against a real barkeep server (external mode), for tests that
// configure the server's bars themselves and then check what a visitor's browser does:
//
//   BARKEEP_SCRIPT_URL=http://127.0.0.1:8080/s/SITEKEY.js BARKEEP_SITE_HOST=shop.example \
//     node tests/browser/run.mjs shows '{"message":"Free shipping"}' clickFollowsLink dismiss
//
// Each scenario name may be followed by a JSON object of its options. Extra keys understood
// here: "device": "Pixel 7" (Playwright's device emulation), "human": true (a regular Chrome
// user agent and no automation flag, so the server counts the visit), and "page": the test pages'
// options (body, head, csp, delayBody) where "csp": "strict" stands for the strict policy
// (script and connect only to the script's origin), "hostileCss": true adds the hostile
// stylesheet and "long": true a page long enough to scroll. Test pages are served on
// BARKEEP_SITE_HOST (any name resolves to 127.0.0.1 inside the browser). Exits non-zero when
// a scenario fails.
import { setup, devices, lorem, EXTERNAL } from './lib.mjs';
import * as scenarios from './scenarios.mjs';

if (!EXTERNAL) {
  console.error('set BARKEEP_SCRIPT_URL to the script URL of a configured site');
  process.exit(2);
}

const helpers = new Set(['steady', 'PATCH_PROTOTYPES']);
const isScenario = (k) => typeof scenarios[k] === 'function' && !helpers.has(k);
const runs = [];
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith('{')) runs.at(-1).options = JSON.parse(arg);
  else if (isScenario(arg)) runs.push({ name: arg, options: {} });
  else {
    console.error(`unknown scenario ${arg}; known: ${Object.keys(scenarios).filter(isScenario).join(', ')}`);
    process.exit(2);
  }
}

const env = await setup();
let passed = 0;
let failed = 0;
for (const { name, options } of runs) {
  if (options.device) options.context = devices[options.device];
  env.human = !!options.human;
  const page = { ...(options.page || {}) };
  const origin = env.scriptOrigin;
  if (page.csp === 'strict') page.csp = `default-src 'none'; script-src ${origin}; connect-src ${origin}`;
  if (page.hostileCss) page.head = `${page.head || ''}<style>${scenarios.HOSTILE_CSS}</style>`;
  if (page.long) page.body = `<h1 id="first">Long</h1>${lorem(150)}`;
  env.pageDefaults(page);
  try {
    await scenarios[name](env, options);
    await env.finish();
    passed++;
    console.log(`ok ${name}`);
  } catch (e) {
    await env.finish().catch((f) => console.error(f.message));
    failed++;
    console.log(`not ok ${name}: ${e.message}${e.actual ? ` ${JSON.stringify(e.actual)}` : ""}`);
  }
}
await env.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
