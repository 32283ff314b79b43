// Streams: StreamReader unit cases ported from Tulip's tests/streams_test.py (plus readuntil and the bad
// inputs), back-pressure against a transport stub, then StreamReader/StreamWriter over real sockets on
// 127.0.0.1 and a Unix socket: echo, drain against a slow reader, many clients, callbacks, errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { make_certs } from './support/certs.js';
import {
  ConnectionRefusedError, ConnectionResetError, FlowControlProtocol, StreamWriter as Writer, type Transport, Future, PROTOCOL_TLS_SERVER, SSLContext, create_default_context, IncompleteReadError, LimitOverrunError, RuntimeError, Socket, StreamReader, Task,
  gather, new_event_loop, open_connection, open_unix_connection, set_event_loop, sleep, start_server, start_unix_server, wait,
  type AbstractEventLoop, type Coroutine, type Server, type StreamWriter,
} from '../src/index.js';

const DATA = Buffer.from('line1\nline2\nline3\n');
const b = (s: string): Buffer => Buffer.from(s);

/** Runs fn with a fresh loop (also the current loop), always closed. */
function with_loop(fn: (loop: AbstractEventLoop) => void): () => void {
  return () => {
    const loop = new_event_loop();
    set_event_loop(loop);
    try {
      fn(loop);
    } finally {
      set_event_loop(null);
      loop.close();
    }
  };
}

function buffered(s: StreamReader): number {
  return s['_buffer'].length;
}

function raises<E extends Error>(loop: AbstractEventLoop, coro: Coroutine<unknown> | Future<unknown>, cls: new (...a: never[]) => E): E {
  try {
    loop.run_until_complete(coro);
  } catch (e) {
    assert.instance(e, cls);
    return e as E;
  }
  throw new Error(`expected ${cls.name}`);
}

// ---- StreamReader, ported from Tulip ----

test('feed empty data; feed counts bytes', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  s.feed_data(b(''));
  assert.is(buffered(s), 0);
  s.feed_data(DATA);
  assert.is(buffered(s), DATA.length);
}));

test('read(0) returns empty and leaves the buffer', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  s.feed_data(DATA);
  assert.equal(loop.run_until_complete(s.read(0)), b(''));
  assert.is(buffered(s), DATA.length);
}));

test('read(n) waits for data fed later', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  const t = new Task(s.read(30), { loop });
  loop.call_soon(() => s.feed_data(DATA));
  assert.equal(loop.run_until_complete(t), DATA);
  assert.is(buffered(s), 0);
}));

test('read(n) across chunks returns at most n', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  s.feed_data(b('line1'));
  s.feed_data(b('line2'));
  assert.equal(loop.run_until_complete(s.read(5)), b('line1'));
  assert.is(buffered(s), 5);
}));

test('read at EOF is empty; read(-1) reads until EOF', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  const t = new Task(s.read(1024), { loop });
  loop.call_soon(() => s.feed_eof());
  assert.equal(loop.run_until_complete(t), b(''));
  const s2 = new StreamReader(undefined, { loop });
  const t2 = new Task(s2.read(-1), { loop });
  loop.call_soon(() => {
    s2.feed_data(b('chunk1\n'));
    s2.feed_data(b('chunk2'));
    s2.feed_eof();
  });
  assert.equal(loop.run_until_complete(t2), b('chunk1\nchunk2'));
  assert.ok(s2.at_eof());
}));

test('read(-1) bigger than the limit', with_loop((loop) => {
  const s = new StreamReader(10, { loop });
  const t = new Task(s.read(), { loop });
  const big = Buffer.alloc(1000, 7);
  loop.call_soon(() => {
    s.feed_data(big);
    s.feed_eof();
  });
  assert.equal(loop.run_until_complete(t), big);
}));

test('read raises the exception set', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  s.feed_data(b('line\n'));
  assert.equal(loop.run_until_complete(s.read(2)), b('li'));
  s.set_exception(new RangeError('boom'));
  raises(loop, s.read(2), RangeError);
}));

test('readline joins chunks up to the newline', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  s.feed_data(b('chunk1 '));
  const t = new Task(s.readline(), { loop });
  loop.call_soon(() => {
    s.feed_data(b('chunk2 '));
    s.feed_data(b('chunk3 '));
    s.feed_data(b('\n chunk4'));
  });
  assert.equal(loop.run_until_complete(t), b('chunk1 chunk2 chunk3 \n'));
  assert.is(buffered(s), ' chunk4'.length);
}));

test('readline over the limit with the data already there drops that line', with_loop((loop) => {
  let s = new StreamReader(3, { loop });
  s.feed_data(b('li'));
  s.feed_data(b('ne1\nline2\n'));
  raises(loop, s.readline(), LimitOverrunError);
  assert.is(buffered(s), 'line2\n'.length);
  assert.equal(loop.run_until_complete(s.readexactly(6)), b('line2\n'));
  // No newline at all: the buffer is dropped.
  s = new StreamReader(3, { loop });
  s.feed_data(b('li'));
  s.feed_data(b('ne1'));
  s.feed_data(b('li'));
  raises(loop, s.readline(), LimitOverrunError);
  assert.is(buffered(s), 0);
}));

test('readline over the limit with data fed later', with_loop((loop) => {
  const s = new StreamReader(7, { loop });
  loop.call_soon(() => {
    s.feed_data(b('chunk1'));
    s.feed_data(b('chunk2'));
    s.feed_data(b('chunk3\n'));
    s.feed_eof();
  });
  const e = raises(loop, s.readline(), LimitOverrunError);
  assert.match(e.message, /Line is too long/);
  assert.is(buffered(s), 0);
  assert.ok(s.at_eof());
}));

test('readline then read counts bytes; readline at EOF', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  s.feed_data(DATA.subarray(0, 6));
  s.feed_data(DATA.subarray(6));
  assert.equal(loop.run_until_complete(s.readline()), b('line1\n'));
  assert.equal(loop.run_until_complete(s.read(7)), b('line2\nl'));
  assert.is(buffered(s), DATA.length - 13);
  const s2 = new StreamReader(undefined, { loop });
  s2.feed_data(b('some data'));
  s2.feed_eof();
  assert.equal(loop.run_until_complete(s2.readline()), b('some data'));
  assert.equal(loop.run_until_complete(s2.readline()), b(''));
  const s3 = new StreamReader(undefined, { loop });
  s3.feed_eof();
  assert.equal(loop.run_until_complete(s3.readline()), b(''));
}));

test('readline raises the exception set', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  s.feed_data(b('line\n'));
  assert.equal(loop.run_until_complete(s.readline()), b('line\n'));
  s.set_exception(new RangeError());
  raises(loop, s.readline(), RangeError);
}));

test('readexactly(0) is empty; a negative n is a RangeError', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  s.feed_data(DATA);
  assert.equal(loop.run_until_complete(s.readexactly(0)), b(''));
  assert.is(buffered(s), DATA.length);
  raises(loop, s.readexactly(-1), RangeError);
  raises(loop, s.readexactly(1.5), TypeError);
  assert.is(buffered(s), DATA.length);
}));

test('readexactly waits for enough data', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  const t = new Task(s.readexactly(2 * DATA.length), { loop });
  loop.call_soon(() => {
    s.feed_data(DATA);
    s.feed_data(DATA);
    s.feed_data(DATA);
  });
  assert.equal(loop.run_until_complete(t), Buffer.concat([DATA, DATA]));
  assert.is(buffered(s), DATA.length);
}));

test('readexactly at EOF raises IncompleteReadError with partial and expected', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  const t = new Task(s.readexactly(2 * DATA.length), { loop });
  loop.call_soon(() => {
    s.feed_data(DATA);
    s.feed_eof();
  });
  const e = raises(loop, t, IncompleteReadError);
  assert.equal(e.partial, DATA);
  assert.is(e.expected, 2 * DATA.length);
  assert.is(buffered(s), 0);
}));

test('readexactly raises the exception set', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  s.feed_data(b('line\n'));
  assert.equal(loop.run_until_complete(s.readexactly(2)), b('li'));
  s.set_exception(new RangeError());
  raises(loop, s.readexactly(2), RangeError);
}));

test('exception(); set_exception wakes the waiting reader', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  assert.is(s.exception(), null);
  const exc = new RangeError('x');
  s.set_exception(exc);
  assert.is(s.exception(), exc);
  const s2 = new StreamReader(undefined, { loop });
  const t1 = new Task(s2.readline(), { loop });
  const t2 = new Task((function* () {
    s2.set_exception(new RangeError('late'));
  })(), { loop });
  loop.run_until_complete(wait<unknown>([t1, t2]));
  assert.throws(() => t1.result(), (e: Error) => e instanceof RangeError);
}));

// ---- readuntil ----

test('readuntil finds a multi-byte separator split across chunks', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  const t = new Task(s.readuntil(b('\r\n\r\n')), { loop });
  loop.call_soon(() => {
    s.feed_data(b('GET / HTTP/1.0\r\n\r'));
    loop.call_soon(() => s.feed_data(b('\nbody')));
  });
  assert.equal(loop.run_until_complete(t), b('GET / HTTP/1.0\r\n\r\n'));
  assert.equal(loop.run_until_complete(s.read(100)), b('body'));
}));

test('readuntil past the limit: LimitOverrunError with consumed, data kept', with_loop((loop) => {
  const s = new StreamReader(5, { loop });
  s.feed_data(b('1234567'));
  const e = raises(loop, s.readuntil(b('!')), LimitOverrunError);
  assert.is(e.consumed, 7);
  assert.is(buffered(s), 7);
  s.feed_data(b('!'));
  const e2 = raises(loop, s.readuntil(b('!')), LimitOverrunError);
  assert.is(e2.consumed, 7);
  assert.match(e2.message, /found/);
}));

test('readuntil at EOF: IncompleteReadError with the rest', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  s.feed_data(b('no separator'));
  s.feed_eof();
  const e = raises(loop, s.readuntil(b('|')), IncompleteReadError);
  assert.equal(e.partial, b('no separator'));
  assert.is(e.expected, null);
  assert.ok(s.at_eof());
}));

test('many 1-byte chunks: readuntil and readexactly stay linear', with_loop((loop) => {
  const s = new StreamReader(1 << 20, { loop });
  const n = 200_000;
  const one = b('x');
  const t0 = Date.now();
  const t = new Task(s.readuntil(b('\n')), { loop });
  loop.call_soon(() => {
    for (let i = 0; i < n; i++) s.feed_data(one);
    s.feed_data(b('\n'));
  });
  assert.is(loop.run_until_complete(t).length, n + 1);
  for (let i = 0; i < n; i++) s.feed_data(one);
  for (let i = 0; i < n / 100; i++) loop.run_until_complete(s.readexactly(100));
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
}));

// ---- bad input ----

test('bad input: clear errors', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  raises(loop, s.read(-2), RangeError);
  raises(loop, s.read(Number.NaN), TypeError);
  assert.throws(() => s.feed_data('text' as unknown as Buffer), (e: Error) => e instanceof TypeError && /encode/.test(e.message));
  raises(loop, s.readuntil(b('')), RangeError);
  raises(loop, s.readuntil('\n' as unknown as Buffer), TypeError);
  assert.throws(() => new StreamReader(0, { loop }), (e: Error) => e instanceof RangeError);
  s.feed_eof();
  assert.throws(() => s.feed_data(b('late')), (e: Error) => e instanceof RuntimeError);
}));

test('two coroutines waiting on one reader: RuntimeError for the second', with_loop((loop) => {
  const s = new StreamReader(undefined, { loop });
  const t1 = new Task(s.read(1), { loop });
  const t2 = new Task(s.read(1), { loop });
  loop.run_until_complete(sleep(0, undefined, { loop }));
  loop.run_until_complete(sleep(0, undefined, { loop }));
  assert.ok(t2.done());
  assert.throws(() => t2.result(), (e: Error) => e instanceof RuntimeError && /already waiting/.test(e.message));
  s.feed_data(b('z'));
  assert.equal(loop.run_until_complete(t1), b('z'));
}));

// ---- back-pressure ----

class StubTransport {
  paused = 0;
  resumed = 0;
  pause_reading(): void {
    this.paused++;
  }
  resume_reading(): void {
    this.resumed++;
  }
}

test('back-pressure: pause above 2×limit, resume at the limit', with_loop((loop) => {
  const s = new StreamReader(10, { loop });
  const tr = new StubTransport();
  s.set_transport(tr);
  s.feed_data(Buffer.alloc(20));
  assert.is(tr.paused, 0, 'exactly 2×limit does not pause');
  s.feed_data(Buffer.alloc(1));
  assert.is(tr.paused, 1);
  s.feed_data(Buffer.alloc(5));
  assert.is(tr.paused, 1, 'paused once');
  loop.run_until_complete(s.read(10)); // 16 left: above the limit
  assert.is(tr.resumed, 0);
  loop.run_until_complete(s.read(6)); // 10 left
  assert.is(tr.resumed, 1);
  assert.throws(() => s.set_transport(tr), (e: Error) => e instanceof RuntimeError);
}));

test('back-pressure: a read needing more than is buffered resumes the paused transport', with_loop((loop) => {
  const s = new StreamReader(4, { loop });
  const tr = new StubTransport();
  s.set_transport(tr);
  s.feed_data(Buffer.alloc(9));
  assert.is(tr.paused, 1);
  const t = new Task(s.readexactly(20), { loop });
  loop.run_until_complete(sleep(0, undefined, { loop }));
  assert.is(tr.resumed, 1, 'otherwise readexactly would wait forever');
  s.feed_data(Buffer.alloc(11));
  assert.is(loop.run_until_complete(t).length, 20);
}));

test('drain: waits while writing is paused; resume_writing or the loss ends the wait', with_loop((loop) => {
  const proto = new FlowControlProtocol({ loop });
  const reader = new StreamReader(undefined, { loop });
  const w = new Writer({} as Transport, proto, reader, loop);
  loop.run_until_complete(w.drain()); // not paused: at once
  proto.pause_writing();
  const t = new Task(w.drain(), { loop });
  const t_other = new Task(w.drain(), { loop });
  loop.run_until_complete(sleep(0, undefined, { loop }));
  assert.not.ok(t.done());
  proto.resume_writing();
  loop.run_until_complete(t);
  loop.run_until_complete(t_other); // every waiter wakes
  proto.pause_writing();
  const t2 = new Task(w.drain(), { loop });
  loop.run_until_complete(sleep(0, undefined, { loop }));
  const exc = new ConnectionResetError(null, 'peer went away');
  proto.connection_lost(exc);
  assert.is(raises(loop, t2, ConnectionResetError), exc);
  assert.is(raises(loop, w.drain(), ConnectionResetError), exc, 'and every drain() after');
  // A clean loss: drain() says the connection is gone.
  const p2 = new FlowControlProtocol({ loop });
  p2.connection_lost(null);
  const e = raises(loop, new Writer({} as Transport, p2, null, loop).drain(), ConnectionResetError);
  assert.match(e.message, /Connection lost/);
  // The reader's exception comes first.
  reader.set_exception(new RangeError('reader failed'));
  raises(loop, w.drain(), RangeError);
}));

// ---- over real sockets ----

function port_of(server: Server): number {
  return (server.sockets![0]!.getsockname() as [string, number])[1];
}

function* echo_client(reader: StreamReader, writer: StreamWriter): Coroutine<void> {
  for (;;) {
    const line = yield* reader.readline();
    if (line.length === 0) break;
    writer.write(Buffer.concat([b('Re: '), line]));
    yield* writer.drain();
  }
  writer.close();
}

test('echo: start_server with a coroutine callback, open_connection, EOF, wait_closed', with_loop((loop) => {
  const server = loop.run_until_complete(start_server(echo_client, '127.0.0.1', 0, { loop }));
  const got = loop.run_until_complete((function* () {
    const [reader, writer] = yield* open_connection('127.0.0.1', port_of(server)); // loop: the running one
    assert.ok(writer.get_extra_info('peername'));
    assert.ok(writer.can_write_eof());
    writer.write(b('hello\n'));
    writer.writelines([b('wor'), b('ld\n')]);
    const lines = [yield* reader.readline(), yield* reader.readline()];
    writer.write_eof();
    lines.push(yield* reader.read());
    assert.ok(reader.at_eof());
    writer.close();
    return lines.map(String);
  })());
  assert.equal(got, ['Re: hello\n', 'Re: world\n', '']);
  server.close();
  loop.run_until_complete(server.wait_closed());
}));

test('a plain-function callback that starts its own task', with_loop((loop) => {
  const seen: string[] = [];
  const server = loop.run_until_complete(start_server((reader, writer) => {
    seen.push('cb');
    loop.create_task(echo_client(reader, writer));
  }, '127.0.0.1', 0, { loop }));
  const got = loop.run_until_complete((function* () {
    const [reader, writer] = yield* open_connection('127.0.0.1', port_of(server), { loop });
    writer.write(b('x\n'));
    const line = yield* reader.readline();
    writer.close();
    return String(line);
  })());
  assert.is(got, 'Re: x\n');
  assert.equal(seen, ['cb']);
  server.close();
  loop.run_until_complete(server.wait_closed());
}));

test('drain waits for a slow reader, and every byte arrives', with_loop((loop) => {
  const total = 8 * 1024 * 1024;
  const server = loop.run_until_complete(start_server(function* (reader, writer) {
    let n = 0;
    for (;;) {
      const chunk = yield* reader.read(64 * 1024);
      if (chunk.length === 0) break;
      n += chunk.length;
      yield* sleep(0.001); // slow
    }
    writer.write(b(`${n}\n`));
    writer.close();
  }, '127.0.0.1', 0, { loop }));
  const [got, waited] = loop.run_until_complete((function* () {
    const [reader, writer] = yield* open_connection('127.0.0.1', port_of(server), { loop });
    writer.transport.set_write_buffer_limits(64 * 1024);
    const block = Buffer.alloc(1024 * 1024, 1);
    let waited = 0;
    for (let sent = 0; sent < total; sent += block.length) {
      writer.write(block);
      if (writer.transport.get_write_buffer_size() > 64 * 1024) waited++;
      yield* writer.drain();
      assert.ok(writer.transport.get_write_buffer_size() <= 64 * 1024);
    }
    writer.write_eof();
    const line = yield* reader.readline();
    writer.close();
    return [Number(String(line)), waited];
  })());
  assert.is(got, total);
  assert.ok(waited > 0, 'the writer had to wait at least once');
  server.close();
  loop.run_until_complete(server.wait_closed());
}));

test('Unix sockets: start_unix_server and open_unix_connection', with_loop((loop) => {
  const dir = mkdtempSync(join(tmpdir(), 'tulip-streams-'));
  try {
    const path = join(dir, 'sock');
    const server = loop.run_until_complete(start_unix_server(echo_client, path, { loop }));
    const got = loop.run_until_complete((function* () {
      const [reader, writer] = yield* open_unix_connection(path, { loop });
      writer.write(b('unix\n'));
      const line = yield* reader.readline();
      writer.close();
      return String(line);
    })());
    assert.is(got, 'Re: unix\n');
    server.close();
    loop.run_until_complete(server.wait_closed());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}));

test('many clients at once', with_loop((loop) => {
  const server = loop.run_until_complete(start_server(echo_client, '127.0.0.1', 0, { loop }));
  const port = port_of(server);
  function* client(i: number): Coroutine<string> {
    const [reader, writer] = yield* open_connection('127.0.0.1', port, { loop });
    let last = '';
    for (let k = 0; k < 5; k++) {
      writer.write(b(`${i}.${k}\n`));
      last = String(yield* reader.readline());
    }
    writer.close();
    return last;
  }
  const results = loop.run_until_complete(gather(...Array.from({ length: 100 }, (_, i) => client(i))));
  assert.equal(results, Array.from({ length: 100 }, (_, i) => `Re: ${i}.4\n`));
  server.close();
  loop.run_until_complete(server.wait_closed());
}));

test('errors: refused connection, bad callback, a reset seen by the reader and by drain', with_loop((loop) => {
  // A port nobody listens on: bind one, then close it.
  const probe = new Socket();
  probe.bind(['127.0.0.1', 0]);
  const free = (probe.getsockname() as [string, number])[1];
  probe.close();
  raises(loop, open_connection('127.0.0.1', free, { loop }), ConnectionRefusedError);
  raises(loop, start_server(null as unknown as () => void, '127.0.0.1', 0, { loop }), TypeError);

  // The server aborts each connection: the client's reader and drain() see the loss.
  const server = loop.run_until_complete(start_server(function* (reader, writer) {
    yield* reader.readexactly(1);
    writer.transport.abort();
  }, '127.0.0.1', 0, { loop }));
  const outcome = loop.run_until_complete((function* () {
    const [reader, writer] = yield* open_connection('127.0.0.1', port_of(server), { loop });
    writer.write(b('!'));
    const rest = yield* reader.read(); // EOF, or a reset
    let drain_error: unknown = null;
    try {
      yield* sleep(0.05, undefined, { loop });
      for (let i = 0; i < 100; i++) {
        writer.write(Buffer.alloc(64 * 1024));
        yield* writer.drain();
        yield* sleep(0.001, undefined, { loop });
      }
    } catch (e) {
      drain_error = e;
    }
    writer.close();
    return [rest.length, drain_error] as const;
  })());
  assert.is(outcome[0], 0);
  assert.instance(outcome[1], Error, 'drain() raises once the connection is gone');
  server.close();
  loop.run_until_complete(server.wait_closed());
}));

/** A server context with the test certificate, and a client context that trusts the test CA. */
function tls_contexts(certs: ReturnType<typeof make_certs>): [SSLContext, SSLContext] {
  const server_ctx = new SSLContext(PROTOCOL_TLS_SERVER);
  server_ctx.load_cert_chain(certs.server_cert, certs.server_key);
  return [server_ctx, create_default_context(undefined, { cafile: certs.ca })];
}

test('TLS: ssl options pass through open_connection and start_server', with_loop((loop) => {
  const certs = make_certs();
  try {
    const [server_ctx, client_ctx] = tls_contexts(certs);
    const server = loop.run_until_complete(start_server(echo_client, '127.0.0.1', 0, { loop, ssl: server_ctx }));
    const got = loop.run_until_complete((function* () {
      const [reader, writer] = yield* open_connection('127.0.0.1', port_of(server), { loop, ssl: client_ctx, server_hostname: 'localhost' });
      assert.ok(writer.get_extra_info('ssl_object'));
      writer.write(b('secret\n'));
      const line = yield* reader.readline();
      writer.close();
      return String(line);
    })());
    assert.is(got, 'Re: secret\n');
    server.close();
    loop.run_until_complete(server.wait_closed());
  } finally {
    certs.cleanup();
  }
}));

test('start_tls: a STARTTLS line, then both writers upgrade and the streams go on over TLS', with_loop((loop) => {
  const certs = make_certs();
  try {
    const [server_ctx, client_ctx] = tls_contexts(certs);
    let server_peer_tls: unknown = null;
    const server = loop.run_until_complete(start_server(function* (reader, writer) {
      assert.is(String(yield* reader.readline()), 'STARTTLS\n');
      writer.write(b('OK, go ahead\n'));
      yield* writer.start_tls(server_ctx);
      server_peer_tls = writer.get_extra_info('ssl_object');
      const line = yield* reader.readline();
      writer.write(b(`over TLS: ${String(line).toUpperCase()}`));
      yield* writer.drain();
      writer.close();
    }, '127.0.0.1', 0, { loop }));
    const got = loop.run_until_complete((function* () {
      const [reader, writer] = yield* open_connection('127.0.0.1', port_of(server), { loop });
      const plain = writer.transport;
      assert.is(writer.get_extra_info('ssl_object'), null, 'plain to begin with');
      writer.write(b('STARTTLS\n'));
      assert.is(String(yield* reader.readline()), 'OK, go ahead\n');
      yield* writer.start_tls(client_ctx, { server_hostname: 'localhost' });
      assert.ok(writer.transport !== plain, 'the writer now writes through TLS');
      assert.ok(writer.get_extra_info('peercert'));
      writer.write(b('hello\n'));
      const line = String(yield* reader.readline());
      assert.is(String(yield* reader.read()), '', 'then the server closed (close_notify)');
      writer.close();
      return line;
    })());
    assert.is(got, 'over TLS: HELLO\n');
    assert.ok(server_peer_tls, 'the server writer went through TLS too');
    server.close();
    loop.run_until_complete(server.wait_closed());
  } finally {
    certs.cleanup();
  }
}));

test.run();
