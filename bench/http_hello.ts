// A keep-alive "hello world" HTTP server for the HTTP yardstick (the wrk harness compares it with Node's
// http on the same request).
//
//   node --import tsx bench/http_hello.ts PORT [SECONDS] [MODE]
//
// MODE `protocol` (default): a ServerHttpProtocol subclass answering with http.Response, Tulip's way;
// `handler`: the handler adapter, `serve(function* (request) { return { body } })`; `raw`: no HTTP code at
// all, a plain Protocol that answers every blank line ending a head with a canned response (the twin of
// bench/uvloop_hello.py's raw mode: the ceiling of any HTTP server on this loop). Every request gets
// `Hello, World!` as text/plain, with Content-Length. With SECONDS > 0 it exits after that long. It prints
// nothing but errors: the harness finds it ready by connecting.
import { get_event_loop } from '../src/index.js';
import { serve } from '../coroutines/http/index.js';
import { HELLO, Hello, RawHello } from './hello.js';

const port = Number(process.argv[2] ?? 8080);
const seconds = Number(process.argv[3] ?? 0);
const mode = process.argv[4] ?? 'protocol';
if (!Number.isInteger(port) || port < 0 || port > 65535 || !(seconds >= 0) || !['protocol', 'handler', 'raw'].includes(mode)) {
  console.error('usage: bench/http_hello.ts PORT [SECONDS] [protocol|handler|raw]');
  process.exit(2);
}


const loop = get_event_loop();
const server = mode === 'handler'
  ? loop.run_until_complete(serve(() => HELLO, '127.0.0.1', port, { loop, backlog: 1024 }))
  : loop.run_until_complete(loop.create_server(() => (mode === 'raw' ? new RawHello() : new Hello({ loop })), '127.0.0.1', port, { backlog: 1024 }));
if (seconds > 0) loop.call_later(seconds, () => loop.stop());
loop.run_forever();
server.close();
loop.close();
