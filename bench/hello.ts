// The "hello world" every HTTP benchmark here serves: Tulip's way (a ServerHttpProtocol writing an
// http.Response) and the handler adapter's way, the same bytes either way.
import type { Transport } from '../src/index.js';
import { Response, ServerHttpProtocol, type HandlerResponse, type RawRequestMessage } from '../coroutines/http/index.js';

export const BODY = Buffer.from('Hello, World!');
const LENGTH = String(BODY.length);

export class Hello extends ServerHttpProtocol {
  override handle_request(message: RawRequestMessage): void {
    const response = new Response(this.transport as Transport, 200, { http_version: message.version, close: message.should_close });
    response.add_headers(['Content-Type', 'text/plain'], ['Content-Length', LENGTH]);
    response.send_headers();
    response.write(BODY);
    response.write_eof();
  }
}

export const HELLO: HandlerResponse = { headers: { 'Content-Type': 'text/plain' }, body: BODY };
