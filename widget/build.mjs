// Builds the visitor runtime as pieces the server assembles per site:
//
//   node widget/build.mjs <outdir>   ->   <outdir>/runtime.json
//   { "head": js, "tail": js, "modules": [[name, js], ...], "needs": {name: [name, ...]} }
//
// A site's script is head + (the code of each module it needs, in the order of "modules") +
// tail. The free identifier __BK_CONFIG__ occurs exactly once in head + tail and in no module;
// the server replaces it with the site's config JSON. Any subset of modules gives one IIFE.
//
// The head opens the IIFE and the module list K; each module (src/mod/NAME.js) is a single
// statement `K[K.length] = (x) => {...}` minified on its own (K stays free, so it keeps its
// name); the tail is src/core.js, minified on its own, plus the closing of the IIFE.
// esbuild is resolved from widget/node_modules, or from $BARKEEP_NODE_MODULES when set.
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NODE_MODULES = path.resolve(process.env.BARKEEP_NODE_MODULES || path.join(HERE, 'node_modules'));
const esbuild = createRequire(path.join(NODE_MODULES, 'noop.js'))(path.join(NODE_MODULES, 'esbuild'));

/** Module names in concatenation order, and the modules each one needs. */
export const MODULES = [
  ['source', []],
  ['paths', []],
  ['device', []],
  ['schedule', []],
  ['visits', []],
  ['freq', ['visits']],
  ['lang', []],
  ['clock', []],
  ['query', []],
  ['page', []],
  // After source: both keep the tab's visit in sessionStorage.barkeep, and source, which
  // rewrites it on a new landing, must run first.
  ['goals', []],
  ['i18n', []],
  ['form', []],
  ['push', []],
  ['slider', []],
  ['dialog', []],
  // After the element modules: a countdown already over when the element is built takes it
  // away through their x.rm (spacer, focus) too.
  ['countdown', []],
  ['scroll', []],
  ['exit', []],
];

const min = (file) =>
  esbuild
    .transformSync(fs.readFileSync(path.join(HERE, 'src', file), 'utf8'), {
      loader: 'js',
      minify: true,
      target: 'es2020',
      legalComments: 'none',
    })
    .code.trim();

export function build() {
  const head = '(()=>{const K=[];';
  const tail = min('core.js') + '})();';
  const modules = MODULES.map(([name]) => [name, min(`mod/${name}.js`)]);
  const needs = Object.fromEntries(MODULES);

  // The contract, checked on every build.
  const count = (s) => s.split('__BK_CONFIG__').length - 1;
  if (count(head + tail) !== 1) throw new Error('__BK_CONFIG__ must occur once in head + tail');
  for (const [name, code] of modules) {
    if (count(code)) throw new Error(`module ${name} mentions __BK_CONFIG__`);
    if (!/^K\[K\.length\]=/.test(code)) throw new Error(`module ${name} must be one K[K.length]=... statement`);
  }
  for (const mods of [[], modules])
    new vm.Script(head + mods.map(([, c]) => c).join('') + tail.replace('__BK_CONFIG__', '{}'));
  return { head, tail, modules, needs };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node build.mjs <outdir>');
    process.exit(2);
  }
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'runtime.json'), JSON.stringify(build()));
}
