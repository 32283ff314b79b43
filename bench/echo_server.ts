// The echo server measured by the yardstick (../shared/bench/README.md) and by `npm run bench`: a plain
// Protocol echo (data_received -> transport.write) served by loop.start_serving on 127.0.0.1.
//
//   npx tsx bench/echo_server.ts PORT [SECONDS] [protocol|buffered]     (with SECONDS > 0, it exits after that long)
//
// `buffered` serves a BufferedProtocol echo instead: every read lands in one reused 256 KiB buffer, where
// a Protocol gets a fresh Buffer per read (which the protocol owns, so it cannot be reused). The difference
// between the two is what owning each read costs (see docs/performance.md); the yardstick measures the
// plain Protocol.
import { BufferedProtocol, Protocol, get_event_loop, type Transport } from '../src/index.js';

class Echo extends Protocol {
  private transport!: Transport;
  override connection_made(transport: Transport): void {
    this.transport = transport;
  }
  override data_received(data: Buffer): void {
    this.transport.write(data);
  }
}

class BufferedEcho extends BufferedProtocol {
  private transport!: Transport;
  private readonly buffer = Buffer.allocUnsafe(256 * 1024);
  override connection_made(transport: Transport): void {
    this.transport = transport;
  }
  override get_buffer(): Uint8Array {
    return this.buffer;
  }
  override buffer_updated(n: number): void {
    this.transport.write(this.buffer.subarray(0, n)); // what the socket does not take at once is copied
  }
}

const port = Number(process.argv[2] ?? 25000);
const seconds = Number(process.argv[3] ?? 0);
const mode = process.argv[4] ?? 'protocol';
if (mode !== 'protocol' && mode !== 'buffered') {
  console.error('usage: bench/echo_server.ts PORT [SECONDS] [protocol|buffered]');
  process.exit(2);
}
const loop = get_event_loop();
const factory = mode === 'buffered' ? () => new BufferedEcho() : () => new Echo();
const [sock] = loop.run_until_complete(loop.start_serving(factory, '127.0.0.1', port));
console.log(`tulip-ts ${mode} echo server on ${JSON.stringify(sock!.getsockname())}`);
if (seconds > 0) loop.call_later(seconds, () => loop.stop());
loop.run_forever();
loop.close();
