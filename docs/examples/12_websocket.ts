// docs/examples/12_websocket.ts
import { get_event_loop, http, type Coroutine, type Transport } from 'tulip-ts';

/** Upgrades every request to a WebSocket and answers each text message in capitals. */
class Capitals extends http.ServerHttpProtocol {
  override *handle_request(message: http.RawRequestMessage): Coroutine<void> {
    const transport = this.transport as Transport;
    const handshake = http.do_handshake(message, transport);   // checks the request, computes the 101
    const response = new http.Response(transport, handshake.status, { http_version: message.version });
    response.add_headers(...handshake.headers);
    response.send_headers();                                      // a 101 has no body: its head leaves now
    const ws = new http.WebSocket(this.stream.set_parser(handshake.parser), handshake.writer);
    for (let msg = yield* ws.receive(); msg !== null; msg = yield* ws.receive()) {
      if (msg.tp === http.MSG_TEXT) ws.send(msg.data.toUpperCase());
      if (msg.tp === http.MSG_CLOSE) console.log('server: the client closed with', msg.data);
    }
  }
}

function* main(): Coroutine<void> {
  const loop = get_event_loop();
  const server = yield* loop.create_server(() => new Capitals(), '127.0.0.1', 0);
  const [, port] = server.sockets![0]!.getsockname() as [string, number];
  const ws = yield* http.ws_connect(`ws://127.0.0.1:${port}/`);
  for (const word of ['hello', 'websocket']) {
    ws.send(word);
    const reply = yield* ws.receive();
    if (reply?.tp === http.MSG_TEXT) console.log('client:', reply.data);
  }
  yield* ws.close(http.CLOSE_OK, 'bye');                         // the closing handshake
  console.log('client: closed with', ws.close_code);
  server.close();
  yield* server.wait_closed();
}

const loop = get_event_loop();
loop.run_until_complete(main());
loop.close();
