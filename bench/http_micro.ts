// The HTTP server's own cost per request, without sockets: a ServerHttpProtocol fed keep-alive requests
// through a transport that only counts writes, on the virtual-time TestLoop. What is left of a request's
// cost on a real connection is the loop's I/O (epoll, recv, send), which bench/http.ts measures with wrk.
//
//   node --import tsx bench/http_micro.ts [REQUESTS]
import { TestLoop, Transport, set_event_loop } from '../src/index.js';
import { REPEAT, best } from './timing.js';
import { Hello } from './hello.js';

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

// What wrk sends.
const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n');
const n = Number(process.argv[2] ?? 50_000);
const loop = new TestLoop();
set_event_loop(loop);
const transport = new CountingTransport();
const protocol = new Hello({ loop, timeout: 0 });
protocol.connection_made(transport);

function run(count: number): void {
  for (let i = 0; i < count; i++) {
    const before = transport.writes;
    protocol.data_received(REQUEST);
    while (transport.writes === before) loop.run_once();
  }
}

run(20_000); // warm-up
const ns = best(() => {
  const t0 = process.hrtime.bigint();
  run(n);
  return Number(process.hrtime.bigint() - t0) / n;
});
console.log(`HTTP server, no sockets: ${ns.toFixed(0)} ns per request (${(1e9 / ns / 1000).toFixed(0)}k requests/s on one core; best of ${REPEAT})`);
protocol.connection_lost(null);
loop.close();
