// Both ends of a WebSocket for tests, over real sockets on 127.0.0.1: the HTTP upgrade goes through
// protocol.ts on the server (http_request_parser + Response, the way ServerHttpProtocol does it) and
// through the library's ws_connect() (the HTTP client) on the client.
import {
  HttpErrorException, Response, WebSocket, do_handshake, http_request_parser, ws_connect as connect, type Handshake,
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

/** Our client's side: ws_connect() with the handshake headers it is given replacing its own. */
export function ws_connect(loop: AbstractEventLoop, port: number, protocols?: string[], replace: Array<[string, string]> = []): Coroutine<WebSocket> {
  return connect(`ws://127.0.0.1:${port}/chat`, { protocols, headers: replace, close_timeout: 5, loop });
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
