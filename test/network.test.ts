// The network half over real sockets on 127.0.0.1 (ephemeral ports), on every selector backend: stream
// and datagram transports, the high-level coroutines, and peers that are not tulip-ts (python3, Node net).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  ConnectionRefusedError, DatagramProtocol, Future, OSError, Protocol, Socket, AF_INET, AF_INET6, IPPROTO_TCP, SOCK_DGRAM, SOCK_STREAM, SHUT_WR, SOL_SOCKET, SO_LINGER, TCP_NODELAY, has_ipv6,
  gather, type AbstractEventLoop, type Coroutine, type DatagramTransport, type Transport,
} from '../src/index.js';
import { backends, open_fds } from './support/backends.js';

/** Echoes everything; records what it saw. */
class Echo extends Protocol {
  transport!: Transport;
  received = 0;
  eof = false;
  lost: Error | null | undefined = undefined;
  constructor(private readonly on_lost?: () => void) {
    super();
  }
  override connection_made(t: Transport): void {
    this.transport = t;
  }
  override data_received(data: Buffer): void {
    this.received += data.length;
    this.transport.write(data);
  }
  override eof_received(): boolean {
    this.eof = true;
    return false;
  }
  override connection_lost(exc: Error | null): void {
    this.lost = exc;
    this.on_lost?.();
  }
}

/** Collects what arrives; completes `done` at connection_lost with all the bytes. */
class Collector extends Protocol {
  transport!: Transport;
  chunks: Buffer[] = [];
  eof = false;
  done: Future<Buffer>;
  constructor(loop: AbstractEventLoop, private readonly keep_open_on_eof = false) {
    super();
    this.done = new Future<Buffer>({ loop });
  }
  override connection_made(t: Transport): void {
    this.transport = t;
  }
  override data_received(data: Buffer): void {
    this.chunks.push(data);
  }
  override eof_received(): boolean {
    this.eof = true;
    return this.keep_open_on_eof;
  }
  override connection_lost(exc: Error | null): void {
    if (exc) this.done.set_exception(exc);
    else this.done.set_result(Buffer.concat(this.chunks));
  }
}

function port_of(sock: Socket): number {
  return (sock.getsockname() as [string, number])[1];
}

function pattern(n: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

for (const { name, make_loop } of backends) {
  test(`${name}: echo through create_connection and start_serving, then a clean close`, () => {
    const loop = make_loop();
    try {
      const before = open_fds();
      const [server] = loop.run_until_complete(loop.start_serving(() => new Echo(), '127.0.0.1', 0));
      const [transport, client] = loop.run_until_complete(loop.create_connection(() => new Collector(loop), '127.0.0.1', port_of(server!)));
      assert.ok(transport.get_extra_info('peername'));
      assert.equal(transport.get_extra_info('peername'), ['127.0.0.1', port_of(server!)]);
      assert.ok(transport.get_extra_info('socket') instanceof Socket);
      transport.write(Buffer.from('hello '));
      transport.writelines([Buffer.from('wor'), Buffer.from('ld')]);
      transport.write_eof();
      assert.is(loop.run_until_complete(client.done, 10).toString(), 'hello world');
      assert.ok(client.eof);
      loop.stop_serving(server!);
      loop.run_until_complete((function* () { yield; yield; })());
      assert.equal([...open_fds()].filter((fd) => !before.has(fd)), [], 'no fd leaked');
    } finally {
      loop.close();
    }
  });

  test(`${name}: 200 concurrent connections echo byte-exact`, () => {
    const loop = make_loop();
    try {
      const [server] = loop.run_until_complete(loop.start_serving(() => new Echo(), '127.0.0.1', 0, { backlog: 256 }));
      const port = port_of(server!);
      function* one(i: number): Coroutine<boolean> {
        const [t, p] = yield* loop.create_connection(() => new Collector(loop), '127.0.0.1', port);
        const data = pattern(1000 + i * 37, i);
        t.write(data);
        t.write_eof();
        const got = yield* p.done;
        return got.equals(data);
      }
      const results = loop.run_until_complete(gather(...Array.from({ length: 200 }, (_, i) => one(i)), { loop }), 30);
      assert.is(results.filter(Boolean).length, 200);
      loop.stop_serving(server!);
    } finally {
      loop.close();
    }
  });
}

test('connection refused raises ConnectionRefusedError with its errno', () => {
  const loop = backends[0]!.make_loop();
  try {
    const s = new Socket(AF_INET, SOCK_STREAM);
    s.bind(['127.0.0.1', 0]);
    const port = port_of(s);
    s.close(); // nothing listens there now
    try {
      loop.run_until_complete(loop.create_connection(() => new Protocol(), '127.0.0.1', port));
      assert.unreachable('should have failed');
    } catch (e) {
      assert.ok(e instanceof ConnectionRefusedError, String(e));
      assert.is((e as OSError).code, 'ECONNREFUSED');
    }
  } finally {
    loop.close();
  }
});

test('half-close: the server keeps writing after the client sent EOF', () => {
  const loop = backends[0]!.make_loop();
  try {
    class Late extends Protocol {
      t!: Transport;
      got: Buffer[] = [];
      override connection_made(t: Transport): void {
        this.t = t;
      }
      override data_received(d: Buffer): void {
        this.got.push(d);
      }
      override eof_received(): boolean {
        // The reading side is done; answer after it, then close.
        this.t.write(Buffer.from(`got ${Buffer.concat(this.got).toString()}`));
        this.t.close();
        return true;
      }
    }
    const [server] = loop.run_until_complete(loop.start_serving(() => new Late(), '127.0.0.1', 0));
    const [t, p] = loop.run_until_complete(loop.create_connection(() => new Collector(loop), '127.0.0.1', port_of(server!)));
    t.write(Buffer.from('question'));
    t.write_eof();
    assert.throws(() => t.write(Buffer.from('more')), /after write_eof/);
    assert.is(loop.run_until_complete(p.done, 10).toString(), 'got question');
    loop.stop_serving(server!);
  } finally {
    loop.close();
  }
});

test('abort() drops the buffer and calls connection_lost(null); the peer sees the end', () => {
  const loop = backends[0]!.make_loop();
  try {
    const server_side = new Future<Collector>({ loop });
    const [server] = loop.run_until_complete(loop.start_serving(() => {
      const c = new Collector(loop);
      server_side.set_result(c);
      return c;
    }, '127.0.0.1', 0));
    const lost = new Future<Error | null>({ loop });
    class Aborter extends Protocol {
      override connection_made(t: Transport): void {
        t.set_write_buffer_limits(1 << 30);
        t.write(pattern(8 << 20)); // far more than the socket takes at once: most is buffered
        t.abort();
      }
      override connection_lost(exc: Error | null): void {
        lost.set_result(exc);
      }
    }
    loop.run_until_complete(loop.create_connection(() => new Aborter(), '127.0.0.1', port_of(server!)));
    assert.is(loop.run_until_complete(lost, 10), null);
    const peer = loop.run_until_complete(server_side, 10);
    let ended = true;
    try {
      const got = loop.run_until_complete(peer.done, 10);
      assert.ok(got.length < 8 << 20, 'the buffered rest was dropped');
    } catch (e) {
      ended = e instanceof OSError; // a reset is a fine way to end too
    }
    assert.ok(ended);
    loop.stop_serving(server!);
  } finally {
    loop.close();
  }
});

test('flow control: a paused reader makes the writer pause instead of buffering without bound', () => {
  const loop = backends[0]!.make_loop();
  try {
    const reader = new Future<Collector>({ loop });
    class PausedReader extends Collector {
      override connection_made(t: Transport): void {
        super.connection_made(t);
        t.pause();
        reader.set_result(this);
      }
    }
    const [server] = loop.run_until_complete(loop.start_serving(() => new PausedReader(loop), '127.0.0.1', 0));
    const total = 32 << 20;
    const chunk = pattern(64 << 10);
    let max_buffered = 0, pauses = 0;
    const finished = new Future<void>({ loop });
    class Writer extends Protocol {
      t!: Transport;
      sent = 0;
      paused = false;
      override connection_made(t: Transport): void {
        this.t = t;
        this.pump();
      }
      pump(): void {
        while (!this.paused && this.sent < total) {
          this.t.write(chunk);
          this.sent += chunk.length;
          max_buffered = Math.max(max_buffered, this.t.get_write_buffer_size());
        }
        if (this.sent >= total && !finished.done()) {
          this.t.close();
          finished.set_result();
        }
      }
      override pause_writing(): void {
        this.paused = true;
        pauses++;
      }
      override resume_writing(): void {
        this.paused = false;
        loop.call_soon(() => this.pump());
      }
    }
    loop.run_until_complete(loop.create_connection(() => new Writer(), '127.0.0.1', port_of(server!)));
    const r = loop.run_until_complete(reader, 10);
    // Let the writer fill every buffer while the reader is paused.
    loop.run_until_complete((function* () { for (let i = 0; i < 50; i++) yield; })());
    assert.ok(pauses >= 1, 'pause_writing was called');
    r.transport.resume();
    const got = loop.run_until_complete(r.done, 60);
    assert.is(got.length, total);
    assert.ok(got.subarray(0, chunk.length).equals(chunk));
    assert.ok(max_buffered <= 64 * 1024 + chunk.length, `write buffer stayed bounded (max ${max_buffered})`);
    loop.run_until_complete(finished);
    loop.stop_serving(server!);
  } finally {
    loop.close();
  }
});

test('write() of a string is a TypeError that says to encode, and nothing is sent', () => {
  const loop = backends[0]!.make_loop();
  try {
    const [server] = loop.run_until_complete(loop.start_serving(() => new Echo(), '127.0.0.1', 0));
    const [t, p] = loop.run_until_complete(loop.create_connection(() => new Collector(loop), '127.0.0.1', port_of(server!)));
    assert.throws(() => t.write('text' as never), /encode it first/);
    t.write(Buffer.from('ok'));
    t.write_eof();
    assert.is(loop.run_until_complete(p.done, 10).toString(), 'ok');
    loop.stop_serving(server!);
  } finally {
    loop.close();
  }
});

test('UDP: echo through create_datagram_endpoint', () => {
  const loop = backends[0]!.make_loop();
  try {
    class UdpEcho extends DatagramProtocol {
      t!: DatagramTransport;
      override connection_made(t: DatagramTransport): void {
        this.t = t;
      }
      override datagram_received(data: Buffer, addr: unknown): void {
        this.t.sendto(Buffer.concat([Buffer.from('echo:'), data]), addr as [string, number]);
      }
    }
    const [st] = loop.run_until_complete(loop.create_datagram_endpoint(() => new UdpEcho(), { local_addr: ['127.0.0.1', 0] }));
    const addr = st.get_extra_info('sockname') as [string, number];
    const answers = new Future<string[]>({ loop });
    class Client extends DatagramProtocol {
      got: string[] = [];
      override connection_made(t: DatagramTransport): void {
        for (const m of ['a', 'b', 'c']) t.sendto(Buffer.from(m));
      }
      override datagram_received(data: Buffer): void {
        this.got.push(data.toString());
        if (this.got.length === 3) answers.set_result(this.got);
      }
    }
    const [ct] = loop.run_until_complete(loop.create_datagram_endpoint(() => new Client(), { remote_addr: addr }));
    assert.equal(loop.run_until_complete(answers, 10).sort(), ['echo:a', 'echo:b', 'echo:c']);
    ct.close();
    st.close();
    loop.run_until_complete((function* () { yield; yield; })());
  } finally {
    loop.close();
  }
});

test('UDP: a datagram to a closed port reports connection_refused', () => {
  const loop = backends[0]!.make_loop();
  try {
    const s = new Socket(AF_INET, SOCK_DGRAM);
    s.bind(['127.0.0.1', 0]);
    const port = port_of(s);
    s.close();
    const refused = new Future<Error>({ loop });
    class P extends DatagramProtocol {
      override connection_made(t: DatagramTransport): void {
        t.sendto(Buffer.from('anyone?'));
      }
      override connection_refused(exc: Error): void {
        if (!refused.done()) refused.set_result(exc);
      }
    }
    const [t] = loop.run_until_complete(loop.create_datagram_endpoint(() => new P(), { remote_addr: ['127.0.0.1', port] }));
    assert.ok(loop.run_until_complete(refused, 10) instanceof ConnectionRefusedError);
    t.close();
    loop.run_until_complete((function* () { yield; })());
  } finally {
    loop.close();
  }
});

test('create_server: Server.close() and wait_closed() after the last connection ends', () => {
  const loop = backends[0]!.make_loop();
  try {
    const server = loop.run_until_complete(loop.create_server(() => new Echo(), '127.0.0.1', 0));
    const port = port_of(server.sockets![0]!);
    const [t, p] = loop.run_until_complete(loop.create_connection(() => new Collector(loop), '127.0.0.1', port));
    server.close();
    let closed = false;
    const waiter = loop.create_task((function* () {
      yield* server.wait_closed();
      closed = true;
    })());
    loop.run_until_complete((function* () { yield; yield; })());
    assert.not.ok(closed, 'a connection is still open');
    t.write(Buffer.from('bye'));
    t.write_eof();
    assert.is(loop.run_until_complete(p.done, 10).toString(), 'bye');
    loop.run_until_complete(waiter, 10);
    assert.ok(closed);
  } finally {
    loop.close();
  }
});

test('sock_* methods: accept, connect, sendall and recv as futures', () => {
  const loop = backends[0]!.make_loop();
  const listener = listening_socket();
  listener.setblocking(false);
  const client = new Socket(AF_INET, SOCK_STREAM);
  try {
    const received = loop.run_until_complete((function* (): Coroutine<string> {
      const accepting = loop.sock_accept(listener);
      yield* loop.sock_connect(client, ['127.0.0.1', port_of(listener)]);
      const [conn, peer] = yield* accepting;
      try {
        assert.equal(peer, client.getsockname());
        yield* loop.sock_sendall(client, pattern(3 << 20)); // more than one send takes
        client.shutdown(SHUT_WR);
        let total = 0;
        for (;;) {
          const chunk = yield* loop.sock_recv(conn, 65536);
          if (chunk.length === 0) break;
          total += chunk.length;
        }
        return `got ${total}`;
      } finally {
        conn.close();
      }
    })(), 30);
    assert.is(received, `got ${3 << 20}`);
  } finally {
    client.close();
    listener.close();
    loop.close();
  }
});

test('create_connection over an existing sock, and from a local_addr', () => {
  const loop = backends[0]!.make_loop();
  try {
    const [server] = loop.run_until_complete(loop.start_serving(() => new Echo(), '127.0.0.1', 0));
    const port = port_of(server!);
    const sock = new Socket(AF_INET, SOCK_STREAM);
    loop.run_until_complete(loop.sock_connect(sock, ['127.0.0.1', port]));
    const [t1, p1] = loop.run_until_complete(loop.create_connection(() => new Collector(loop), undefined, undefined, { sock }));
    assert.is(t1.get_extra_info('socket'), sock);
    t1.write(Buffer.from('via sock'));
    t1.write_eof();
    assert.is(loop.run_until_complete(p1.done, 10).toString(), 'via sock');
    const [t2, p2] = loop.run_until_complete(loop.create_connection(() => new Collector(loop), '127.0.0.1', port, { local_addr: ['127.0.0.1', 0] }));
    assert.is((t2.get_extra_info('sockname') as [string, number])[0], '127.0.0.1');
    // TCP_NODELAY is on, as asyncio sets it.
    assert.is((t2.get_extra_info('socket') as Socket).getsockopt(IPPROTO_TCP, TCP_NODELAY), 1);
    t2.close();
    loop.run_until_complete(p2.done, 10);
    assert.throws(() => loop.run_until_complete(loop.create_connection(() => new Protocol(), '127.0.0.1', port, { sock: new Socket() })), /can not be specified at the same time/);
    assert.throws(() => loop.run_until_complete(loop.create_connection(() => new Protocol())), /no sock specified/);
    loop.stop_serving(server!);
  } finally {
    loop.close();
  }
});

test('start_serving with host null listens on IPv4 and IPv6 (when the machine has IPv6)', () => {
  const loop = backends[0]!.make_loop();
  try {
    const sockets = loop.run_until_complete(loop.start_serving(() => new Echo(), null, 0));
    try {
      const families = sockets.map((s) => s.family).sort();
      assert.ok(families.includes(AF_INET));
      if (has_ipv6) assert.ok(families.includes(AF_INET6), `families: ${families}`);
      for (const s of sockets) {
        const [host] = s.getsockname() as [string, number];
        assert.ok(host === '0.0.0.0' || host === '::', host);
      }
    } finally {
      for (const s of sockets) loop.stop_serving(s);
    }
  } finally {
    loop.close();
  }
});

test('a write to a peer that went away ends in connection_lost(exc)', () => {
  const loop = backends[0]!.make_loop();
  try {
    const [server] = loop.run_until_complete(loop.start_serving(() => {
      class Resetter extends Protocol {
        override connection_made(t: Transport): void {
          // SO_LINGER 0 makes close() send a reset instead of a FIN.
          (t.get_extra_info('socket') as Socket).setsockopt(SOL_SOCKET, SO_LINGER, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
          t.abort();
        }
      }
      return new Resetter();
    }, '127.0.0.1', 0));
    const lost = new Future<Error | null>({ loop });
    class Writer extends Protocol {
      t!: Transport;
      override connection_made(t: Transport): void {
        this.t = t;
        const tick = (): void => {
          if (lost.done()) return;
          t.write(pattern(64 << 10));
          loop.call_later(0.001, tick);
        };
        tick();
      }
      override connection_lost(exc: Error | null): void {
        lost.set_result(exc);
      }
    }
    loop.run_until_complete(loop.create_connection(() => new Writer(), '127.0.0.1', port_of(server!)));
    const exc = loop.run_until_complete(lost, 10);
    assert.ok(exc instanceof OSError, String(exc));
    assert.ok(['ECONNRESET', 'EPIPE'].includes((exc as OSError).code!), String(exc));
    loop.stop_serving(server!);
  } finally {
    loop.close();
  }
});

// ---- Peers that are not tulip-ts, in child processes (spawn is synchronous; they talk over sockets) ----

function listening_socket(): Socket {
  const s = new Socket(AF_INET, SOCK_STREAM);
  s.bind(['127.0.0.1', 0]);
  s.listen(16);
  return s;
}

const PY_ECHO_SERVER = `
import socket, sys
srv = socket.socket(fileno=3)
conn, _ = srv.accept()
while True:
    data = conn.recv(65536)
    if not data: break
    conn.sendall(data)
conn.close()
`;

const NODE_ECHO_SERVER = `
const net = require('net');
const server = net.createServer((c) => { c.pipe(c); c.on('end', () => server.close()); });
server.listen({ fd: 3 });
`;

for (const [peer, argv] of [['python3', ['-c', PY_ECHO_SERVER]], [process.execPath, ['-e', NODE_ECHO_SERVER]]] as const) {
  test(`interop: tulip-ts client against a ${peer === 'python3' ? 'python3' : 'Node net'} echo server (1 MiB)`, async () => {
    const loop = backends[0]!.make_loop();
    const listener = listening_socket();
    const child = spawn(peer, [...argv], { stdio: ['ignore', 'inherit', 'inherit', listener.fileno()] });
    const exited = once(child, 'exit');
    try {
      const port = port_of(listener);
      const [t, p] = loop.run_until_complete(loop.create_connection(() => new Collector(loop), '127.0.0.1', port));
      const data = pattern(1 << 20, 7);
      t.write(data);
      t.write_eof();
      const got = loop.run_until_complete(p.done, 30);
      assert.is(got.length, data.length);
      assert.ok(got.equals(data));
    } finally {
      listener.close();
      loop.close();
    }
    const [code] = await exited;
    assert.is(code, 0);
  });
}

test('interop: a python3 client against a tulip-ts server', async () => {
  const loop = backends[0]!.make_loop();
  try {
    const done = new Future<Echo>({ loop });
    const [server] = loop.run_until_complete(loop.start_serving(() => {
      const e: Echo = new Echo(() => done.set_result(e));
      return e;
    }, '127.0.0.1', 0));
    const port = port_of(server!);
    const client = spawn('python3', ['-c', `
import socket
s = socket.create_connection(('127.0.0.1', ${port}))
msg = bytes(range(256)) * 1000
s.sendall(msg)
s.shutdown(socket.SHUT_WR)
got = b''
while True:
    d = s.recv(65536)
    if not d: break
    got += d
assert got == msg, (len(got), len(msg))
`], { stdio: ['ignore', 'inherit', 'inherit'] });
    const exited = once(client, 'exit');
    const echo = loop.run_until_complete(done, 30);
    assert.is(echo.received, 256_000);
    assert.ok(echo.eof);
    loop.stop_serving(server!);
    const [code] = await exited;
    assert.is(code, 0);
  } finally {
    loop.close();
  }
});

test.run();
