// `npx tsx bench/websocket.ts`: WebSocket frame parsing throughput, ours against ws's Receiver (the parser
// behind the `ws` package, here without its optional native bufferutil), on the same masked client frames
// fed in 64 KiB reads as a socket would deliver them; and apply_mask alone. Each figure is the best of
// several runs, both parsers measured in turn.
import { createRequire } from 'node:module';
import { StreamBuffer } from '../src/index.js';
import { WebSocketParser, WebSocketWriter, apply_mask } from '../coroutines/http/index.js';
import { best } from './timing.js';

interface WsReceiver {
  on(event: 'message', listener: () => void): void;
  write(chunk: Buffer): boolean;
}
const require = createRequire(import.meta.url);
const { Receiver } = require('ws') as { Receiver: new (options: { isServer: boolean; maxPayload: number }) => WsReceiver };

const READ = 65536;

/** The wire bytes of `count` masked binary frames of `size` bytes, written by our writer. */
function wire(size: number, count: number): Buffer {
  const chunks: Buffer[] = [];
  const transport = { write: (d: Uint8Array) => chunks.push(Buffer.from(d)) } as unknown as ConstructorParameters<typeof WebSocketWriter>[0];
  const writer = new WebSocketWriter(transport, { mask: true });
  const payload = Buffer.alloc(size, 0x61);
  for (let i = 0; i < count; i++) writer.send(payload, true);
  return Buffer.concat(chunks);
}

/** ms to parse `data` with ours; checks the message count. */
function ours(data: Buffer, count: number): number {
  const stream = new StreamBuffer();
  const out = stream.set_parser(WebSocketParser({ masked: true, max_size: null }));
  let n = 0;
  const t0 = performance.now();
  for (let at = 0; at < data.length; at += READ) {
    stream.feed_data(data.subarray(at, at + READ));
    n += out._buffer.length - out._head; // drain as a reader would, without a loop
    out._buffer.length = 0;
    out._head = 0;
  }
  const ms = performance.now() - t0;
  if (n !== count) throw new Error(`ours: ${n} messages, expected ${count}`);
  return ms;
}

function theirs(data: Buffer, count: number): number {
  const receiver = new Receiver({ isServer: true, maxPayload: 0 });
  let n = 0;
  receiver.on('message', () => n++);
  const t0 = performance.now();
  for (let at = 0; at < data.length; at += READ) receiver.write(data.subarray(at, at + READ));
  const ms = performance.now() - t0;
  if (n !== count) throw new Error(`ws: ${n} messages, expected ${count}`);
  return ms;
}

console.log('WebSocket parsing, masked binary frames fed in 64 KiB reads (MB/s; higher is better)');
for (const [size, count] of [[16, 200_000], [1024, 100_000], [65536, 2_000], [1 << 20, 100]] as const) {
  const data = wire(size, count);
  const mb = data.length / 1e6;
  const a = mb / (best(() => ours(data, count)) / 1000);
  const b = mb / (best(() => theirs(data, count)) / 1000);
  console.log(`  ${String(size).padStart(7)} B frames   tulip-ts ${a.toFixed(0).padStart(5)}   ws ${b.toFixed(0).padStart(5)}   ratio ${(a / b).toFixed(2)}`);
}

const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const block = Buffer.alloc(1 << 20);
const gbs = 1 / (best(() => {
  const t0 = performance.now();
  for (let i = 0; i < 100; i++) apply_mask(block, key);
  return performance.now() - t0;
}) / 100 / 1000) / 1024;
console.log(`apply_mask on 1 MiB: ${gbs.toFixed(2)} GB/s`);
