// Both ends of a WebSocket for tests, over real sockets on 127.0.0.1: the HTTP upgrade goes through
// protocol.ts (http_request_parser + Response on the server, Request + http_response_parser on the client),
// the way ServerHttpProtocol and the HTTP client do it.
import {
  HttpErrorException, Request, Response, WebSocket, WebSocketParser, WebSocketWriter, client_handshake_headers, do_handshake,
  http_request_parser, http_response_parser, verify_handshake_response, type Handshake,
} from '../../coroutines/http/index.js';
import {
  Future, Queue, StreamProtocol, Task, type AbstractEventLoop, type Coroutine, type Server, type Transport,
} from '../../src/index.js';

/** Accepts one WebSocket connection: the request parsed, do_handshake(), the 101 (or the error's) response. */
export class WsServerProtocol extends StreamProtocol {
  readonly ws = new Future<WebSocket>();
  override connection_made(transport: Transport): void {
    super.connection_made(transport);
    new Task(this.accept(transport));
  }
  private *accept(transport: Transport): Coroutine<void> {
    const message = yield* this.stream.set_parser(http_request_parser()).read();
    let hs: Handshake;
    try {
      hs = do_handshake(message, transport, { protocols: ['chat'] });
    } catch (e) {
      const err = e as HttpErrorException;
      const resp = new Response(transport, err.code, { close: true });
      resp.add_headers(...err.headers, ['Content-Length', '0']);
      resp.send_headers();
      resp.write_eof();
      transport.close();
      this.ws.set_exception(err);
      return;
    }
    const resp = new Response(transport, hs.status, { http_version: message.version });
    resp.add_headers(...hs.headers);
    resp.send_headers();
    resp.write_eof();
    this.ws.set_result(new WebSocket(this.stream.set_parser(hs.parser), hs.writer, { protocol: hs.protocol, close_timeout: 5 }));
  }
}

/** Our client's side: Request with client_handshake_headers() (some `replace`d), the response parsed and verified. */
export function* ws_connect(loop: AbstractEventLoop, port: number, protocols?: string[], replace: Array<[string, string]> = []): Coroutine<WebSocket> {
  const [transport, proto] = yield* loop.create_connection(() => new StreamProtocol(), '127.0.0.1', port);
  const { key, headers } = client_handshake_headers(protocols);
  const req = new Request(transport, 'GET', '/chat');
  const replaced = new Set(replace.map(([name]) => name));
  req.add_headers(['Host', `127.0.0.1:${port}`], ...headers.filter(([name]) => !replaced.has(name)), ...replace);
  req.send_headers();
  req.write_eof();
  const response = yield* proto.stream.set_parser(http_response_parser()).read();
  const protocol = verify_handshake_response(response, key, protocols);
  return new WebSocket(proto.stream.set_parser(WebSocketParser({ masked: false })), new WebSocketWriter(transport, { mask: true }), { protocol, close_timeout: 5 });
}

/** A server on 127.0.0.1 (port 0); `accepted()` waits for the next connection's WebSocket (or handshake error). */
export function* ws_server(loop: AbstractEventLoop): Coroutine<{ port: number; server: Server; accepted: () => Coroutine<WebSocket> }> {
  const connections = new Queue<WsServerProtocol>();
  const server = yield* loop.create_server(() => {
    const p = new WsServerProtocol();
    connections.put_nowait(p);
    return p;
  }, '127.0.0.1', 0);
  const port = (server.sockets![0]!.getsockname() as [string, number])[1];
  return { port, server, accepted: function* () { return yield* (yield* connections.get()).ws; } };
}
