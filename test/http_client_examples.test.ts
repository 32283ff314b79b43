// examples/curl.ts and examples/crawl.ts as smoke tests: each runs as its own program (importing 'tulip-ts'
// as a user would) against a server that is not ours, in another child process: python3's http.server over
// a temporary site of linked pages, and Node's https with a test CA for curl's TLS.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PY_HTTP_SERVER, serve_child } from './support/http_server.js';
import { make_certs } from './support/certs.js';
import { kill_all, start, type Program } from './support/program.js';

const NODE_HTTPS_SERVER = `
const https = require('https');
const fs = require('fs');
const [cert, key] = process.argv.slice(1);
https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => {
  res.setHeader('Content-Type', 'text/plain');
  res.end('secret page ' + req.url);
}).listen({ fd: 3 });
`;

// The site: an index linking to 8 pages, each linking back and to a shared page and a text file; a link
// out of the root, a broken link, and fragments that must not make duplicates.
const site = mkdtempSync(join(tmpdir(), 'tulip-crawl-'));
mkdirSync(join(site, 'docs'));
const pages = Array.from({ length: 8 }, (_, i) => `docs/p${i}.html`);
writeFileSync(join(site, 'index.html'), `<html><body>${pages.map((p) => `<a href="${p}">${p}</a>`).join('\n')}
<a href="http://elsewhere.invalid/">out</a> <a href='missing.html'>broken</a> <a href="#top">top</a></body></html>`);
for (const p of pages) writeFileSync(join(site, p), `<a href="../index.html#x">home</a> <a HREF=shared.html>shared</a> <a href="notes.txt">notes</a>`);
writeFileSync(join(site, 'docs', 'shared.html'), '<a href="/">root</a>');
writeFileSync(join(site, 'docs', 'notes.txt'), 'href="never-followed.html"');
const py = serve_child(['python3', '-c', PY_HTTP_SERVER, site, 'HTTP/1.1']);
const certs = make_certs();
const tls = serve_child([process.execPath, '-e', NODE_HTTPS_SERVER, certs.server_cert, certs.server_key], 'https');

const programs: Program[] = [];
test.after.each(async () => kill_all(...programs.splice(0)));
test.after(async () => {
  await py.stop();
  await tls.stop();
  rmSync(site, { recursive: true, force: true });
  certs.cleanup();
});

function run_example(name: string, ...args: string[]): Program {
  const p = start(name, ...args);
  programs.push(p);
  return p;
}

test('curl.ts prints the status line, the headers and the body', async () => {
  const p = run_example('curl.ts', `${py.base}/docs/p3.html`);
  await p.finished(0);
  const body = readFileSync(join(site, 'docs', 'p3.html'), 'utf8');
  assert.ok(p.stdout.startsWith(`<HttpResponse(${py.base}/docs/p3.html) [200 OK]>\n`), p.stdout);
  assert.match(p.stdout, /^Content-type: text\/html$/m);
  assert.match(p.stdout, new RegExp(`^Content-Length: ${Buffer.byteLength(body)}$`, 'm'));
  assert.ok(p.stdout.endsWith(`\n\n${body}\n`), p.stdout);
});

test('curl.ts follows a redirect and shows it', async () => {
  const p = run_example('curl.ts', `${py.base}/docs`);
  await p.finished(0);
  assert.match(p.stdout, new RegExp(`^# 301 Moved Permanently ${py.base}/docs -> /docs/$`, 'm'));
  assert.match(p.stdout, /<title>Directory listing for \/docs\/<\/title>/);
});

test('curl.ts: https verified with --cafile; refused without it; a bad URL is one clear line', async () => {
  let p = run_example('curl.ts', `${tls.base}/x`, '--cafile', certs.ca);
  await p.finished(0);
  assert.match(p.stdout, /^secret page \/x$/m);
  p = run_example('curl.ts', `${tls.base}/x`);
  await p.finished(1);
  assert.match(p.stderr, /^curl\.ts: SSLCertVerificationError: \[SSL: CERTIFICATE_VERIFY_FAILED\] certificate verify failed/m);
  p = run_example('curl.ts', 'gopher://127.0.0.1/');
  await p.finished(1);
  assert.match(p.stderr, /^curl\.ts: InvalidURL: invalid URL "gopher:\/\/127\.0\.0\.1\/": unsupported scheme "gopher"/m);
});

for (const max_tasks of [1, 3]) {
  test(`crawl.ts --max-tasks ${max_tasks}: every page under the root once, at most ${max_tasks} at a time`, async () => {
    const p = run_example('crawl.ts', `${py.base}/`, '--max-tasks', String(max_tasks));
    await p.finished(0);
    const processed = [...p.stdout.matchAll(/^processing: (\S+)$/gm)].map((m) => m[1]!.slice(py.base.length)).sort();
    assert.equal(processed, ['/', '/docs/notes.txt', '/docs/shared.html', ...pages.map((x) => `/${x}`), '/index.html', '/missing.html'].sort());
    // 13 URLs; the missing one is a 404, so not ok.
    assert.match(p.stdout, /^todo: 0\nbusy: 0\ndone: 13 ; ok: 12\ntasks: 0\n/m);
    assert.match(p.stdout, new RegExp(`^max concurrent fetches: ${max_tasks}$`, 'm'));
    // Keep-alive (python's server speaks HTTP/1.1 here): fewer connections than fetches.
    const connections = Number(/^connections: (\d+)$/m.exec(p.stdout)![1]);
    assert.ok(connections >= 1 && connections <= Math.max(max_tasks, 1) + 1, p.stdout);
  });
}

test.run();
