// A tiny HTTP server for client tests, on the same loop as the client: StreamProtocol + the protocol
// module's request parser and Response writer. Each connection runs one Task that reads requests in order
// and hands them to a handler; the server counts connections and records every request.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  AF_INET, EofStream, SOCK_STREAM, Socket, StreamProtocol, Task, create_server, type AbstractEventLoop, type Coroutine, type SSLContext, type Server, type Transport,
} from '../../src/index.js';
import { HttpVersion10, Response, http_request_parser, read_payload, type RawRequestMessage } from '../../coroutines/http/index.js';

export interface Received {
  method: string;
  path: string;
  version: string;
  headers: Array<[string, string]>;
  body: Buffer;
  /** Which connection (1-based, in accept order) it came on. */
  connection: number;
}

export interface Reply {
  status?: number;
  headers?: Array<[string, string]>;
  body?: string | Buffer | Buffer[];
  /** Send the body chunked (each Buffer of an array one chunk), with no Content-Length. */
  chunked?: boolean;
  /** No Content-Length and not chunked: the body ends when the connection closes (HTTP/1.0 style). */
  eof_body?: boolean;
  /** Close the connection after this response (Connection: close). */
  close?: boolean;
  /** Close the connection without answering. */
  drop?: boolean;
  /** Never answer (the connection stays open until the server closes). */
  hang?: boolean;
}

export type Handler = (req: Received, index: number) => Reply | Coroutine<Reply>;

export class TestServer {
  connections = 0;
  readonly requests: Received[] = [];
  readonly transports = new Set<Transport>();
  private server: Server | null = null;
  port = 0;

  constructor(readonly loop: AbstractEventLoop, private readonly handler: Handler, private readonly ssl: SSLContext | null = null) {}

  *start(): Coroutine<this> {
    this.server = yield* create_server(this.loop, () => new ServerConnection(this), '127.0.0.1', 0, this.ssl ? { ssl: this.ssl } : {});
    this.port = (this.server.sockets![0]!.getsockname() as [string, number])[1];
    return this;
  }

  url(path = '/'): string {
    return `${this.ssl ? 'https' : 'http'}://127.0.0.1:${this.port}${path}`;
  }

  close(): void {
    this.server?.close();
    for (const t of this.transports) t.close();
  }

  /** @internal */
  *_serve(conn: ServerConnection, number: number): Coroutine<void> {
    const stream = conn.stream;
    const transport = conn.transport!;
    for (;;) {
      const head = stream.set_parser(http_request_parser(), { loop: this.loop });
      let message: RawRequestMessage;
      try {
        message = yield* head.read();
      } catch (e) {
        if (!(e instanceof EofStream)) transport.close();
        return;
      }
      if (message.expect_continue) {
        // '/refuse...' answers 417 without reading the body; '/ignore...' behaves as if Expect were unknown.
        if (message.path.startsWith('/refuse')) {
          this.requests.push({ method: message.method, path: message.path, version: '1.1', headers: [...message.headers], body: Buffer.alloc(0), connection: number });
          transport.write(Buffer.from('HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
          return transport.close();
        }
        if (!message.path.startsWith('/ignore')) transport.write(Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'));
      }
      // Bodies as they came on the wire (a compressed request body is checked as such). A client that
      // breaks off in the middle of one (a test of that) ends the connection, as a head cut short does.
      let body: Buffer;
      try {
        body = yield* read_payload(stream, message, { loop: this.loop, compression: false }).read_all();
      } catch {
        transport.close();
        return;
      }
      const received: Received = {
        method: message.method, path: message.path, version: message.version.join('.'), headers: [...message.headers], body, connection: number,
      };
      this.requests.push(received);
      const result = this.handler(received, this.requests.length - 1);
      const reply = typeof (result as Coroutine<Reply>).next === 'function' ? yield* (result as Coroutine<Reply>) : result as Reply;
      if (reply.hang) return;
      if (reply.drop) return transport.close();
      const close = reply.close === true || reply.eof_body === true || message.should_close;
      const resp = new Response(transport, reply.status ?? 200, { http_version: reply.eof_body ? HttpVersion10 : message.version, close });
      const chunks = reply.body === undefined ? [] : Array.isArray(reply.body) ? reply.body : [Buffer.from(reply.body)];
      const total = chunks.reduce((n, c) => n + c.length, 0);
      resp.add_headers(...(reply.headers ?? []));
      if (reply.chunked) resp.force_chunked();
      else if (!reply.eof_body && !(reply.headers ?? []).some(([n]) => n.toLowerCase() === 'content-length')) resp.add_header('Content-Length', String(total));
      resp.send_headers();
      for (const c of chunks) resp.write(c);
      resp.write_eof();
      if (close) return transport.close();
    }
  }
}

class ServerConnection extends StreamProtocol {
  constructor(private readonly server: TestServer) {
    super();
  }

  override connection_made(transport: Transport): void {
    super.connection_made(transport);
    this.server.transports.add(transport);
    const number = ++this.server.connections;
    new Task(this.server._serve(this, number), { loop: this.server.loop });
  }

  override connection_lost(exc: Error | null): void {
    if (this.transport) this.server.transports.delete(this.transport);
    super.connection_lost(exc);
  }
}

/** A handler that answers with what it received, as JSON. */
export function echo(req: Received): Reply {
  return {
    headers: [['Content-Type', 'application/json']],
    body: JSON.stringify({ method: req.method, path: req.path, headers: req.headers, body: req.body.toString('latin1') }),
  };
}

// ---- servers that are not ours, in child processes ----

/** python3's http.server over a directory: `python3 -c PY_HTTP_SERVER DIR HTTP/1.0|HTTP/1.1`, serving fd 3. */
export const PY_HTTP_SERVER = `
import functools, http.server, socket, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = sys.argv[2]
    def log_message(self, *args): pass
server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Handler, directory=sys.argv[1]), bind_and_activate=False)
server.socket = socket.socket(fileno=3)
server.serve_forever()
`;

export interface ChildServer {
  /** 'http://127.0.0.1:PORT' (or https). */
  base: string;
  /** Kills the server and waits for it to be gone. */
  stop(): Promise<void>;
}

/**
 * Starts `argv` serving on a listening socket bound here and handed over as fd 3: the port is known before
 * the child runs, so nothing waits on its output (and a tulip loop may run in this process meanwhile).
 */
export function serve_child(argv: string[], scheme: 'http' | 'https' = 'http'): ChildServer {
  const s = new Socket(AF_INET, SOCK_STREAM);
  s.bind(['127.0.0.1', 0]);
  s.listen(16);
  const port = (s.getsockname() as [string, number])[1];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit', s.fileno()] });
  const exited = once(child, 'exit');
  s.close(); // the child has its own copy
  return {
    base: `${scheme}://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
