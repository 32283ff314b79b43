// HTTP test helpers: a server on 127.0.0.1 (port 0) and a raw client over our own loop's sockets, with a
// response reader of its own (deliberately not protocol.ts's parser: the tests check the server's bytes
// against an independent reading of HTTP/1.1 framing).
import * as assert from 'uvu/assert';
import {
  open_connection, type AbstractEventLoop, type BaseProtocol, type Coroutine, type Server, type StreamReader, type StreamWriter,
} from '../../src/index.js';
import { CIMultiDict } from '../../coroutines/http/index.js';

const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');

export interface RawResponse {
  version: string;
  status: number;
  reason: string;
  headers: CIMultiDict;
  body: Buffer;
  /** The head exactly as received (status line and headers, final CRLFCRLF included). */
  head: string;
}

/** Listens on 127.0.0.1 with an ephemeral port: [server, port]. */
export function* listen(loop: AbstractEventLoop, factory: () => BaseProtocol): Coroutine<[Server, number]> {
  const server = yield* loop.create_server(factory, '127.0.0.1', 0);
  return [server, port_of(server)];
}

export function port_of(server: Server): number {
  return (server.sockets![0]!.getsockname() as [string, number])[1];
}

export function* connect(loop: AbstractEventLoop, port: number): Coroutine<[StreamReader, StreamWriter]> {
  return yield* open_connection('127.0.0.1', port, { loop });
}

/**
 * Reads one response. The body is framed as RFC 9112 6.3 says: none for HEAD/1xx/204/304, chunked,
 * Content-Length, else up to EOF.
 */
export function* read_response(reader: StreamReader, options: { head?: boolean } = {}): Coroutine<RawResponse> {
  const head = (yield* reader.readuntil(CRLFCRLF)).toString('latin1');
  const lines = head.slice(0, -4).split('\r\n');
  const m = /^HTTP\/(\d\.\d) (\d{3}) ?(.*)$/.exec(lines[0]!);
  assert.ok(m, `not a status line: ${JSON.stringify(lines[0])}`);
  const headers = new CIMultiDict();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    assert.ok(colon > 0, `not a header line: ${JSON.stringify(line)}`);
    headers.add(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const status = Number(m![2]);
  let body: Buffer = Buffer.alloc(0);
  if (options.head || status < 200 || status === 204 || status === 304) {
    // no body
  } else if ((headers.get('transfer-encoding') ?? '').toLowerCase() === 'chunked') {
    const parts: Buffer[] = [];
    for (;;) {
      const size_line = (yield* reader.readuntil(CRLF)).toString('latin1');
      const size = parseInt(size_line, 16);
      assert.ok(Number.isInteger(size), `bad chunk size line ${JSON.stringify(size_line)}`);
      if (size === 0) break;
      parts.push(yield* reader.readexactly(size));
      assert.equal(yield* reader.readexactly(2), CRLF, 'a chunk must end with CRLF');
    }
    assert.equal((yield* reader.readuntil(CRLF)).toString(), '\r\n', 'no trailers expected');
    body = Buffer.concat(parts);
  } else if (headers.has('content-length')) {
    body = yield* reader.readexactly(Number(headers.get('content-length')));
  } else {
    body = yield* reader.read(-1);
  }
  return { version: m![1]!, status, reason: m![3]!, headers, body, head };
}

/** Reads to EOF and checks nothing more came: the server closed the connection. */
export function* expect_eof(reader: StreamReader): Coroutine<void> {
  const rest = yield* reader.read(-1);
  assert.is(rest.toString('latin1'), '', 'expected the server to close the connection');
}

/** One request on a fresh connection: its response, then the writer is closed. */
export function* fetch_raw(loop: AbstractEventLoop, port: number, request: string | Buffer): Coroutine<RawResponse> {
  const [reader, writer] = yield* connect(loop, port);
  try {
    writer.write(typeof request === 'string' ? Buffer.from(request, 'latin1') : request);
    return yield* read_response(reader);
  } finally {
    writer.close();
  }
}

export const get = (path = '/', extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: test\r\n${extra}\r\n`;
