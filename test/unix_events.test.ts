// unix_events: os_pipe(), the read and write pipe transports through loop.connect_read_pipe /
// connect_write_pipe (on every selector backend), errors for bad fds, child processes on os_pipe fds, and
// fd ownership (no leaks).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execSync, spawn } from 'node:child_process';
import { closeSync, openSync, readSync, writeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binding } from '../src/binding.js';
import {
  BaseProtocol, BrokenPipeError, Future, OSError, Protocol, RuntimeError, os_pipe,
  type AbstractEventLoop, type Coroutine, type PipeLike, type ReadTransport, type WriteTransport,
} from '../src/index.js';
import { backends, open_fds } from './support/backends.js';

/** Collects a read pipe's bytes; `done` resolves with them at connection_lost. */
class Reader extends Protocol {
  transport!: ReadTransport;
  chunks: Buffer[] = [];
  events: string[] = [];
  done: Future<Buffer>;
  constructor(loop: AbstractEventLoop) {
    super();
    this.done = new Future<Buffer>({ loop });
  }
  override connection_made(t: unknown): void {
    this.transport = t as ReadTransport;
    this.events.push('made');
  }
  override data_received(data: Buffer): void {
    this.chunks.push(Buffer.from(data));
  }
  override eof_received(): boolean {
    this.events.push('eof');
    return true; // a pipe ends at EOF anyway
  }
  override connection_lost(exc: Error | null): void {
    this.events.push('lost');
    if (exc) this.done.set_exception(exc);
    else this.done.set_result(Buffer.concat(this.chunks));
  }
}

/** A write pipe's protocol: records flow control and how the connection ended. */
class Writer extends BaseProtocol {
  transport!: WriteTransport;
  pauses = 0;
  resumes = 0;
  paused = false;
  lost: Future<Error | null>;
  constructor(loop: AbstractEventLoop) {
    super();
    this.lost = new Future<Error | null>({ loop });
  }
  override connection_made(t: unknown): void {
    this.transport = t as WriteTransport;
  }
  override pause_writing(): void {
    this.pauses++;
    this.paused = true;
  }
  override resume_writing(): void {
    this.resumes++;
    this.paused = false;
  }
  override connection_lost(exc: Error | null): void {
    this.lost.set_result(exc);
  }
}

function pattern(n: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

function leaked(before: Set<number>): number[] {
  return [...open_fds()].filter((fd) => !before.has(fd));
}

test('os_pipe: blocking, close-on-exec fds that work with node:fs', () => {
  const [r, w] = os_pipe();
  try {
    assert.ok(Number.isInteger(r) && Number.isInteger(w) && r !== w);
    assert.is(writeSync(w, 'abc'), 3);
    const buf = Buffer.alloc(8);
    assert.is(readSync(r, buf, 0, 8, null), 3); // blocking: would throw EAGAIN if the fd were non-blocking
    assert.is(buf.subarray(0, 3).toString(), 'abc');
  } finally {
    closeSync(r);
    closeSync(w);
  }
  // close-on-exec: a child does not see the fd (ls /proc/self/fd in the child).
  const [r2, w2] = os_pipe();
  try {
    const out = execSync('ls /proc/self/fd').toString();
    assert.not.ok(out.split(/\s+/).includes(String(r2)), `fd ${r2} leaked into a child: ${out}`);
  } finally {
    closeSync(r2);
    closeSync(w2);
  }
});

for (const { name, make_loop } of backends) {
  test(`${name}: bytes written into a pipe arrive through a read pipe transport, then EOF ends it`, () => {
    const loop = make_loop();
    const before = open_fds();
    try {
      const [r, w] = os_pipe();
      const [transport, reader] = loop.run_until_complete(loop.connect_read_pipe(() => new Reader(loop), r));
      assert.is(transport.get_extra_info('pipe'), r);
      writeSync(w, 'hello ');
      writeSync(w, 'pipe');
      closeSync(w);
      assert.is(loop.run_until_complete(reader.done, 5).toString(), 'hello pipe');
      assert.equal(reader.events, ['made', 'eof', 'lost']);
      assert.ok(transport.is_closing());
      assert.equal(leaked(before), [], 'the transport closed its fd');
    } finally {
      loop.close();
    }
  });

  test(`${name}: write pipe transport -> read pipe transport, 4 MiB with flow control`, () => {
    const loop = make_loop();
    const before = open_fds();
    try {
      const [r, w] = os_pipe();
      const [wt, writer] = loop.run_until_complete(loop.connect_write_pipe(() => new Writer(loop), w));
      const [rt, reader] = loop.run_until_complete(loop.connect_read_pipe(() => new Reader(loop), { fileno: () => r }));
      assert.ok(wt.can_write_eof());
      wt.set_write_buffer_limits(64 * 1024, 16 * 1024);
      const data = pattern(4 * 1024 * 1024);
      // Write in 64 KiB pieces, waiting for resume_writing whenever the transport says stop.
      function* produce(): Coroutine<void> {
        for (let off = 0; off < data.length; off += 65536) {
          wt.write(data.subarray(off, off + 65536));
          while (writer.paused) yield;
        }
        wt.write_eof();
      }
      loop.run_until_complete(produce(), 20);
      const got = loop.run_until_complete(reader.done, 20);
      assert.is(got.length, data.length);
      assert.ok(got.equals(data), 'byte-exact');
      assert.ok(writer.pauses > 0, 'pause_writing was called');
      assert.is(writer.resumes, writer.pauses);
      assert.is(loop.run_until_complete(writer.lost, 5), null);
      assert.is(wt.get_write_buffer_size(), 0);
      assert.ok(rt.is_closing());
      assert.equal(leaked(before), []);
    } finally {
      loop.close();
    }
  });

  test(`${name}: the reader closing its end ends the write transport (no data buffered: null)`, () => {
    const loop = make_loop();
    const before = open_fds();
    try {
      const [r, w] = os_pipe();
      const [, writer] = loop.run_until_complete(loop.connect_write_pipe(() => new Writer(loop), w));
      closeSync(r);
      assert.is(loop.run_until_complete(writer.lost, 5), null);
      assert.equal(leaked(before), []);
    } finally {
      loop.close();
    }
  });

  test(`${name}: the reader closing its end with data buffered -> connection_lost(BrokenPipeError)`, () => {
    const loop = make_loop();
    const before = open_fds();
    try {
      const [r, w] = os_pipe();
      const [wt, writer] = loop.run_until_complete(loop.connect_write_pipe(() => new Writer(loop), w));
      wt.write(pattern(1024 * 1024)); // more than a pipe holds: the rest is buffered
      assert.ok(wt.get_write_buffer_size() > 0);
      closeSync(r);
      const exc = loop.run_until_complete(writer.lost, 5);
      assert.ok(exc instanceof BrokenPipeError, String(exc));
      assert.is(wt.get_write_buffer_size(), 0);
      wt.write(Buffer.from('dropped')); // after connection_lost: dropped silently, no throw
      assert.equal(leaked(before), []);
    } finally {
      loop.close();
    }
  });
}

test('a write into a pipe whose reader is gone fails with EPIPE -> connection_lost(BrokenPipeError)', () => {
  const loop = backends[0]!.make_loop();
  const before = open_fds();
  try {
    const [r, w] = os_pipe();
    const [wt, writer] = loop.run_until_complete(loop.connect_write_pipe(() => new Writer(loop), w));
    loop.remove_reader(w); // take away the "reader is gone" watch, so that write() itself meets the EPIPE
    closeSync(r);
    wt.write(Buffer.from('x'));
    const exc = loop.run_until_complete(writer.lost, 5);
    assert.ok(exc instanceof BrokenPipeError, String(exc));
    assert.is((exc as OSError).code, 'EPIPE');
    assert.equal(leaked(before), []);
  } finally {
    loop.close();
  }
});

test('write pipe: write_eof is close after the flush; write after write_eof throws; close is idempotent', () => {
  const loop = backends[0]!.make_loop();
  try {
    const [r, w] = os_pipe();
    const [wt, writer] = loop.run_until_complete(loop.connect_write_pipe(() => new Writer(loop), w));
    const [, reader] = loop.run_until_complete(loop.connect_read_pipe(() => new Reader(loop), r));
    wt.write(Buffer.from('last words'));
    wt.write_eof();
    assert.ok(wt.is_closing());
    assert.throws(() => wt.write(Buffer.from('more')), (e: unknown) => e instanceof RuntimeError);
    wt.close();
    wt.write_eof();
    assert.is(loop.run_until_complete(reader.done, 5).toString(), 'last words');
    assert.equal(reader.events, ['made', 'eof', 'lost']);
    assert.is(loop.run_until_complete(writer.lost, 5), null);
  } finally {
    loop.close();
  }
});

test('write pipe: abort drops the buffer; the reader sees EOF without it', () => {
  const loop = backends[0]!.make_loop();
  try {
    const [r, w] = os_pipe();
    const [wt, writer] = loop.run_until_complete(loop.connect_write_pipe(() => new Writer(loop), w));
    const [, reader] = loop.run_until_complete(loop.connect_read_pipe(() => new Reader(loop), r));
    wt.write(pattern(1024 * 1024));
    const buffered = wt.get_write_buffer_size();
    assert.ok(buffered > 0);
    wt.abort();
    assert.is(loop.run_until_complete(writer.lost, 5), null);
    const got = loop.run_until_complete(reader.done, 5);
    assert.is(got.length, 1024 * 1024 - buffered);
  } finally {
    loop.close();
  }
});

test('read pipe: pause() stops data_received until resume(); close() ends it with connection_lost(null)', () => {
  const loop = backends[0]!.make_loop();
  const before = open_fds();
  try {
    const [r, w] = os_pipe();
    const [rt, reader] = loop.run_until_complete(loop.connect_read_pipe(() => new Reader(loop), r));
    rt.pause_reading();
    writeSync(w, 'waiting');
    loop.run_until_complete((function* () { for (let i = 0; i < 5; i++) yield; })());
    assert.is(reader.chunks.length, 0, 'nothing read while paused');
    rt.resume();
    loop.run_until_complete((function* () { while (reader.chunks.length === 0) yield; })(), 5);
    assert.is(Buffer.concat(reader.chunks).toString(), 'waiting');
    rt.pause();
    rt.close();
    rt.close();
    assert.is(loop.run_until_complete(reader.done, 5).toString(), 'waiting');
    assert.equal(reader.events, ['made', 'lost'], 'close() is not an EOF');
    closeSync(w);
    assert.equal(leaked(before), []);
  } finally {
    loop.close();
  }
});

test('a pipe given as an object: the transport calls its close(); extra info "pipe" is the object', () => {
  const loop = backends[0]!.make_loop();
  try {
    const [r, w] = os_pipe();
    let closed = 0;
    const pipe = { fileno: () => r, close: () => { closed++; closeSync(r); } };
    const [rt, reader] = loop.run_until_complete(loop.connect_read_pipe(() => new Reader(loop), pipe));
    assert.is(rt.get_extra_info('pipe'), pipe);
    closeSync(w);
    loop.run_until_complete(reader.done, 5);
    assert.is(closed, 1);
  } finally {
    loop.close();
  }
});

test('a closed fd -> OSError EBADF; a regular file -> RangeError; neither creates a protocol or takes the fd', () => {
  const loop = backends[0]!.make_loop();
  const dir = mkdtempSync(join(tmpdir(), 'tulip-pipes-'));
  try {
    const [r, w] = os_pipe();
    closeSync(r);
    closeSync(w);
    let made = 0;
    type Connect = (factory: () => Reader, pipe: PipeLike) => Coroutine<unknown>;
    const connects: Connect[] = [(f, p) => loop.connect_read_pipe(f, p), (f, p) => loop.connect_write_pipe(f, p)];
    for (const connect of connects) {
      try {
        loop.run_until_complete(connect(() => { made++; return new Reader(loop); }, r));
        assert.unreachable('a closed fd was accepted');
      } catch (e) {
        assert.ok(e instanceof OSError, String(e));
        assert.is((e as OSError).code, 'EBADF');
        assert.match(String((e as Error).message), `fd ${r}`);
      }
    }
    const file = openSync(join(dir, 'regular'), 'w+');
    try {
      for (const connect of connects) {
        assert.throws(() => loop.run_until_complete(connect(() => { made++; return new Reader(loop); }, file)), /pipes, sockets and character devices; fd \d+ is a regular file/);
      }
      assert.ok(binding.fd_is_open(file), 'the caller still owns the fd');
    } finally {
      closeSync(file);
    }
    assert.throws(() => loop.run_until_complete(loop.connect_read_pipe(() => new Reader(loop), -1)), RangeError);
    assert.is(made, 0);
  } finally {
    loop.close();
    rmSync(dir, { recursive: true });
  }
});

test('a child process writes into an os_pipe; the loop reads it through a read pipe transport', () => {
  const loop = backends[0]!.make_loop();
  const before = open_fds();
  try {
    const [r, w] = os_pipe();
    const child = spawn(process.execPath, ['-e', 'process.stdout.write("x".repeat(200000) + "done")'], { stdio: ['ignore', w, 'inherit'] });
    closeSync(w); // the child has its copy: EOF comes when it exits
    const [, reader] = loop.run_until_complete(loop.connect_read_pipe(() => new Reader(loop), r));
    const got = loop.run_until_complete(reader.done, 20).toString();
    assert.is(got.length, 200004);
    assert.ok(got.endsWith('done'));
    assert.equal(reader.events, ['made', 'eof', 'lost']);
    child.unref();
    assert.equal(leaked(before), []);
  } finally {
    loop.close();
  }
});

test('a child process (cat) between a write pipe and a read pipe transport', () => {
  const loop = backends[0]!.make_loop();
  const before = open_fds();
  try {
    const [in_r, in_w] = os_pipe();
    const [out_r, out_w] = os_pipe();
    const child = spawn('cat', [], { stdio: [in_r, out_w, 'inherit'] });
    closeSync(in_r);
    closeSync(out_w);
    const [wt, writer] = loop.run_until_complete(loop.connect_write_pipe(() => new Writer(loop), in_w));
    const [, reader] = loop.run_until_complete(loop.connect_read_pipe(() => new Reader(loop), out_r));
    const data = pattern(1024 * 1024, 7);
    wt.write(data);
    wt.write_eof();
    const got = loop.run_until_complete(reader.done, 20);
    assert.ok(got.equals(data), 'cat echoed every byte');
    assert.is(loop.run_until_complete(writer.lost, 5), null);
    child.unref();
    assert.equal(leaked(before), []);
  } finally {
    loop.close();
  }
});

test.run();
