// A bare static server for the built site, under a sub-folder (/pid-studio/) to prove the build works from any
// folder of any static host. Usage: node e2e/serve.mjs <dir> <port>
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? 'dist');
const port = Number(process.argv[3] ?? 4317);
const PREFIX = '/pid-studio/';
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.wasm': 'application/wasm', '.safetensors': 'application/octet-stream', '.png': 'image/png', '.svg': 'image/svg+xml',
};

createServer(async (req, res) => {
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  if (path === '/') { res.writeHead(302, { location: PREFIX }); res.end(); return; }
  if (!path.startsWith(PREFIX)) { res.writeHead(404); res.end('not found'); return; }
  let file = normalize(join(root, path.slice(PREFIX.length)));
  if (!file.startsWith(root)) { res.writeHead(403); res.end(); return; }
  try {
    if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
    const body = await readFile(file);
    // Cross-origin isolation, as the README asks of a static host: wasm threads become possible (src/core/wasm-threads.ts).
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store', 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end('not found');
  }
}).listen(port, '127.0.0.1', () => console.log(`serving ${root} at http://127.0.0.1:${port}${PREFIX}`));
