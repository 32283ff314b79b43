/**
 * A simple memcache-like server (asyncio 3.4's examples/cachesvr.py).
 *
 * The basic data structure maintained is a single in-memory dictionary
 * mapping string keys to string values, with operations get, set and
 * delete.  (Both keys and values may contain Unicode.)
 *
 * This is a TCP server listening on port 54321.  There is no
 * authentication.
 *
 * Requests provide an operation and return a response.  A connection may
 * be used for multiple requests.  The connection is closed when a client
 * sends a bad request.
 *
 * If a client is idle for over 5 seconds (i.e., it does not send another
 * request, or fails to read the whole response, within this time), it is
 * disconnected.
 *
 * Framing of requests and responses within a connection uses a
 * line-based protocol.  The first line of a request is the frame header
 * and contains three whitespace-delimited token followed by LF or CRLF:
 *
 * - the keyword 'request'
 * - a decimal request ID; the first request is '1', the second '2', etc.
 * - a decimal byte count giving the size of the rest of the request
 *
 * Note that the requests ID *must* be consecutive and start at '1' for
 * each connection.
 *
 * Response frames look the same except the keyword is 'response'.  The
 * response ID matches the request ID.  There should be exactly one
 * response to each request and responses should be seen in the same
 * order as the requests.
 *
 * After the frame, individual requests and responses are JSON encoded.
 *
 * If the frame header or the JSON request body cannot be parsed, an
 * unframed error message (always starting with 'error') is written back
 * and the connection is closed.
 *
 * JSON-encoded requests can be:
 *
 * - {"type": "get", "key": <string>}
 * - {"type": "set", "key": <string>, "value": <string>}
 * - {"type": "delete", "key": <string>}
 *
 * Responses are also JSON-encoded:
 *
 * - {"status": "ok", "value": <string>}  # Successful get request
 * - {"status": "ok"}  # Successful set or delete request
 * - {"status": "notfound"}  # Key not found for get or delete request
 *
 * If the request is valid JSON but cannot be handled (e.g., the type or
 * key field is absent or invalid), an error response of the following
 * form is returned, but the connection is not closed:
 *
 * - {"error": <string>}
 *
 * Differences from the Python: --tls takes the certificate from --certfile/--keyfile (the original's
 * TODO; it read tests/ssl_cert.pem), there is no --iocp (Windows only), and --port 0 binds any free
 * port (the "socket" log line says which).
 */
import {
  SSLContext, PROTOCOL_TLS_SERVER, new_event_loop, set_event_loop, sleep, start_server, wait_for,
  type AbstractEventLoop, type Coroutine, type StreamReader, type StreamWriter,
} from 'tulip-ts';
import { option } from './args.js';

// argparse, reduced to what this example needs: --name value, or a bare --flag for booleans.
const args = {
  tls: process.argv.includes('--tls'),
  certfile: option('certfile', ''),
  keyfile: option('keyfile', ''),
  host: option('host', 'localhost'),
  port: Number(option('port', '54321')),
  timeout: Number(option('timeout', '5')),
  fail_percent: Number(option('random_failure_percent', '0')), // Fail randomly N percent of the time
  fail_sleep: Number(option('random_failure_sleep', '0')), // Sleep time when randomly failing
  resp_sleep: Number(option('random_response_sleep', '0')), // Sleep time before responding
};

// logging.basicConfig(level=logging.INFO): 'LEVEL:root:message' on stderr.
const logging = {
  debug: (_msg: string): void => {},
  info: (msg: string): void => console.error(`INFO:root:${msg}`),
  warn: (msg: string): void => console.error(`WARNING:root:${msg}`),
  error: (msg: string): void => console.error(`ERROR:root:${msg}`),
};
const ascii = (s: string): Buffer => Buffer.from(s, 'ascii');
// Python's int(): decimal digits only (with optional sign and surrounding whitespace), else ValueError.
const int = (s: string): number => {
  if (!/^\s*[+-]?\d+\s*$/.test(s)) throw new RangeError(`invalid literal for int(): '${s}'`);
  return parseInt(s, 10);
};

type Request = { type?: unknown; key?: unknown; value?: unknown };
type Response = Record<string, string>;

class Cache {
  table = new Map<string, string>();

  constructor(readonly loop: AbstractEventLoop) {}

  *handle_client(reader: StreamReader, writer: StreamWriter): Coroutine<void> {
    // Wrapper to log stuff and close writer (i.e., transport).
    const peer = JSON.stringify(writer.get_extra_info('peername'));
    logging.info(`got a connection from ${peer}`);
    try {
      yield* this.frame_parser(reader, writer);
      logging.info(`end connection from ${peer}`); // Python's `else:` clause
    } catch (exc) {
      logging.error(`error ${String(exc)} from ${peer}`);
    } finally {
      writer.close();
    }
  }

  *frame_parser(reader: StreamReader, writer: StreamWriter): Coroutine<void> {
    // This takes care of the framing.
    let last_request_id = 0;
    for (;;) {
      // Read the frame header, parse it, read the data.
      // NOTE: The readline() and readexactly() calls will hang
      // if the client doesn't send enough data but doesn't
      // disconnect either.  We add a timeout to each.  (But the
      // timeout should really be implemented by StreamReader.)
      const framing_b = yield* wait_for(reader.readline(), args.timeout, { loop: this.loop });
      if (Math.random() * 100 < args.fail_percent) {
        logging.warn('Inserting random failure');
        yield* sleep(args.fail_sleep * Math.random(), undefined, { loop: this.loop });
        writer.write(ascii('error random failure\r\n'));
        break;
      }
      logging.debug(`framing_b = ${JSON.stringify(framing_b.toString('latin1'))}`);
      if (framing_b.length === 0) break; // Clean close.
      // bytes.split(): on runs of whitespace, ignoring it at both ends; three tokens or a ValueError.
      const tokens = framing_b.toString('latin1').trim().split(/\s+/);
      if (tokens.length !== 3) {
        writer.write(ascii('error unparseable frame\r\n'));
        break;
      }
      const [frame_keyword, request_id_b, byte_count_b] = tokens as [string, string, string];
      if (frame_keyword !== 'request') {
        writer.write(ascii('error frame does not start with request\r\n'));
        break;
      }
      let request_id: number, byte_count: number;
      try {
        [request_id, byte_count] = [int(request_id_b), int(byte_count_b)];
      } catch {
        writer.write(ascii('error unparsable frame parameters\r\n'));
        break;
      }
      if (request_id !== last_request_id + 1 || byte_count < 2) {
        writer.write(ascii('error invalid frame parameters\r\n'));
        break;
      }
      last_request_id = request_id;
      const request_b = yield* wait_for(reader.readexactly(byte_count), args.timeout, { loop: this.loop });
      let request: unknown;
      try {
        // fatal: invalid UTF-8 fails like Python's decode('utf8') (a ValueError) instead of becoming U+FFFD.
        request = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(request_b));
      } catch {
        writer.write(ascii('error unparsable json\r\n'));
        break;
      }
      const response = this.handle_request(request); // Not a coroutine.
      if (response === null) {
        writer.write(ascii('error unhandlable request\r\n'));
        break;
      }
      const response_b = Buffer.from(JSON.stringify(response) + '\r\n', 'utf-8');
      byte_count = response_b.length;
      const framing_s = `response ${request_id} ${byte_count}\r\n`;
      writer.write(ascii(framing_s));
      yield* sleep(args.resp_sleep * Math.random(), undefined, { loop: this.loop });
      writer.write(response_b);
    }
  }

  handle_request(request: unknown): Response | null {
    // This parses one request and farms it out to a specific handler.
    // Return null for all errors.
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      return { error: 'request is not a dict' };
    }
    const r = request as Request;
    const request_type = r.type;
    if (request_type === undefined || request_type === null) return { error: 'no type in request' };
    if (request_type !== 'get' && request_type !== 'set' && request_type !== 'delete') {
      return { error: 'unknown request type' };
    }
    const key = r.key;
    if (typeof key !== 'string') return { error: 'key is not a string' };
    if (request_type === 'get') return this.handle_get(key);
    if (request_type === 'set') {
      const value = r.value;
      if (typeof value !== 'string') return { error: 'value is not a string' };
      return this.handle_set(key, value);
    }
    if (request_type === 'delete') return this.handle_delete(key);
    throw new Error('bad request type'); // Should have been caught above.
  }

  handle_get(key: string): Response {
    const value = this.table.get(key);
    if (value === undefined) return { status: 'notfound' };
    else return { status: 'ok', value };
  }

  handle_set(key: string, value: string): Response {
    this.table.set(key, value);
    return { status: 'ok' };
  }

  handle_delete(key: string): Response {
    if (!this.table.has(key)) return { status: 'notfound' };
    else {
      this.table.delete(key);
      return { status: 'ok' };
    }
  }
}

function main(): void {
  // No default loop: everything below gets its loop explicitly, as in the original.
  set_event_loop(null);
  const loop = new_event_loop();
  let sslctx: SSLContext | null = null;
  if (args.tls) {
    if (!args.certfile) {
      console.error('cachesvr.ts: --tls needs --certfile FILE [--keyfile FILE]');
      process.exit(2);
    }
    sslctx = new SSLContext(PROTOCOL_TLS_SERVER); // TLS 1.2+ only: no SSLv2/v3 to switch off
    sslctx.load_cert_chain(args.certfile, args.keyfile || args.certfile);
  }
  const cache = new Cache(loop);
  const task = start_server((r, w) => cache.handle_client(r, w),
                            args.host, args.port,
                            { ssl: sslctx ?? undefined, loop });
  const svr = loop.run_until_complete(task);
  for (const sock of svr.sockets!) {
    logging.info(`socket ${JSON.stringify(sock.getsockname())}`);
  }
  loop.run_forever();
}

main();
