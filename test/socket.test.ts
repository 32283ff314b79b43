/**
 * socket.test.ts: src/socket.ts, the Python-like Socket, on real sockets (127.0.0.1, ::1 when present,
 * AF_UNIX pairs) with ephemeral ports.
 *
 * Every socket a test makes goes through track(); after each test all of them are closed and their fds
 * checked closed. No sleeps: a wait is either a blocking-mode call whose answer is already on its way
 * (loopback), or a binding.poll on the fd with a generous timeout that returns as soon as it can.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { binding } from '../src/binding.js';
import {
  BlockingIOError, BrokenPipeError, ConnectionRefusedError, OSError, errno, os_error,
} from '../src/errors.js';
import { gaierror } from '../coroutines/lookup.js';
import * as socket from '../src/socket.js';
import {
  AF_INET, AF_INET6, AF_UNIX, IPPROTO_TCP, MSG_PEEK, SHUT_WR, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET,
  SO_ERROR, SO_REUSEADDR, SO_LINGER, SO_TYPE, Socket, TCP_NODELAY, has_ipv6, socketpair,
  type InetAddress,
} from '../src/socket.js';

const WAIT_MS = 5000;
const C = binding.constants;

// ---- bookkeeping ----
const tracked: { sock: Socket; fd: number }[] = [];
const raw_fds = new Set<number>();
function track<T extends Socket>(s: T): T {
  tracked.push({ sock: s, fd: s.fileno() });
  return s;
}
test.after.each(() => {
  const fds = new Set<number>(raw_fds);
  for (const { sock, fd } of tracked) {
    sock.close();
    fds.add(fd);
  }
  for (const fd of raw_fds) binding.close(fd);
  tracked.length = 0;
  raw_fds.clear();
  for (const fd of fds) assert.not.ok(binding.fd_is_open(fd), `fd ${fd} still open`);
});

/** Waits (poll, no sleep) until fd has `events`; fails the test after WAIT_MS. */
function wait_for_fd(fd: number, events: number): number {
  const fds = new Int32Array([fd, events]);
  const out = new Int32Array(2);
  const n = binding.poll(fds, 1, out, WAIT_MS);
  assert.is(n, 1, `fd ${fd} not ready within ${WAIT_MS} ms`);
  return out[1]!;
}

function throws_os(fn: () => unknown, cls: abstract new (...a: never[]) => OSError, code: string): OSError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, cls);
    assert.is((e as OSError).code, code);
    return e as OSError;
  }
  assert.unreachable(`expected ${cls.name} ${code}`);
  throw new Error('unreachable');
}

/** A listening TCP socket on 127.0.0.1 and its port. */
function listener(family = AF_INET, host = '127.0.0.1'): [Socket, number] {
  const l = track(new Socket(family, SOCK_STREAM));
  l.bind([host, 0]);
  l.listen();
  return [l, (l.getsockname() as InetAddress)[1]];
}

/** A connected TCP pair [client, server side] over 127.0.0.1 (or ::1). */
function tcp_pair(family = AF_INET, host = '127.0.0.1'): [Socket, Socket, Socket] {
  const [l, port] = listener(family, host);
  const c = track(new Socket(family, SOCK_STREAM));
  const r = c.connect_ex([host, port]);
  assert.ok(r === 0 || r === errno.EINPROGRESS, `connect_ex → ${r}`);
  wait_for_fd(c.fileno(), C.POLLOUT);
  assert.is(c.getsockopt(SOL_SOCKET, SO_ERROR), 0);
  wait_for_fd(l.fileno(), C.POLLIN);
  const [s] = l.accept();
  track(s);
  return [c, s, l];
}

// ---- constants ----
test('constants have the platform values', () => {
  assert.is(socket.AF_INET, C.AF_INET);
  assert.is(socket.AF_INET6, C.AF_INET6);
  assert.is(socket.SOCK_STREAM, C.SOCK_STREAM);
  assert.is(socket.SO_REUSEPORT, C.SO_REUSEPORT);
  assert.is(socket.EAI_NONAME, C.EAI_NONAME);
  assert.is(socket.SOMAXCONN, C.SOMAXCONN);
  const names = [
    'AF_INET', 'AF_INET6', 'AF_UNIX', 'AF_UNSPEC', 'SOCK_STREAM', 'SOCK_DGRAM', 'SOCK_RAW', 'IPPROTO_IP',
    'IPPROTO_IPV6', 'IPPROTO_TCP', 'IPPROTO_UDP', 'SOL_SOCKET', 'SO_REUSEADDR', 'SO_ERROR', 'SO_KEEPALIVE',
    'SO_BROADCAST', 'SO_RCVBUF', 'SO_SNDBUF', 'SO_TYPE', 'SO_LINGER', 'TCP_NODELAY', 'IPV6_V6ONLY',
    'SOMAXCONN', 'AI_PASSIVE', 'AI_CANONNAME', 'AI_NUMERICHOST', 'AI_NUMERICSERV', 'AI_V4MAPPED', 'AI_ALL',
    'AI_ADDRCONFIG', 'NI_NUMERICHOST', 'NI_NUMERICSERV', 'NI_NAMEREQD', 'NI_DGRAM', 'NI_NOFQDN', 'NI_MAXHOST',
    'NI_MAXSERV', 'SHUT_RD', 'SHUT_WR', 'SHUT_RDWR', 'MSG_PEEK', 'MSG_DONTWAIT', 'MSG_OOB', 'MSG_WAITALL',
    'EAI_AGAIN', 'EAI_BADFLAGS', 'EAI_FAIL', 'EAI_FAMILY', 'EAI_MEMORY', 'EAI_NONAME', 'EAI_SERVICE',
    'EAI_SOCKTYPE', 'EAI_SYSTEM',
  ];
  const mod = socket as unknown as Record<string, unknown>;
  for (const n of names) {
    assert.type(mod[n], 'number', n);
    assert.is(mod[n], C[n], n);
  }
});

// ---- TCP ----
test('TCP: listen, connect_ex (EINPROGRESS), accept, send/recv, sendall, shutdown → EOF', () => {
  const [l, port] = listener();
  assert.not.ok(l.getblocking());
  assert.is(l.gettimeout(), 0);
  throws_os(() => l.accept(), BlockingIOError, 'EAGAIN');

  const c = track(new Socket());
  assert.is(c.family, AF_INET);
  assert.is(c.type, SOCK_STREAM);
  const r = c.connect_ex(['127.0.0.1', port]);
  assert.ok(r === errno.EINPROGRESS || r === 0, `connect_ex → ${r}`);
  wait_for_fd(c.fileno(), C.POLLOUT);
  assert.is(c.getsockopt(SOL_SOCKET, SO_ERROR), 0);

  wait_for_fd(l.fileno(), C.POLLIN);
  const [s, peer] = l.accept();
  track(s);
  assert.equal(peer, c.getsockname());
  assert.equal(s.getpeername(), c.getsockname());
  assert.equal(c.getpeername(), ['127.0.0.1', port]);
  assert.not.ok(s.getblocking(), 'accepted socket of a non-blocking listener is non-blocking');

  // Nothing to read yet: BlockingIOError.
  throws_os(() => s.recv(10), BlockingIOError, 'EAGAIN');

  assert.is(c.send(Buffer.from('hello')), 5);
  wait_for_fd(s.fileno(), C.POLLIN);
  const peek = s.recv(100, MSG_PEEK);
  assert.is(peek.toString(), 'hello');
  const got = s.recv(100);
  assert.instance(got, Buffer);
  assert.is(got.length, 5, 'exactly the bytes read');
  assert.is(got.toString(), 'hello');

  // sendall of more than one send takes, read back in blocking mode.
  // More than both kernel buffers hold, so that a non-blocking sendall must stop part way.
  const size = 2 * (c.getsockopt(SOL_SOCKET, socket.SO_SNDBUF) + s.getsockopt(SOL_SOCKET, socket.SO_RCVBUF)) + (1 << 20);
  const big = Buffer.alloc(size, 7);
  big[size - 1] = 9;
  // The sender stays non-blocking (sendall may stop with BlockingIOError after partial progress); the
  // receiver blocks, which is safe because a BlockingIOError means bytes are on their way to it.
  s.setblocking(true);
  const reader = Buffer.alloc(big.length);
  let partial = 0;
  let sent = 0;
  let received = 0;
  while (sent < big.length) {
    try {
      c.sendall(big.subarray(sent));
      sent = big.length;
    } catch (e) {
      assert.instance(e, BlockingIOError);
      const w = (e as BlockingIOError & { characters_written: number }).characters_written;
      assert.type(w, 'number');
      sent += w;
      partial++;
      received += s.recv_into(reader.subarray(received));
    }
  }
  while (received < big.length) received += s.recv_into(reader.subarray(received));
  assert.ok(reader.equals(big));
  assert.ok(partial > 0, 'sendall stopped with BlockingIOError at least once');

  // shutdown(SHUT_WR): the peer sees EOF as an empty Buffer.
  c.shutdown(SHUT_WR);
  const eof = s.recv(10);
  assert.is(eof.length, 0);
  // Writing after shutdown: BrokenPipeError (EPIPE), no SIGPIPE.
  throws_os(() => c.send(Buffer.from('x')), BrokenPipeError, 'EPIPE');
  s.setblocking(false);
  c.close();
  s.close();
  l.close();
  assert.is(c.fileno(), -1);
});

test('blocking mode: accept inherits it, recv waits for data, sendall sends all', () => {
  const [l, port] = listener();
  l.setblocking(true);
  assert.ok(l.getblocking());
  assert.is(l.gettimeout(), null);
  const c = track(new Socket());
  c.settimeout(null);
  c.connect(['127.0.0.1', port]); // blocking: completes or throws
  const [s] = l.accept();
  track(s);
  assert.ok(s.getblocking(), 'accepted socket of a blocking listener is blocking');
  c.sendall(Buffer.from('abc'));
  assert.is(s.recv(3).toString(), 'abc');
  c.settimeout(0);
  assert.not.ok(c.getblocking());
  assert.throws(() => c.settimeout(1.5), (e: unknown) => e instanceof RangeError && /only null .* and 0/.test((e as Error).message));
});

test('non-blocking connect() throws BlockingIOError EINPROGRESS or succeeds', () => {
  const [l, port] = listener();
  const c = track(new Socket());
  try {
    c.connect(['127.0.0.1', port]);
  } catch (e) {
    assert.instance(e, BlockingIOError);
    assert.is((e as OSError).errno, errno.EINPROGRESS);
    assert.is((e as OSError).code, 'EINPROGRESS');
  }
  wait_for_fd(c.fileno(), C.POLLOUT);
  assert.is(c.getsockopt(SOL_SOCKET, SO_ERROR), 0);
  l.close();
});

test('connection refused: SO_ERROR, second connect_ex, blocking connect → ConnectionRefusedError', () => {
  // A bound socket that is not listening answers a SYN with RST (kept bound: no race for the port).
  const b = track(new Socket());
  b.bind(['127.0.0.1', 0]);
  const port = (b.getsockname() as InetAddress)[1];

  const c1 = track(new Socket());
  let r = c1.connect_ex(['127.0.0.1', port]);
  assert.ok(r === errno.EINPROGRESS || r === errno.ECONNREFUSED, `connect_ex → ${r}`);
  if (r === errno.EINPROGRESS) {
    wait_for_fd(c1.fileno(), C.POLLOUT);
    r = c1.getsockopt(SOL_SOCKET, SO_ERROR);
  }
  assert.is(r, errno.ECONNREFUSED);
  assert.instance(os_error(r), ConnectionRefusedError);

  const c2 = track(new Socket());
  r = c2.connect_ex(['127.0.0.1', port]);
  if (r === errno.EINPROGRESS) {
    wait_for_fd(c2.fileno(), C.POLLOUT);
    r = c2.connect_ex(['127.0.0.1', port]); // the second call reports the outcome
  }
  assert.is(r, errno.ECONNREFUSED);

  const c3 = track(new Socket());
  c3.setblocking(true);
  const err = throws_os(() => c3.connect(['127.0.0.1', port]), ConnectionRefusedError, 'ECONNREFUSED');
  assert.is(err.errno, errno.ECONNREFUSED);
});

// ---- UDP ----
test('UDP: sendto/recvfrom, both sendto forms, recvfrom_into', () => {
  const a = track(new Socket(AF_INET, SOCK_DGRAM));
  const b = track(new Socket(AF_INET, SOCK_DGRAM));
  a.bind(['127.0.0.1', 0]);
  b.bind(['127.0.0.1', 0]);
  const baddr = b.getsockname() as InetAddress;
  throws_os(() => b.recvfrom(100), BlockingIOError, 'EAGAIN');
  assert.is(a.sendto(Buffer.from('ping'), baddr), 4);
  wait_for_fd(b.fileno(), C.POLLIN);
  const [data, from] = b.recvfrom(100);
  assert.is(data.toString(), 'ping');
  assert.is(data.length, 4);
  assert.equal(from, a.getsockname());
  assert.is(a.sendto(new Uint8Array([1, 2, 3]), 0, baddr), 3);
  wait_for_fd(b.fileno(), C.POLLIN);
  const into = Buffer.alloc(10);
  const [n, from2] = b.recvfrom_into(into);
  assert.is(n, 3);
  assert.equal([...into.subarray(0, 3)], [1, 2, 3]);
  assert.equal(from2, a.getsockname());
});

// ---- AF_UNIX ----
test('AF_UNIX socketpair: both directions, recv_into with nbytes', () => {
  const [x, y] = socketpair();
  track(x);
  track(y);
  assert.is(x.family, AF_UNIX);
  assert.is(x.type, SOCK_STREAM);
  x.sendall(Buffer.from('to y'));
  y.setblocking(true);
  assert.is(y.recv(100).toString(), 'to y');
  y.send(Buffer.from('to x!'));
  wait_for_fd(x.fileno(), C.POLLIN);
  const buf = Buffer.alloc(8);
  assert.is(x.recv_into(buf, 2), 2);
  assert.is(buf.subarray(0, 2).toString(), 'to');
  assert.is(x.recv_into(buf), 3);
  assert.is(buf.subarray(0, 3).toString(), ' x!');
  assert.throws(() => x.recv_into(buf, 9), RangeError);
  assert.throws(() => x.recv(-1), RangeError);
  assert.is(x.getsockname(), '');
  assert.is(x.toString(), `<Socket fd=${x.fileno()}, family=AF_UNIX, type=SOCK_STREAM, proto=0>`);
});

// ---- IPv6 ----
test('IPv6 on ::1 (when has_ipv6)', () => {
  if (!has_ipv6) {
    console.log('  (skipped: no IPv6 here)');
    return;
  }
  const [c, s] = tcp_pair(AF_INET6, '::1');
  const name = c.getsockname() as InetAddress;
  assert.is(name.length, 4);
  assert.is(name[0], '::1');
  c.send(Buffer.from('six'));
  s.setblocking(true);
  assert.is(s.recv(10).toString(), 'six');
});

// ---- names ----
test("connect resolves 'localhost' with getaddrinfo; mismatched family → gaierror", () => {
  const [l, port] = listener();
  const c = track(new Socket());
  const r = c.connect_ex(['localhost', port]);
  assert.ok(r === 0 || r === errno.EINPROGRESS, `connect_ex → ${r}`);
  wait_for_fd(c.fileno(), C.POLLOUT);
  assert.is(c.getsockopt(SOL_SOCKET, SO_ERROR), 0);
  assert.equal(c.getpeername(), ['127.0.0.1', port]);
  l.setblocking(true);
  track(l.accept()[0]);

  // An IPv6 literal on an AF_INET socket goes through getaddrinfo and fails there (as Python's gaierror).
  const d = track(new Socket());
  try {
    d.bind(['::1', 0]);
    assert.unreachable('bind should fail');
  } catch (e) {
    assert.instance(e, gaierror);
    assert.instance(e, OSError);
    assert.ok((e as OSError).code === 'EAI_ADDRFAMILY' || (e as OSError).code === 'EAI_FAMILY', String((e as OSError).code));
    assert.match((e as Error).message, '::1');
  }
  assert.throws(() => d.bind('/not/an/inet/address' as never), TypeError);
});

// ---- data arguments ----
test('string data is a TypeError saying to encode it, and nothing is sent', () => {
  const [x, y] = socketpair();
  track(x);
  track(y);
  for (const fn of [() => x.send('hi' as never), () => x.sendall('hi' as never), () => x.sendto('hi' as never, '')]) {
    assert.throws(fn, (e: unknown) => e instanceof TypeError && /Buffer\.from/.test((e as Error).message));
  }
  throws_os(() => y.recv(10), BlockingIOError, 'EAGAIN'); // nothing arrived
  // Other typed arrays are sent as their bytes.
  assert.is(x.send(new Uint16Array([1, 2]) as unknown as Uint8Array), 4);
});

// ---- closed sockets, detach, wrapping ----
test('operations on a closed socket throw OSError EBADF; close is idempotent', () => {
  const s = track(new Socket());
  const fd = s.fileno();
  s.close();
  s.close();
  assert.is(s.fileno(), -1);
  assert.not.ok(binding.fd_is_open(fd));
  for (const fn of [
    () => s.recv(1), () => s.send(Buffer.from('x')), () => s.bind(['127.0.0.1', 0]), () => s.listen(),
    () => s.accept(), () => s.connect_ex(['127.0.0.1', 1]), () => s.getsockname(), () => s.setblocking(true),
    () => s.getsockopt(SOL_SOCKET, SO_TYPE), () => s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1), () => s.shutdown(SHUT_WR),
  ]) {
    throws_os(fn, OSError, 'EBADF');
  }
  assert.is(s.toString(), '<Socket [closed] fd=-1, family=AF_INET, type=SOCK_STREAM, proto=0>');
});

test('detach gives up the fd without closing it; a Socket can wrap it again', () => {
  const s = track(new Socket(AF_INET, SOCK_DGRAM));
  s.bind(['127.0.0.1', 0]);
  const addr = s.getsockname();
  const fd = s.detach();
  assert.is(s.fileno(), -1);
  assert.ok(binding.fd_is_open(fd));
  throws_os(() => s.getsockname(), OSError, 'EBADF');
  const w = track(new Socket(undefined, undefined, undefined, fd));
  assert.is(w.fileno(), fd);
  assert.is(w.family, AF_INET);
  assert.is(w.type, SOCK_DGRAM);
  assert.is(w.proto, C.SO_PROTOCOL === undefined ? 0 : socket.IPPROTO_UDP);
  assert.equal(w.getsockname(), addr);
  assert.not.ok(w.getblocking());
});

test('wrapping: a raw socketpair fd, fromfd, dup; a non-socket fd is ENOTSOCK', () => {
  const pr = binding.socketpair(AF_UNIX, SOCK_STREAM, 0);
  if (typeof pr === 'number') throw new Error(`socketpair: ${pr}`);
  raw_fds.add(pr[1]);
  const a = track(new Socket(undefined, undefined, undefined, pr[0]));
  assert.is(a.family, AF_UNIX);
  a.sendall(Buffer.from('z'));
  const f = track(socket.fromfd(pr[1]));
  assert.is.not(f.fileno(), pr[1]);
  f.setblocking(true);
  assert.is(f.recv(1).toString(), 'z');
  const d = track(f.dup());
  assert.ok(d.getblocking(), 'dup keeps the blocking mode');
  assert.is(d.family, AF_UNIX);

  const p = binding.pipe();
  if (typeof p === 'number') throw new Error(`pipe: ${p}`);
  raw_fds.add(p[0]);
  raw_fds.add(p[1]);
  throws_os(() => new Socket(undefined, undefined, undefined, p[0]), OSError, 'ENOTSOCK');
});

// ---- options ----
test('setsockopt/getsockopt: TCP_NODELAY, SO_REUSEADDR, SO_LINGER bytes, SO_TYPE', () => {
  const s = track(new Socket());
  assert.is(s.getsockopt(IPPROTO_TCP, TCP_NODELAY), 0);
  s.setsockopt(IPPROTO_TCP, TCP_NODELAY, true);
  assert.ok(s.getsockopt(IPPROTO_TCP, TCP_NODELAY) !== 0);
  s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 0);
  assert.is(s.getsockopt(IPPROTO_TCP, TCP_NODELAY), 0);
  s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
  assert.ok(s.getsockopt(SOL_SOCKET, SO_REUSEADDR) !== 0);
  assert.is(s.getsockopt(SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  const linger = Buffer.alloc(8);
  linger.writeInt32LE(1, 0);
  linger.writeInt32LE(0, 4);
  s.setsockopt(SOL_SOCKET, SO_LINGER, linger);
  const back = s.getsockopt(SOL_SOCKET, SO_LINGER, 8);
  assert.instance(back, Buffer);
  assert.is(back.readInt32LE(0), 1);
  throws_os(() => s.getsockopt(SOL_SOCKET, 987654), OSError, 'ENOPROTOOPT');
});

// ---- display ----
test('toString looks like Python repr', () => {
  const s = track(new Socket());
  s.bind(['127.0.0.1', 0]);
  const port = (s.getsockname() as InetAddress)[1];
  assert.is(s.toString(), `<Socket fd=${s.fileno()}, family=AF_INET, type=SOCK_STREAM, proto=0, laddr=['127.0.0.1', ${port}]>`);
  const [c] = tcp_pair();
  const lport = (c.getpeername() as InetAddress)[1];
  assert.match(c.toString(), `raddr=['127.0.0.1', ${lport}]>`);
  assert.is(String(s), s.toString());
});

test('has_ipv6 is a boolean', () => {
  assert.type(has_ipv6, 'boolean');
  console.log(`  (has_ipv6 = ${has_ipv6})`);
  assert.is(AF_INET6, C.AF_INET6);
});

test.run();
