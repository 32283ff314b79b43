// The HTTP server's own cost per request, without sockets: a ServerHttpProtocol fed keep-alive requests
// through a transport that only counts writes, on the virtual-time TestLoop: wrk's GET, and a POST whose
// 1 KiB body the handler reads. What is left of a request's cost on a real connection is the loop's I/O
// (epoll, recv, send), which bench/http.ts measures with wrk.
//
//   node --import tsx bench/http_micro.ts [REQUESTS]
import { TestLoop, Transport, set_event_loop } from '../src/index.js';
import { REPEAT, best } from './timing.js';
import { Hello, HelloAfterBody } from './hello.js';

class CountingTransport extends Transport {
  writes = 0;
  bytes = 0;
  override write(data: Uint8Array): void {
    this.writes++;
    this.bytes += data.length;
  }
  override get_extra_info(_name: string, default_value: unknown = null): unknown {
    return default_value;
  }
  override is_closing(): boolean {
    return false;
  }
  override close(): void {}
  override pause(): void {}
  override resume(): void {}
}

const GET = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n'); // what wrk sends
const POST = Buffer.concat([
  Buffer.from('POST /upload HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/octet-stream\r\nContent-Length: 1024\r\n\r\n'),
  Buffer.alloc(1024, 'a'),
]);
const n = Number(process.argv[2] ?? 50_000);

function measure(name: string, kind: typeof Hello | typeof HelloAfterBody, request: Buffer): void {
  const loop = new TestLoop();
  set_event_loop(loop);
  const transport = new CountingTransport();
  const p = new kind({ loop, timeout: 0 });
  p.connection_made(transport);
  const run = (count: number): void => {
    for (let i = 0; i < count; i++) {
      const before = transport.writes;
      // A fresh Buffer per request, as a transport hands out.
      p.data_received(Buffer.from(request));
      while (transport.writes === before) loop.run_once();
    }
  };
  run(20_000); // warm-up
  const ns = best(() => {
    const t0 = process.hrtime.bigint();
    run(n);
    return Number(process.hrtime.bigint() - t0) / n;
  });
  console.log(`HTTP server, no sockets, ${name}: ${ns.toFixed(0)} ns per request (${(1e9 / ns / 1000).toFixed(0)}k requests/s on one core; best of ${REPEAT})`);
  p.connection_lost(null);
  set_event_loop(null);
  loop.close();
}

measure("wrk's GET", Hello, GET);
measure('POST, 1 KiB body read', HelloAfterBody, POST);
