// The "hello world" every HTTP benchmark here serves: Tulip's way (a ServerHttpProtocol writing an
// http.Response) and the handler adapter's way, the same bytes either way.
import { Protocol, type Coroutine, type Transport } from '../src/index.js';
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

const CANNED = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${LENGTH}\r\nConnection: keep-alive\r\n\r\n${BODY}`);
const END_OF_HEAD = Buffer.from('\r\n\r\n');

/**
 * No HTTP at all: answers every "\r\n\r\n" with the same canned bytes (as bench/uvloop_hello.py's raw
 * mode does), keeping only the last 3 bytes of a read in case a head ends across two. What an HTTP
 * server on this loop could reach if parsing and formatting cost nothing.
 */
export class RawHello extends Protocol {
  private transport!: Transport;
  private tail: Buffer = Buffer.alloc(0);
  override connection_made(transport: Transport): void {
    this.transport = transport;
  }
  override data_received(data: Buffer): void {
    const buf = this.tail.length > 0 ? Buffer.concat([this.tail, data]) : data;
    let answers = 0;
    for (let at = buf.indexOf(END_OF_HEAD); at >= 0; at = buf.indexOf(END_OF_HEAD, at + 4)) answers++;
    this.tail = Buffer.from(buf.subarray(Math.max(0, buf.length - 3)));
    for (let i = 0; i < answers; i++) this.transport.write(CANNED);
  }
}
