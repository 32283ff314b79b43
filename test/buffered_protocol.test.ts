// BufferedProtocol (asyncio's, Python 3.7): socket and TLS transports read into the buffer the protocol
// gives (get_buffer → recv → buffer_updated) instead of handing out a Buffer per read. Real sockets on
// 127.0.0.1, every selector backend, plain Protocol peers on the other side.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BufferedProtocol, Future, PROTOCOL_TLS_SERVER, Protocol, SSLContext, create_default_context,
  type AbstractEventLoop, type Coroutine, type Socket, type Transport,
} from '../src/index.js';
import { backends, capture_logs, open_fds } from './support/backends.js';
import { make_certs } from './support/certs.js';

const certs = make_certs();
test.after(() => certs.cleanup());

function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

function port_of(sock: Socket): number {
  return (sock.getsockname() as [string, number])[1];
}

/** Echoes through one small reused buffer, placed at an offset inside a larger array. */
class BufferedEcho extends BufferedProtocol {
  transport!: Transport;
  readonly backing = new Uint8Array(1200);
  readonly buf = this.backing.subarray(100, 1100); // 1000 bytes, byteOffset 100: reads must land here
  hints: number[] = [];
  updates = 0;
  eof = false;
  override connection_made(t: Transport): void {
    this.transport = t;
  }
  override get_buffer(sizehint: number): Uint8Array {
    this.hints.push(sizehint);
    return this.buf;
  }
  override buffer_updated(n: number): void {
    assert.ok(n > 0 && n <= this.buf.length, `buffer_updated(${n})`);
    this.updates++;
    this.transport.write(this.buf.subarray(0, n)); // write copies what the socket does not take at once
  }
  override eof_received(): boolean {
    this.eof = true;
    return false;
  }
}

/** Sends `data`, half-closes, collects the echo until the connection ends. */
class Sender extends Protocol {
  chunks: Buffer[] = [];
  readonly done: Future<Buffer>;
  constructor(loop: AbstractEventLoop, private readonly data: Buffer) {
    super();
    this.done = new Future<Buffer>({ loop });
  }
  override connection_made(t: Transport): void {
    t.write(this.data);
    t.write_eof();
  }
  override data_received(d: Buffer): void {
    this.chunks.push(d);
  }
  override eof_received(): boolean {
    return false;
  }
  override connection_lost(exc: Error | null): void {
    if (exc) this.done.set_exception(exc);
    else this.done.set_result(Buffer.concat(this.chunks));
  }
}

for (const { name, make_loop } of backends) {
  test(`${name}: a BufferedProtocol server echoes 1 MiB byte for byte through a 1000-byte buffer`, () => {
    const loop = make_loop();
    try {
      const before = open_fds();
      let server_side: BufferedEcho | null = null;
      const [sock] = loop.run_until_complete(loop.start_serving(() => (server_side = new BufferedEcho()), '127.0.0.1', 0));
      const data = pattern(1 << 20);
      const [, client] = loop.run_until_complete(loop.create_connection(() => new Sender(loop, data), '127.0.0.1', port_of(sock!)));
      const echoed = loop.run_until_complete(client.done, 20);
      assert.ok(echoed.equals(data), 'the echo is the data, in order');
      const s = server_side!;
      assert.ok(s.eof, 'eof_received() was called');
      assert.ok(s.updates >= 1049, `at least 1 MiB / 1000 B reads, got ${s.updates}`);
      assert.ok(s.hints.every((h) => h === -1), 'sizehint is -1 (no preference), as asyncio passes');
      assert.equal(s.backing.subarray(0, 100), new Uint8Array(100), 'nothing written before the view');
      loop.stop_serving(sock!);
      loop.run_until_complete(wait_turns(3));
      assert.equal(open_fds(), before, 'no fd leaked');
    } finally {
      loop.close();
    }
  });
}

/** Gives up `n` turns of the loop (a bare yield is one turn). */
function* wait_turns(n: number): Coroutine<void> {
  for (let i = 0; i < n; i++) yield;
}

/** A client that keeps everything in its own growing storage; it may pause itself. */
class BufferedCollector extends BufferedProtocol {
  transport!: Transport;
  private store = new Uint8Array(4096);
  size = 0;
  readonly done: Future<Buffer>;
  constructor(loop: AbstractEventLoop, private readonly pause_at = Infinity) {
    super();
    this.done = new Future<Buffer>({ loop });
  }
  override connection_made(t: Transport): void {
    this.transport = t;
  }
  override get_buffer(): Uint8Array {
    if (this.store.length - this.size < 1024) {
      const bigger = new Uint8Array(this.store.length * 2);
      bigger.set(this.store.subarray(0, this.size));
      this.store = bigger;
    }
    return this.store.subarray(this.size);
  }
  paused = false;
  override buffer_updated(n: number): void {
    this.size += n;
    if (this.size >= this.pause_at && !this.paused) {
      this.paused = true;
      this.transport.pause_reading();
    }
  }
  override connection_lost(exc: Error | null): void {
    if (exc) this.done.set_exception(exc);
    else this.done.set_result(Buffer.from(this.store.subarray(0, this.size)));
  }
}

/** A server that sends `data` and closes. */
class Blaster extends Protocol {
  constructor(private readonly data: Buffer) {
    super();
  }
  override connection_made(t: Transport): void {
    t.write(this.data);
    t.close();
  }
}

test('a BufferedProtocol client: reads land where get_buffer() says; pause_reading() from buffer_updated() holds the rest', () => {
  const loop = backends[0]!.make_loop();
  try {
    const data = pattern(3 << 20);
    const [sock] = loop.run_until_complete(loop.start_serving(() => new Blaster(data), '127.0.0.1', 0));
    const [t, p] = loop.run_until_complete(loop.create_connection(() => new BufferedCollector(loop, 64 * 1024), '127.0.0.1', port_of(sock!)));
    // Paused after at least 64 KiB: several turns later, nothing more has been read.
    loop.run_until_complete(wait_until(() => p.paused), 20);
    const held = p.size;
    loop.run_until_complete(wait_turns(20));
    assert.is(p.size, held, 'no reads while paused');
    assert.ok(held < data.length);
    t.resume_reading();
    const got = loop.run_until_complete(p.done, 20);
    assert.ok(got.equals(data), 'every byte, in order');
    loop.stop_serving(sock!);
  } finally {
    loop.close();
  }
});

function* wait_until(cond: () => boolean): Coroutine<void> {
  while (!cond()) yield;
}

/** get_buffer() misbehaving in one of three ways. */
class BadBuffer extends BufferedProtocol {
  lost: Error | null | undefined = undefined;
  readonly done: Future<null>;
  constructor(loop: AbstractEventLoop, private readonly how: 'empty' | 'throw' | 'not-bytes') {
    super();
    this.done = new Future<null>({ loop });
  }
  override get_buffer(): Uint8Array {
    if (this.how === 'empty') return new Uint8Array(0);
    if (this.how === 'throw') throw new Error('no room');
    return 'a string' as unknown as Uint8Array;
  }
  override connection_lost(exc: Error | null): void {
    this.lost = exc;
    this.done.set_result(null);
  }
}

for (const [how, kind, text] of [
  ['empty', RangeError, 'returned an empty buffer'],
  ['throw', Error, 'no room'],
  ['not-bytes', TypeError, 'must return a Uint8Array, got string'],
] as const) {
  test(`get_buffer() that ${how === 'throw' ? 'throws' : `returns ${how === 'empty' ? 'an empty buffer' : 'a string'}`} ends the connection with that error`, () => {
    const loop = backends[0]!.make_loop();
    try {
      const before = open_fds();
      const [sock] = loop.run_until_complete(loop.start_serving(() => new Blaster(Buffer.from('hello')), '127.0.0.1', 0));
      const [, p] = loop.run_until_complete(loop.create_connection(() => new BadBuffer(loop, how), '127.0.0.1', port_of(sock!)));
      const logs = capture_logs(() => loop.run_until_complete(p.done, 20));
      assert.match(logs.map((r) => r.message).join('\n'), 'Fatal error: protocol.get_buffer() failed', 'reported, as asyncio does');
      assert.instance(p.lost, kind);
      assert.match(String(p.lost!.message), text);
      loop.stop_serving(sock!);
      loop.run_until_complete(wait_turns(3));
      assert.equal(open_fds(), before, 'the socket is closed');
    } finally {
      loop.close();
    }
  });
}

/** A TLS server whose application protocol is a BufferedProtocol with a tiny buffer. */
class TinyBufferedEcho extends BufferedEcho {
  readonly tiny = new Uint8Array(100);
  override get_buffer(sizehint: number): Uint8Array {
    this.hints.push(sizehint);
    return this.tiny;
  }
  override buffer_updated(n: number): void {
    this.updates++;
    this.transport.write(this.tiny.subarray(0, n));
  }
}

test('TLS: a BufferedProtocol application protocol gets the decrypted bytes through its own buffers', () => {
  const loop = backends[0]!.make_loop();
  try {
    const server_ctx = new SSLContext(PROTOCOL_TLS_SERVER);
    server_ctx.load_cert_chain(certs.server_cert, certs.server_key);
    let server_side: TinyBufferedEcho | null = null;
    const [sock] = loop.run_until_complete(loop.start_serving(() => (server_side = new TinyBufferedEcho()), '127.0.0.1', 0, { ssl: server_ctx }));
    const data = pattern(256 * 1024);
    const client_ctx = create_default_context(undefined, { cafile: certs.ca });
    const [, client] = loop.run_until_complete(
      loop.create_connection(() => new TlsSender(loop, data), '127.0.0.1', port_of(sock!), { ssl: client_ctx, server_hostname: 'localhost' }),
    );
    const echoed = loop.run_until_complete(client.done, 20);
    assert.ok(echoed.equals(data), 'the echo is the data, in order');
    assert.ok(server_side!.updates >= 2622, `100-byte rounds: got ${server_side!.updates}`);
    // The TLS layer knows how much it has: its hint is the size of what is left to deliver.
    assert.ok(server_side!.hints.every((h) => h > 0));
    loop.stop_serving(sock!);
  } finally {
    loop.close();
  }
});

/** Over TLS, EOF cannot half-close: send, then collect until the expected length, then close. */
class TlsSender extends Protocol {
  chunks: Buffer[] = [];
  got = 0;
  transport!: Transport;
  readonly done: Future<Buffer>;
  constructor(loop: AbstractEventLoop, private readonly data: Buffer) {
    super();
    this.done = new Future<Buffer>({ loop });
  }
  override connection_made(t: Transport): void {
    this.transport = t;
    t.write(this.data);
  }
  override data_received(d: Buffer): void {
    this.chunks.push(d);
    this.got += d.length;
    if (this.got >= this.data.length) this.transport.close();
  }
  override connection_lost(exc: Error | null): void {
    if (exc) this.done.set_exception(exc);
    else this.done.set_result(Buffer.concat(this.chunks));
  }
}

test.run();
