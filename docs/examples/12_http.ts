// docs/examples/12_http.ts
import { get_event_loop, http, type Coroutine, type Transport } from 'tulip-ts';

/** Tulip's way: a ServerHttpProtocol whose handle_request() coroutine writes the response itself. */
class Shout extends http.ServerHttpProtocol {
  override *handle_request(message: http.RawRequestMessage, payload: http.Payload): Coroutine<void> {
    const body = yield* payload.read_all();                // the request body, however it was framed
    const answer = Buffer.from(`${message.method} ${message.path}: ${body.toString().toUpperCase()}`);
    const response = new http.Response(this.transport as Transport, 200, { http_version: message.version });
    response.add_headers(['Content-Type', 'text/plain'], ['Content-Length', answer.length]);
    response.send_headers();
    response.write(answer);
    response.write_eof();                                  // head and body leave in one write
  }
}

/** The handler adapter: one request in, one response value out; framing and errors are done for you. */
function* greet(request: http.ServerRequest): Coroutine<http.HandlerResponse> {
  if (request.method !== 'GET') throw new http.HttpErrorException(405, { headers: [['Allow', 'GET']] });
  return http.json_response({ hello: request.query.get('name') ?? 'world' });
}

function* main(): Coroutine<void> {
  const loop = get_event_loop();
  const shout = yield* loop.create_server(() => new Shout(), '127.0.0.1', 0);
  const greeter = yield* http.serve(greet, '127.0.0.1', 0);
  const url = (server: typeof shout) => `http://127.0.0.1:${(server.sockets![0]!.getsockname() as [string, number])[1]}`;

  const session = new http.Session();                    // keeps connections alive between requests
  try {
    for (const word of ['hello', 'tulip']) {
      const response = yield* http.request('POST', `${url(shout)}/shout`, { data: word, session });
      console.log(response.status, yield* response.text());
    }
    console.log('connections made:', session.connections_made);
    const json = yield* http.request('GET', `${url(greeter)}/?name=PEP 3156`);
    console.log(json.headers.get('content-type'), yield* json.json());
    const refused = yield* http.request('DELETE', url(greeter));
    console.log(refused.status, refused.reason, refused.headers.get('allow'));
    refused.release();
  } finally {
    session.close();
    shout.close();
    greeter.close();
  }
}

const loop = get_event_loop();
loop.run_until_complete(main());
loop.close();
