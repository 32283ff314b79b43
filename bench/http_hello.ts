// A keep-alive "hello world" HTTP server for the HTTP yardstick (the wrk harness compares it with Node's
// http on the same request).
//
//   node --import tsx bench/http_hello.ts PORT [SECONDS] [MODE]
//
// MODE `protocol` (default): a ServerHttpProtocol subclass answering with http.Response, Tulip's way;
// `handler`: the handler adapter, `serve(function* (request) { return { body } })`. Every request gets
// `Hello, World!` as text/plain, with Content-Length. With SECONDS > 0 it exits after that long. It prints
// nothing but errors: the harness finds it ready by connecting.
import { get_event_loop } from '../src/index.js';
import { serve } from '../coroutines/http/index.js';
import { HELLO, Hello } from './hello.js';

const port = Number(process.argv[2] ?? 8080);
const seconds = Number(process.argv[3] ?? 0);
const mode = process.argv[4] ?? 'protocol';
if (!Number.isInteger(port) || port < 0 || port > 65535 || !(seconds >= 0) || (mode !== 'protocol' && mode !== 'handler')) {
  console.error('usage: bench/http_hello.ts PORT [SECONDS] [protocol|handler]');
  process.exit(2);
}


const loop = get_event_loop();
const server = mode === 'protocol'
  ? loop.run_until_complete(loop.create_server(() => new Hello({ loop }), '127.0.0.1', port, { backlog: 1024 }))
  : loop.run_until_complete(serve(() => HELLO, '127.0.0.1', port, { loop, backlog: 1024 }));
if (seconds > 0) loop.call_later(seconds, () => loop.stop());
loop.run_forever();
server.close();
loop.close();
