// The "hello world" every HTTP benchmark here serves: Tulip's way (a ServerHttpProtocol writing an
// http.Response) and the handler adapter's way, the same bytes either way.
import type { Coroutine, Transport } from '../src/index.js';
import { Response, ServerHttpProtocol, type HandlerResponse, type Payload, type RawRequestMessage } from '../coroutines/http/index.js';

export const BODY = Buffer.from('Hello, World!');
const LENGTH = String(BODY.length);

function write_hello(transport: Transport, message: RawRequestMessage): void {
  const response = new Response(transport, 200, { http_version: message.version, close: message.should_close });
  response.add_headers(['Content-Type', 'text/plain'], ['Content-Length', LENGTH]);
  response.send_headers();
  response.write(BODY);
  response.write_eof();
}

export class Hello extends ServerHttpProtocol {
  override handle_request(message: RawRequestMessage): void {
    write_hello(this.transport as Transport, message);
  }
}

/** Reads the whole request body first: what an upload costs beyond a GET. */
export class HelloAfterBody extends ServerHttpProtocol {
  override *handle_request(message: RawRequestMessage, payload: Payload): Coroutine<void> {
    yield* payload.read_all();
    write_hello(this.transport as Transport, message);
  }
}

export const HELLO: HandlerResponse = { headers: { 'Content-Type': 'text/plain' }, body: BODY };
