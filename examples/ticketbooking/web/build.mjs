// Bundles src/main.js and the centrifuge SDK (from node_modules, as locked in
// package-lock.json) into static/app.js with esbuild: `npm run build`.
// The Go program embeds static/, so build before `go build`.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

const result = await build({
  entryPoints: [join(here, 'src', 'main.js')],
  outfile: join(here, 'static', 'app.js'),
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  platform: 'browser',
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`wrote static/app.js (${bytes} bytes)`);
