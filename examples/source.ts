// Test client that connects and sends data as fast as the transport allows (asyncio's
// examples/source.py, the companion of sink.ts), with write flow control.
//
//   npx tsx examples/source.ts [--host 127.0.0.1] [--port 1111] [--size 104857600] [--block 16384] [--stop]
//
// It writes one block of --block bytes per loop turn until --size bytes are written, then closes the
// connection (its buffer is flushed first) and exits. asyncio's source.py wrote forever and let the
// buffer grow; here the transport calls pause_writing() when its buffer passes the high-water mark, the
// writing stops, and resume_writing() starts it again once the buffer has drained. (asyncio's --size was
// the block size; here that is --block, and --size is the total.) --stop sends b'stop', which stops the
// sink's server. No --tls yet: TLS comes later.
import { Future, Protocol, get_event_loop, type AbstractEventLoop, type Coroutine, type Transport } from 'tulip-ts';
import { option } from './args.js';

const args = {
  tls: process.argv.includes('--tls'),
  stop: process.argv.includes('--stop'),
  host: option('host', '127.0.0.1'),
  port: Number(option('port', '1111')),
  size: Number(option('size', String(100 * 1024 * 1024))),
  block: Number(option('block', String(16 * 1024))),
};

function dprint(...args: unknown[]): void {
  console.error('source:', ...args);
}

class Client extends Protocol {
  total = 0;
  pauses = 0;
  waiter!: Future<null>;
  private tr!: Transport;
  private lost = false;
  private paused = false;
  private loop!: AbstractEventLoop;
  private data!: Buffer;

  override connection_made(tr: Transport): void {
    dprint('connecting to', tr.get_extra_info('peername'));
    dprint('my socket is', tr.get_extra_info('sockname'));
    this.tr = tr;
    this.loop = get_event_loop();
    this.waiter = new Future<null>();
    if (args.stop) {
      this.tr.write(Buffer.from('stop'));
      this.tr.close();
    } else {
      this.data = Buffer.alloc(args.block, 'x');
      this.write_some_data();
    }
  }

  write_some_data(): void {
    if (this.lost) {
      dprint('lost already');
      return;
    }
    if (this.paused) return; // resume_writing() calls us again
    const size = Math.min(this.data.length, args.size - this.total);
    if (size <= 0) {
      dprint('all', this.total, 'bytes written; paused', this.pauses, 'times; closing');
      this.tr.close();
      return;
    }
    this.total += size;
    dprint('writing', size, 'bytes; total', this.total);
    this.tr.write(size === this.data.length ? this.data : this.data.subarray(0, size));
    if (!this.paused) this.loop.call_soon(() => this.write_some_data());
  }

  override pause_writing(): void {
    dprint('pausing: buffer', this.tr.get_write_buffer_size(), 'bytes');
    this.paused = true;
    this.pauses++;
  }

  override resume_writing(): void {
    dprint('resuming: buffer', this.tr.get_write_buffer_size(), 'bytes');
    this.paused = false;
    this.loop.call_soon(() => this.write_some_data());
  }

  override connection_lost(exc: Error | null): void {
    dprint('lost connection', exc === null ? null : String(exc)); // Python printed repr(exc): no traceback
    this.lost = true;
    this.waiter.set_result(null);
  }

  override toString(): string {
    return `<Client total=${this.total}>`;
  }
}

function* start(loop: AbstractEventLoop, host: string, port: number): Coroutine<void> {
  const [tr, pr] = yield* loop.create_connection(() => new Client(), host, port);
  dprint('tr =', String(tr));
  dprint('pr =', String(pr));
  yield* pr.waiter;
}

function main(): void {
  if (args.tls) {
    console.log('--tls is not supported yet: tulip-ts has no TLS transport (TLS comes later).');
    process.exit(2);
  }
  const loop = get_event_loop();
  try {
    loop.run_until_complete(start(loop, args.host, args.port));
  } finally {
    loop.close();
  }
}

main();
