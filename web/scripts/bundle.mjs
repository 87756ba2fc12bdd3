// After `vite build`: the first-load JavaScript budget and the precompressed assets.
//
// 1. Budget. What a first visit must download before the app runs is the entry chunk and
//    everything it imports statically (Vite's manifest says which). Its gzip size must stay
//    within BUDGET (150 KB); the admin pages must not be part of it (they load on demand,
//    React.lazy). Either failure fails the build, so CI catches a heavy import the day it
//    lands, with the figures printed.
// 2. Precompression. Every file in dist/assets gets a .gz (zlib level 9) and a .br (brotli
//    quality 11) sibling: the BFF serves those as they are (ServeDir precompressed_gzip and
//    precompressed_br) instead of compressing each response on the fly, and hashed names
//    let it mark them immutable.
//
// Usage: node scripts/bundle.mjs [distDir]   (run by `scripts/web.sh build`)
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

/** First-load JavaScript, gzip bytes (150 KB). */
export const BUDGET = 150_000;
/** Modules that must never be in the first load (they are split into lazy chunks). */
const LAZY_ONLY = ['src/pages/AdminPages.tsx'];

const dist = resolve(process.argv[2] ?? 'dist');
const manifestPath = join(dist, '.vite', 'manifest.json');

function gzip(data) {
  return gzipSync(data, { level: 9 });
}

function brotli(data, text) {
  return brotliCompressSync(data, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_MODE]: text ? constants.BROTLI_MODE_TEXT : constants.BROTLI_MODE_GENERIC,
      [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
    },
  });
}

const kb = (n) => `${(n / 1000).toFixed(1).padStart(7)} kB`;

function fail(message) {
  console.error(`bundle: error: ${message}`);
  process.exit(1);
}

if (!existsSync(manifestPath)) fail(`${manifestPath} is missing: vite.config.ts must set build.manifest`);
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
const entryKey = Object.keys(manifest).find((key) => manifest[key].isEntry);
if (!entryKey) fail('the manifest names no entry chunk');

// The entry and its static imports, transitively: what the browser fetches before running.
const firstLoad = new Set();
const visit = (key) => {
  if (firstLoad.has(key)) return;
  firstLoad.add(key);
  for (const next of manifest[key]?.imports ?? []) visit(next);
};
visit(entryKey);

const rows = [];
let jsRaw = 0;
let jsGzip = 0;
for (const key of firstLoad) {
  const file = manifest[key].file;
  const data = readFileSync(join(dist, file));
  const gz = gzip(data).length;
  jsRaw += data.length;
  jsGzip += gz;
  rows.push(`  ${file.padEnd(44)} ${kb(data.length)} raw ${kb(gz)} gzip`);
}
const lazy = Object.entries(manifest)
  .filter(([key, chunk]) => chunk.isDynamicEntry && !firstLoad.has(key))
  .map(([, chunk]) => chunk.file);

console.log('bundle: first-load JavaScript');
rows.forEach((row) => console.log(row));
console.log(`  ${'total'.padEnd(44)} ${kb(jsRaw)} raw ${kb(jsGzip)} gzip (budget ${kb(BUDGET).trim()} gzip)`);
console.log(`bundle: loaded on demand: ${lazy.join(', ') || 'nothing'}`);

const leaked = LAZY_ONLY.filter((module) => firstLoad.has(module));
if (leaked.length) fail(`${leaked.join(', ')} must load on demand (React.lazy), not in the first load`);
const missing = LAZY_ONLY.filter((module) => !manifest[module]?.isDynamicEntry);
if (missing.length) fail(`${missing.join(', ')} is not a lazily loaded chunk`);
if (jsGzip > BUDGET) fail(`first-load JavaScript is ${jsGzip} bytes gzip, over the budget of ${BUDGET}`);

// The manifest is for this check only: the BFF serves dist/ as it is.
rmSync(join(dist, '.vite'), { recursive: true, force: true });

const assets = join(dist, 'assets');
let files = 0;
let gzTotal = 0;
let brTotal = 0;
let rawTotal = 0;
for (const name of readdirSync(assets)) {
  if (name.endsWith('.gz') || name.endsWith('.br')) continue;
  const path = join(assets, name);
  if (!statSync(path).isFile()) continue;
  const data = readFileSync(path);
  const text = /\.(js|css|svg|html|json|txt|map)$/.test(name);
  const gz = gzip(data);
  const br = brotli(data, text);
  writeFileSync(`${path}.gz`, gz);
  writeFileSync(`${path}.br`, br);
  files += 1;
  rawTotal += data.length;
  gzTotal += gz.length;
  brTotal += br.length;
}
console.log(`bundle: precompressed ${files} files in dist/assets: ${kb(rawTotal).trim()} raw -> ${kb(gzTotal).trim()} .gz, ${kb(brTotal).trim()} .br`);
