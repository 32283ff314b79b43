// Fetch one URL with an HTTP/1.0 GET and write its content to stdout (asyncio's examples/fetch0.py and
// fetch1.py, from the Tulip days).
//
//   npx tsx examples/fetch.ts http://127.0.0.1:8080/path [-q]
//   npx tsx examples/fetch.ts https://localhost:8443/path [--cafile ca.pem]
//
// The request goes to stderr as "> ...", the status line and headers come back there as "< ...", and the
// body goes to stdout; -q leaves out the stderr part. tulip-ts has no streams yet, so where fetch1.py
// used open_connection() and a StreamReader, a small Protocol (ResponseReader) collects the bytes and
// offers the two coroutines the Python code needs, readline() and read(). An https URL is fetched over
// TLS (asyncio's fetch3.py did the same), verified against the system CAs or the --cafile given.
import {
  Future, Protocol, create_default_context, get_event_loop, type Coroutine, type SSLContext, type Transport,
} from 'tulip-ts';

/** The reading half of a connection: what a StreamReader would give, reduced to readline() and read(). */
class ResponseReader extends Protocol {
  private buffer = Buffer.alloc(0);
  private eof = false;
  private waiter: Future<null> | null = null;
  transport!: Transport;

  override connection_made(transport: Transport): void {
    this.transport = transport;
  }

  override data_received(data: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, data]);
    this.wakeup();
  }

  override eof_received(): void {
    this.eof = true;
    this.wakeup();
  }

  override connection_lost(_exc: Error | null): void {
    this.eof = true;
    this.wakeup();
  }

  private wakeup(): void {
    const waiter = this.waiter;
    this.waiter = null;
    if (waiter !== null && !waiter.done()) waiter.set_result(null);
  }

  private *wait_for_data(): Coroutine<void> {
    this.waiter = new Future<null>();
    yield* this.waiter;
  }

  /** One line, up to and including '\n' (less at EOF). */
  *readline(): Coroutine<Buffer> {
    let end: number;
    while ((end = this.buffer.indexOf(0x0a)) < 0 && !this.eof) yield* this.wait_for_data();
    end = end < 0 ? this.buffer.length : end + 1;
    const line = this.buffer.subarray(0, end);
    this.buffer = this.buffer.subarray(end);
    return line;
  }

  /** Everything up to EOF. */
  *read(): Coroutine<Buffer> {
    while (!this.eof) yield* this.wait_for_data();
    const data = this.buffer;
    this.buffer = Buffer.alloc(0);
    return data;
  }
}

class Response {
  http_version: string | null = null; // 'HTTP/1.1'
  status: number | null = null; // 200
  reason: string | null = null; // 'Ok'
  headers: Array<[string, string]> = []; // [['Content-Type', 'text/html']]

  constructor(private readonly verbose = true) {}

  *read(reader: ResponseReader): Coroutine<void> {
    function* getline(): Coroutine<string> {
      return (yield* reader.readline()).toString('latin1').trimEnd();
    }
    const status_line = yield* getline();
    if (this.verbose) console.error('<', status_line);
    const [http_version = '', status = '', ...reason] = status_line.split(/\s+/);
    this.http_version = http_version;
    this.status = Number(status);
    this.reason = reason.join(' ');
    for (;;) {
      const header_line = yield* getline();
      if (!header_line) break;
      if (this.verbose) console.error('<', header_line);
      // TODO: Continuation lines.
      const colon = header_line.indexOf(':');
      this.headers.push([header_line.slice(0, colon), header_line.slice(colon + 1).trim()]);
    }
    if (this.verbose) console.error();
  }
}

function* fetch(url: string, verbose = true): Coroutine<Buffer> {
  const loop = get_event_loop();
  const parts = new URL(url);
  let ssl: boolean;
  if (parts.protocol === 'http:') {
    ssl = false;
  } else if (parts.protocol === 'https:') {
    ssl = true;
  } else {
    console.log('URL must use http or https.');
    process.exit(1);
  }
  let context: SSLContext | undefined;
  if (ssl) {
    context = create_default_context();
    const i = process.argv.indexOf('--cafile');
    if (i >= 0) context.load_verify_locations(process.argv[i + 1]);
  }
  const port = parts.port === '' ? (ssl ? 443 : 80) : Number(parts.port);
  const path = (parts.pathname || '/') + parts.search;
  const request = `GET ${path} HTTP/1.0\r\n\r\n`;
  if (verbose) process.stderr.write(`> ${request}`);
  const hostname = parts.hostname.replace(/^\[(.*)\]$/, '$1'); // an IPv6 literal loses its brackets
  const [w, r] = yield* loop.create_connection(() => new ResponseReader(), hostname, port, context ? { ssl: context } : {});
  w.write(Buffer.from(request, 'latin1'));
  const response = new Response(verbose);
  yield* response.read(r);
  const body = yield* r.read();
  w.close();
  return body;
}

if (process.argv.length < 3) {
  console.log('Usage: fetch.ts URL [-q] [--cafile CA.pem]');
  process.exit(2);
}
const loop = get_event_loop();
let body: Buffer;
try {
  body = loop.run_until_complete(fetch(process.argv[2]!, !process.argv.includes('-q')));
} finally {
  loop.close();
}
process.stdout.write(body);
