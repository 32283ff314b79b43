// HTTP request parsing throughput: our request parsing (coroutines/http/protocol.ts) against Node's
// llhttp, over the same bytes: a few MB of pipelined requests, cut into 16 KiB chunks (so that requests
// straddle chunk boundaries, as they do when read from a socket), parsed end to end.
//
//   node --import tsx bench/http_parser.ts [--json]      (bench/http.ts runs it pinned to one CPU)
//
// Three figures per corpus, in MB/s (10^6 bytes) of request bytes:
//   tulip-ts     request heads found with scan_request() (protocol.ts's HeadScanner), bodies through the
//                payload parser: what ServerHttpProtocol does per request, without the socket and the handler.
//   llhttp       Node's raw HTTPParser binding (`_http_common`): llhttp in C, the head handed to JS
//                as an array of strings (the fairest match for our parser's output).
//   node http    http.createServer fed the bytes through an in-memory Duplex, counting 'request'
//                events (each answered with an empty response): what a Node HTTP server pays per request.
// Each figure is the best of several passes (bench/timing.ts). Nothing here runs a tulip-ts loop, so Node's
// own loop is free for the http.createServer figure.
import { createRequire } from 'node:module';
import http from 'node:http';
import { Duplex } from 'node:stream';
import { DataBuffer, StreamBuffer, type ParserBuffer } from '../coroutines/parsers.js';
import { HeadScanner, http_payload_parser, scan_request } from '../coroutines/http/protocol.js';
import { best, best_async } from './timing.js';

const CHUNK = 16 * 1024;
const TARGET_BYTES = 8_000_000;

const BROWSER_HEADERS =
  'Host: www.example.com\r\n' +
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n' +
  'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n' +
  'Accept-Language: en-US,en;q=0.5\r\n' +
  'Accept-Encoding: gzip, deflate, br\r\n' +
  'Referer: https://www.example.com/articles/2013/index.html\r\n' +
  'Cookie: session=0123456789abcdef0123456789abcdef; theme=dark; lang=en\r\n' +
  'Connection: keep-alive\r\n' +
  'Upgrade-Insecure-Requests: 1\r\n';

const CORPORA: Array<[string, Buffer]> = [
  // What wrk sends: the smallest realistic request, where per-request costs dominate.
  ['wrk GET', Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n')],
  // A browser's page request: nine headers, ~600 bytes.
  ['browser GET', Buffer.from(`GET /articles/2013/tulip.html?page=2&sort=new HTTP/1.1\r\n${BROWSER_HEADERS}\r\n`)],
  // A form POST with a 1 KiB body (Content-Length framing).
  ['POST 1 KiB body', Buffer.concat([
    Buffer.from(`POST /submit HTTP/1.1\r\n${BROWSER_HEADERS}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1024\r\n\r\n`),
    Buffer.alloc(1024, 'a'),
  ])],
];

interface Corpus {
  name: string;
  request: Buffer;
  count: number;
  total: number;
  chunks: Buffer[];
}

function make_corpus(name: string, request: Buffer): Corpus {
  const count = Math.ceil(TARGET_BYTES / request.length);
  const all = Buffer.concat(Array.from({ length: count }, () => request));
  const chunks: Buffer[] = [];
  for (let i = 0; i < all.length; i += CHUNK) chunks.push(all.subarray(i, i + CHUNK));
  return { name, request, count, total: all.length, chunks };
}

function mb_per_s(bytes: number, ms: number): number {
  return bytes / 1e3 / ms;
}

// ---- ours ----

/** A DataBuffer that hands each term to a callback instead of queueing it for a coroutine. */
class Sink<T> extends DataBuffer<T> {
  constructor(private readonly on_term: (term: T) => void) {
    super();
  }
  override feed_data(term: T): void {
    this.on_term(term);
  }
}

/**
 * One pass of our parsers over the corpus: ms. What ServerHttpProtocol does: each head found in the
 * stream's bytes with scan_request() (a HeadScanner), each body through the payload parser.
 */
function tulip_pass(c: Corpus): number {
  const stream = new StreamBuffer();
  const scanner = new HeadScanner();
  let body_done = true;
  let requests = 0;
  let body_bytes = 0;
  const bodies = new Sink<Buffer>((b) => (body_bytes += b.length));
  const t0 = performance.now();
  for (const chunk of c.chunks) {
    stream.feed_data(chunk);
    while (body_done) {
      const m = scan_request(scanner, stream._buffer);
      if (m === null) break;
      requests++;
      // read_payload() skips the body parser when there is no body; so does this.
      if (m.chunked || (m.content_length ?? 0) > 0) {
        body_done = false;
        const body_parser = http_payload_parser(m);
        stream.set_parser(function* (_out: DataBuffer<Buffer>, buf: ParserBuffer) {
          yield* body_parser(bodies, buf);
          body_done = true;
        });
      }
    }
  }
  const ms = performance.now() - t0;
  if (requests !== c.count) throw new Error(`tulip-ts parsed ${requests} requests of ${c.count} (${c.name})`);
  if (body_bytes !== 0 && body_bytes % c.count !== 0) throw new Error(`tulip-ts: ${body_bytes} body bytes (${c.name})`);
  return ms;
}

// ---- llhttp, raw ----

interface NodeHTTPParser {
  initialize(type: number, resource: object): void;
  execute(data: Buffer): number | Error;
  [key: number]: unknown;
}
interface NodeHTTPParserClass {
  new (): NodeHTTPParser;
  REQUEST: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
}
const { HTTPParser } = createRequire(import.meta.url)('_http_common') as { HTTPParser: NodeHTTPParserClass };

function llhttp_pass(c: Corpus): number {
  const p = new HTTPParser();
  let requests = 0;
  let body_bytes = 0;
  p.initialize(HTTPParser.REQUEST, {});
  p[HTTPParser.kOnHeaders] = () => {};
  p[HTTPParser.kOnHeadersComplete] = () => {
    requests++;
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => {
    body_bytes += b.length;
  };
  p[HTTPParser.kOnMessageComplete] = () => {};
  p[HTTPParser.kOnExecute] = () => {};
  const t0 = performance.now();
  for (const chunk of c.chunks) {
    const r = p.execute(chunk);
    if (r instanceof Error) throw r;
  }
  const ms = performance.now() - t0;
  if (requests !== c.count) throw new Error(`llhttp parsed ${requests} requests of ${c.count} (${c.name})`);
  return ms;
}

// ---- Node's whole HTTP server path ----

function node_server_pass(c: Corpus): Promise<number> {
  return new Promise((resolve, reject) => {
    let requests = 0;
    const t0 = performance.now();
    const conn = new Duplex({ read() {}, write(_chunk, _enc, cb) { cb(); } });
    const server = http.createServer((req, res) => {
      req.resume();
      res.end();
      if (++requests === c.count) {
        const ms = performance.now() - t0;
        conn.destroy();
        resolve(ms);
      }
    });
    server.on('clientError', (err) => reject(err));
    server.emit('connection', conn);
    for (const chunk of c.chunks) conn.push(chunk);
  });
}

// ---- main ----

interface Row {
  corpus: string;
  bytes_per_request: number;
  tulip_mb_s: number;
  llhttp_mb_s: number;
  node_server_mb_s: number;
}

const rows: Row[] = [];
for (const [name, request] of CORPORA) {
  const c = make_corpus(name, request);
  rows.push({
    corpus: name,
    bytes_per_request: request.length,
    tulip_mb_s: mb_per_s(c.total, best(() => tulip_pass(c))),
    llhttp_mb_s: mb_per_s(c.total, best(() => llhttp_pass(c))),
    node_server_mb_s: mb_per_s(c.total, await best_async(() => node_server_pass(c))),
  });
}

if (process.argv.includes('--json')) {
  console.log(JSON.stringify(rows));
} else {
  console.log(`request parsing, MB/s of pipelined requests in ${CHUNK / 1024} KiB chunks (best of several passes)`);
  console.log(`${'corpus'.padEnd(18)}${'B/req'.padStart(6)}${'tulip-ts'.padStart(10)}${'llhttp'.padStart(9)}${'node http'.padStart(11)}${'req/s tulip-ts'.padStart(16)}`);
  for (const r of rows) {
    console.log(
      `${r.corpus.padEnd(18)}${String(r.bytes_per_request).padStart(6)}${r.tulip_mb_s.toFixed(1).padStart(10)}${r.llhttp_mb_s.toFixed(1).padStart(9)}` +
        `${r.node_server_mb_s.toFixed(1).padStart(11)}${((r.tulip_mb_s * 1e6) / r.bytes_per_request).toFixed(0).padStart(16)}`,
    );
  }
}
