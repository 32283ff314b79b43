/**
 * native.test.ts: the addon (src/native/) through src/binding.ts.
 *
 * Checks the contract the TypeScript layer relies on: bad arguments throw TypeError/RangeError (and
 * never crash), system errors come back as -errno, every selector backend sees readiness, the wake-up
 * fd works across threads, and sockets work end to end on 127.0.0.1 (and ::1 when present).
 * Every fd a test opens is registered with fd() and closed (and checked closed) after the test.
 * No sleeps: every wait is a selector call with a generous timeout that returns as soon as it can.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { binding as b, type InetAddress, type SockAddr } from '../src/binding.js';

const C = b.constants;
const E = b.errno_codes;
const WAIT_MS = 5000;

// ---- fd bookkeeping ----
const opened = new Set<number>();
function fd(n: number): number {
  if (n < 0) throw new Error(`system call failed: ${b.strerror(-n)} (${n})`);
  opened.add(n);
  return n;
}
function fds<T extends [number, number]>(r: T | number): T {
  if (typeof r === 'number') throw new Error(`system call failed: ${b.strerror(-r)} (${r})`);
  fd(r[0]);
  fd(r[1]);
  return r;
}
function closeFd(n: number): void {
  if (opened.delete(n)) assert.is(b.close(n), 0);
}
test.after.each(() => {
  for (const n of opened) {
    assert.is(b.close(n), 0, `close(${n})`);
    assert.not.ok(b.fd_is_open(n), `fd ${n} still open`);
  }
  opened.clear();
});

function ok(r: number, what = 'call'): number {
  if (r < 0) throw new Error(`${what} failed: ${b.strerror(-r)} (${r})`);
  return r;
}
function isAddr(a: SockAddr | null | number): a is InetAddress {
  return Array.isArray(a);
}
/** Waits (poll) until fd has any of `events`; returns revents. */
function waitFor(n: number, events: number): number {
  const out = new Int32Array(2);
  const got = ok(b.poll(Int32Array.of(n, events), 1, out, WAIT_MS), 'poll');
  assert.is(got, 1, `fd ${n} did not become ready`);
  return out[1]!;
}
const bytes = (s: string) => new Uint8Array(Buffer.from(s));
const text = (buf: Uint8Array, n: number) => Buffer.from(buf.buffer, buf.byteOffset, n).toString();

// ---- module shape ----
test('exports constants, errno codes and messages', () => {
  assert.is(typeof b.close, 'function');
  assert.is(C.FD_SETSIZE, 1024);
  assert.ok(E.EAGAIN > 0 && E.EBADF > 0 && E.EINPROGRESS > 0);
  assert.is(E.EWOULDBLOCK, E.EAGAIN);
  assert.is(C.HAVE_EPOLL, process.platform === 'linux' ? 1 : 0);
  assert.is(typeof b.epoll_wait === 'function', C.HAVE_EPOLL === 1);
  assert.is(typeof b.kevent === 'function', C.HAVE_KQUEUE === 1);
  assert.ok(b.strerror(E.EBADF).length > 0);
  assert.ok(b.gai_strerror(C.EAI_NONAME).length > 0);
});

// ---- argument validation: throws, never crashes ----
test('argument validation: TypeError for wrong kinds of values', () => {
  const [r, w] = fds(b.pipe());
  const call = (f: (...a: any[]) => unknown, ...args: unknown[]) => () => f(...args);
  assert.throws(call(b.close, 'x'), (e: Error) => e instanceof TypeError && /close: fd must be an integer/.test(e.message));
  assert.throws(call(b.close), TypeError);
  assert.throws(call(b.close, 1.5), TypeError);
  assert.throws(call(b.close, NaN), TypeError);
  assert.throws(call(b.read, r, new Uint16Array(4), 0, 1), (e: Error) => e instanceof TypeError && /buf must be a Uint8Array/.test(e.message));
  assert.throws(call(b.write, w, 'abc', 0, 1), TypeError);
  assert.throws(call(b.set_nonblocking, r, 1), TypeError);
  assert.throws(call(b.poll, [r, C.POLLIN], 1, new Int32Array(2), 0), TypeError);
  assert.throws(call(b.poll, new Int32Array(2), 1, new Uint32Array(2), 0), TypeError);
  assert.throws(call(b.select, new Int32Array(1), 1, new Int32Array(0), 0, new Int32Array(2), '0'), TypeError);
  assert.throws(call(b.writev, w, bytes('x'), 1, 0), TypeError);
  assert.throws(call(b.writev, w, [bytes('x'), 'y'], 2, 0), (e: Error) => e instanceof TypeError && /bufs\[1\]/.test(e.message));
  assert.throws(call(b.setsockopt, w, C.SOL_SOCKET, C.SO_REUSEADDR, '1'), TypeError);
  assert.throws(call(b.getaddrinfo, 5, null, 0, 0, 0, 0), TypeError);
  assert.throws(call(b.getaddrinfo, 'a\0b', null, 0, 0, 0, 0), TypeError);
  const s = fd(b.socket(C.AF_INET, C.SOCK_STREAM, 0));
  assert.throws(call(b.bind, s, C.AF_INET, ['localhost', 0]), (e: Error) => e instanceof TypeError && /numeric address; resolve names with getaddrinfo/.test(e.message));
  assert.throws(call(b.bind, s, C.AF_INET, ['127.0.0.1']), TypeError);
  assert.throws(call(b.bind, s, C.AF_INET, '127.0.0.1'), TypeError);
  assert.throws(call(b.bind, s, C.AF_UNIX, 42), TypeError);
  assert.throws(call(b.connect, s, C.AF_INET6, ['127.0.0.1', 80]), TypeError);
});

test('argument validation: RangeError for values out of their domain', () => {
  const [r, w] = fds(b.pipe());
  const call = (f: (...a: any[]) => unknown, ...args: unknown[]) => () => f(...args);
  assert.throws(call(b.close, -1), (e: Error) => e instanceof RangeError && /close: fd must be >= 0/.test(e.message));
  assert.throws(call(b.read, r, new Uint8Array(4), 2, 3), (e: Error) => e instanceof RangeError && /exceeds the buffer length/.test(e.message));
  assert.throws(call(b.write, w, Buffer.alloc(4), 5, 0), RangeError);
  assert.throws(call(b.write, w, Buffer.alloc(4), -1, 1), RangeError);
  assert.throws(call(b.poll, new Int32Array(2), 2, new Int32Array(2), 0), RangeError);
  assert.throws(call(b.poll, Int32Array.of(r, C.POLLIN), 1, new Int32Array(2), -5), RangeError);
  assert.throws(call(b.poll, Int32Array.of(r, C.POLLIN), 1, new Int32Array(2), NaN), RangeError);
  assert.throws(call(b.select, Int32Array.of(r), 1, Int32Array.of(w), 1, new Int32Array(3), 0), RangeError);
  assert.throws(call(b.select, Int32Array.of(r), 2, Int32Array.of(w), 1, new Int32Array(8), 0), RangeError);
  assert.throws(call(b.select, Int32Array.of(-3), 1, new Int32Array(0), 0, new Int32Array(2), 0), RangeError);
  assert.throws(call(b.writev, w, [bytes('ab')], 2, 0), RangeError);
  assert.throws(call(b.writev, w, [bytes('ab')], 1, 3), RangeError);
  if (b.epoll_wait) {
    const ep = fd(b.epoll_create!());
    assert.throws(call(b.epoll_wait, ep, new Int32Array(1), 0), (e: Error) => e instanceof RangeError && /at least one/.test(e.message));
    assert.throws(call(b.epoll_wait, ep, new Int32Array(2), -2), RangeError);
  }
  const s = fd(b.socket(C.AF_INET, C.SOCK_STREAM, 0));
  assert.throws(call(b.bind, s, C.AF_INET, ['127.0.0.1', 70000]), (e: Error) => e instanceof RangeError && /port/.test(e.message));
  assert.throws(call(b.bind, s, C.AF_INET, ['127.0.0.1', -1]), RangeError);
  assert.throws(call(b.getsockopt, s, C.SOL_SOCKET, C.SO_TYPE, 0), RangeError);
  assert.throws(call(b.getsockopt, s, C.SOL_SOCKET, C.SO_TYPE, 1025), RangeError);
  const u = fd(b.socket(C.AF_UNIX, C.SOCK_STREAM, 0));
  assert.throws(call(b.bind, u, C.AF_UNIX, '/tmp/' + 'x'.repeat(200)), (e: Error) => e instanceof RangeError && /too long/.test(e.message));
});

test('malloc_retain: checked thresholds; applied where malloc is glibc\'s', () => {
  const call = (...args: unknown[]) => () => (b.malloc_retain as (...a: unknown[]) => boolean)(...args);
  assert.throws(call(-1, 0), (e: Error) => e instanceof RangeError && /malloc_retain: trim_threshold/.test(e.message));
  assert.throws(call(0, 2 ** 31), (e: Error) => e instanceof RangeError && /mmap_threshold/.test(e.message));
  assert.throws(call('32M', 0), TypeError);
  assert.throws(call(1), TypeError);
  const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;
  // The values the read slabs ask for (see retain_freed_slabs), so setting them again changes nothing.
  assert.is(b.malloc_retain(32 << 20, 4 << 20), glibc !== undefined);
});

test('system errors come back as -errno, EBADF for a closed fd', () => {
  const [r, w] = fds(b.pipe());
  const buf = new Uint8Array(8);
  assert.is(b.read(r, buf, 0, 8), -E.EAGAIN, 'empty non-blocking pipe');
  closeFd(r);
  assert.not.ok(b.fd_is_open(r));
  assert.is(b.read(r, buf, 0, 8), -E.EBADF);
  assert.is(b.close(r), -E.EBADF);
  assert.is(b.set_cloexec(r), -E.EBADF);
  assert.is(b.recv(w, buf, 0, 8, 0), -E.ENOTSOCK);
  assert.is(b.getsockfamily(w), -E.ENOTSOCK);
  assert.is(b.bind(w, 12345, 'x'), -E.EAFNOSUPPORT, 'unsupported family is an errno, not a throw');
});

// ---- fds ----
test('pipe read/write with offsets; set_nonblocking, set_cloexec, dup', () => {
  const [r, w] = fds(b.pipe());
  assert.is(b.write(w, bytes('xxhello'), 2, 5), 5);
  const buf = new Uint8Array(16);
  assert.is(b.read(r, buf, 3, 10), 5);
  assert.is(text(buf.subarray(3), 5), 'hello');
  assert.is(b.set_nonblocking(r, false), 0);
  assert.is(b.set_nonblocking(r, true), 0);
  assert.is(b.set_cloexec(r), 0);
  const d = fd(b.dup(w));
  assert.ok(d !== w && b.fd_is_open(d));
  assert.is(b.write(d, bytes('z'), 0, 1), 1);
  assert.is(b.read(r, buf, 0, 16), 1);
  assert.is(b.write(w, bytes(''), 0, 0), 0);
});

// ---- selectors: the same readiness cases against each backend ----
interface Backend {
  name: string;
  /** Returns [fd, readable, writable] for each ready fd. */
  wait(read: number[], write: number[], timeout: number): Array<[number, boolean, boolean]>;
}
const backends: Backend[] = [
  {
    name: 'poll',
    wait(read, write, timeout) {
      const all = [...new Set([...read, ...write])];
      const req = new Int32Array(all.length * 2);
      all.forEach((f, i) => {
        req[2 * i] = f;
        req[2 * i + 1] = (read.includes(f) ? C.POLLIN : 0) | (write.includes(f) ? C.POLLOUT : 0);
      });
      const out = new Int32Array(req.length);
      const n = ok(b.poll(req, all.length, out, timeout));
      return Array.from({ length: n }, (_, i) => [out[2 * i]!, (out[2 * i + 1]! & C.POLLIN) !== 0, (out[2 * i + 1]! & C.POLLOUT) !== 0]);
    },
  },
  {
    name: 'select',
    wait(read, write, timeout) {
      const out = new Int32Array(2 * (read.length + write.length));
      const n = ok(b.select(Int32Array.from(read), read.length, Int32Array.from(write), write.length, out, timeout));
      return Array.from({ length: n }, (_, i) => [out[2 * i]!, (out[2 * i + 1]! & 1) !== 0, (out[2 * i + 1]! & 2) !== 0]);
    },
  },
];
if (b.epoll_create && b.epoll_ctl && b.epoll_wait) {
  const { epoll_create, epoll_ctl, epoll_wait } = b;
  backends.push({
    name: 'epoll',
    wait(read, write, timeout) {
      const ep = ok(epoll_create());
      try {
        for (const f of new Set([...read, ...write]))
          ok(epoll_ctl(ep, C.EPOLL_CTL_ADD!, f, (read.includes(f) ? C.EPOLLIN! : 0) | (write.includes(f) ? C.EPOLLOUT! : 0)));
        const out = new Int32Array(2 * 300); // > 256 pairs: the malloc'd event array
        const n = ok(epoll_wait(ep, out, timeout));
        return Array.from({ length: n }, (_, i) => [out[2 * i]!, (out[2 * i + 1]! & C.EPOLLIN!) !== 0, (out[2 * i + 1]! & C.EPOLLOUT!) !== 0]);
      } finally {
        assert.is(b.close(ep), 0);
      }
    },
  });
}

for (const be of backends) {
  test(`${be.name}: pipe readability and writability`, () => {
    const [r, w] = fds(b.pipe());
    assert.equal(be.wait([r], [], 0), [], 'empty pipe is not readable');
    assert.equal(be.wait([], [w], WAIT_MS), [[w, false, true]]);
    assert.is(b.write(w, bytes('x'), 0, 1), 1);
    assert.equal(be.wait([r], [w], WAIT_MS).sort((a, z) => a[0] - z[0]), [[r, true, false], [w, false, true]].sort((a, z) => (a[0] as number) - (z[0] as number)));
  });

  test(`${be.name}: one pair per fd, readable and writable combined`, () => {
    const [x, y] = fds(b.socketpair(C.AF_UNIX, C.SOCK_STREAM, 0));
    assert.is(b.send(y, bytes('hi'), 0, 2, 0), 2);
    assert.equal(be.wait([x], [x], WAIT_MS), [[x, true, true]]);
  });

  test(`${be.name}: peer close makes the other end readable (EOF)`, () => {
    const [x, y] = fds(b.socketpair(C.AF_UNIX, C.SOCK_STREAM, 0));
    closeFd(y);
    const got = be.wait([x], [], WAIT_MS);
    assert.is(got.length, 1);
    assert.is(got[0]![0], x);
    assert.is(b.recv(x, new Uint8Array(4), 0, 4, 0), 0);
  });
}

test('poll: more than 64 entries (heap path) and a closed fd reports POLLNVAL', () => {
  const [r, w] = fds(b.pipe());
  const n = 100;
  const req = new Int32Array(2 * n);
  for (let i = 0; i < n; i++) req.set([i % 2 ? w : r, i % 2 ? C.POLLOUT : C.POLLIN], 2 * i);
  const out = new Int32Array(2 * n);
  assert.is(b.poll(req, n, out, 0), n / 2, 'every write end is writable');
  assert.is(b.poll(req, n, new Int32Array(6), 0), 3, 'output capped at out.length / 2 pairs');
  const [r2] = fds(b.pipe());
  closeFd(r2);
  assert.is(b.poll(Int32Array.of(r2, C.POLLIN), 1, out, 0), 1);
  assert.is(out[0], r2);
  assert.is(out[1]! & C.POLLNVAL, C.POLLNVAL);
});

test('select: fd >= FD_SETSIZE is a RangeError with advice, before anything else happens', () => {
  const [r] = fds(b.pipe());
  const high = b.dup2(r, 1500);
  if (high >= 0) fd(high);
  assert.is(high, 1500, 'dup2 to 1500');
  assert.ok(b.fd_is_open(1500));
  assert.throws(
    () => b.select(Int32Array.of(1500), 1, new Int32Array(0), 0, new Int32Array(2), 0),
    (e: Error) => e instanceof RangeError && e.message === 'select() cannot watch fd 1500: FD_SETSIZE is 1024; use poll or epoll',
  );
  assert.throws(() => b.select(new Int32Array(0), 0, Int32Array.of(1024), 1, new Int32Array(2), 0), RangeError);
  // poll has no such limit
  assert.is(b.poll(Int32Array.of(1500, C.POLLIN), 1, new Int32Array(2), 0), 0);
  assert.is(b.select(new Int32Array(0), 0, new Int32Array(0), 0, new Int32Array(0), 0), 0, 'an empty select just times out');
});

if (b.epoll_create && b.epoll_ctl && b.epoll_wait) {
  const { epoll_create, epoll_ctl, epoll_wait } = b;
  test('epoll: ctl errors are -errno; MOD and DEL take effect', () => {
    const ep = fd(epoll_create());
    const [r, w] = fds(b.pipe());
    const out = new Int32Array(8);
    assert.is(epoll_ctl(ep, C.EPOLL_CTL_MOD!, r, C.EPOLLIN!), -E.ENOENT);
    assert.is(epoll_ctl(ep, C.EPOLL_CTL_ADD!, w, C.EPOLLOUT!), 0);
    assert.is(epoll_ctl(ep, C.EPOLL_CTL_ADD!, w, C.EPOLLOUT!), -E.EEXIST);
    assert.is(epoll_wait(ep, out, WAIT_MS), 1);
    assert.equal([out[0], out[1]], [w, C.EPOLLOUT]);
    assert.is(epoll_ctl(ep, C.EPOLL_CTL_MOD!, w, C.EPOLLIN! | C.EPOLLET!), 0, 'EPOLLET (bit 31) accepted');
    assert.is(epoll_wait(ep, out, 0), 0);
    assert.is(epoll_ctl(ep, C.EPOLL_CTL_DEL!, w, 0), 0);
    assert.is(epoll_wait(ep, out, 0), 0);
    assert.is(epoll_wait(ep, out, 0.4), 0, 'fractional timeout accepted (rounded up)');
    assert.is(epoll_ctl(ep, C.EPOLL_CTL_ADD!, 1499, C.EPOLLIN!), -E.EBADF);
  });
}

// ---- wake-up channel ----
test('wakeup_create/signal/drain', () => {
  const [r, w] = b.wakeup_create() as [number, number];
  fd(r);
  if (w !== r) fd(w);
  assert.is(r === w, C.HAVE_EVENTFD === 1);
  const out = new Int32Array(2);
  assert.is(b.poll(Int32Array.of(r, C.POLLIN), 1, out, 0), 0);
  assert.is(b.wakeup_signal(w), 0);
  assert.is(b.wakeup_signal(w), 0);
  assert.is(b.poll(Int32Array.of(r, C.POLLIN), 1, out, 0), 1);
  assert.is(b.wakeup_drain(r), 0);
  assert.is(b.poll(Int32Array.of(r, C.POLLIN), 1, out, 0), 0, 'drained');
  assert.is(b.wakeup_drain(r), 0, 'draining an empty channel is fine');
});

test('a worker_thread wakes the main thread blocked in a 5 s wait', async () => {
  const [r, w] = b.wakeup_create() as [number, number];
  fd(r);
  if (w !== r) fd(w);
  // The worker loads this same binding.ts through tsx's ESM API, then signals.
  const api = import.meta.resolve('tsx/esm/api');
  const url = new URL('../src/binding.ts', import.meta.url).href;
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     import(workerData.api)
       .then(({ register }) => { register(); return import(workerData.url); })
       .then(({ binding }) => parentPort.postMessage(binding.wakeup_signal(workerData.w)))
       .catch((e) => parentPort.postMessage(String(e)));`,
    { eval: true, workerData: { api, url, w } },
  );
  const reply = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const out = new Int32Array(4);
  const t0 = performance.now();
  let n: number;
  if (b.epoll_create && b.epoll_ctl && b.epoll_wait) {
    const ep = fd(b.epoll_create());
    ok(b.epoll_ctl(ep, C.EPOLL_CTL_ADD!, r, C.EPOLLIN!));
    do n = b.epoll_wait(ep, out, WAIT_MS); while (n === -E.EINTR);
  } else {
    do n = b.poll(Int32Array.of(r, C.POLLIN), 1, out, WAIT_MS); while (n === -E.EINTR);
  }
  const elapsed = performance.now() - t0;
  assert.is(n, 1, 'woken, not timed out');
  assert.is(out[0], r);
  assert.ok(elapsed < WAIT_MS - 500, `returned early (${elapsed.toFixed(0)} ms)`);
  assert.is(await reply, 0, 'wakeup_signal in the worker returned 0');
  await worker.terminate();
  assert.is(b.wakeup_drain(r), 0);
});

// ---- sockets ----
test('TCP on 127.0.0.1: connect, accept, send/recv, writev, names, options, shutdown', () => {
  const lsock = fd(b.socket(C.AF_INET, C.SOCK_STREAM, 0));
  assert.is(b.setsockopt(lsock, C.SOL_SOCKET, C.SO_REUSEADDR, 1), 0);
  assert.is(b.bind(lsock, C.AF_INET, ['127.0.0.1', 0]), 0);
  assert.is(b.listen(lsock, 16), 0);
  const laddr = b.getsockname(lsock);
  assert.ok(isAddr(laddr) && laddr.length === 2 && laddr[0] === '127.0.0.1' && laddr[1] > 0);
  const port = (laddr as InetAddress)[1];
  assert.is(b.accept(lsock), -E.EAGAIN, 'nothing to accept yet');

  const c = fd(b.socket(C.AF_INET, C.SOCK_STREAM, 0));
  const rc = b.connect(c, C.AF_INET, ['127.0.0.1', port]);
  assert.ok(rc === -E.EINPROGRESS || rc === 0, `connect → ${rc}`);
  assert.ok(waitFor(c, C.POLLOUT) & C.POLLOUT);
  assert.is(b.getsockopt(c, C.SOL_SOCKET, C.SO_ERROR), 0);
  waitFor(lsock, C.POLLIN);
  const acc = b.accept(lsock);
  assert.ok(Array.isArray(acc));
  const [s, peer] = acc as [number, SockAddr];
  fd(s);
  assert.equal(peer, b.getsockname(c));
  assert.equal(b.getpeername(s), b.getsockname(c));
  assert.equal(b.getpeername(c), ['127.0.0.1', port]);
  assert.is(b.getsockfamily(s), C.AF_INET);
  assert.is(b.getsocktype(s), C.SOCK_STREAM);

  assert.is(b.send(c, bytes('__hello'), 2, 5, 0), 5);
  const buf = Buffer.alloc(64);
  waitFor(s, C.POLLIN);
  assert.is(b.recv(s, buf, 0, 64, 0), 5);
  assert.is(text(buf, 5), 'hello');

  assert.is(b.writev(c, [bytes('ab'), bytes('cdef'), bytes(''), bytes('gh')], 4, 1), 7);
  assert.is(b.writev(c, [bytes('zz')], 0, 0), 0, 'count 0 sends nothing');
  let got = '';
  while (got.length < 7) {
    waitFor(s, C.POLLIN);
    const n = ok(b.recv(s, buf, 0, 64, 0));
    got += text(buf, n);
  }
  assert.is(got, 'bcdefgh');

  assert.is(b.setsockopt(c, C.IPPROTO_TCP, C.TCP_NODELAY, 1), 0);
  assert.ok((b.getsockopt(c, C.IPPROTO_TCP, C.TCP_NODELAY) as number) !== 0);
  const raw = b.getsockopt(c, C.IPPROTO_TCP, C.TCP_NODELAY, 4);
  assert.ok(Buffer.isBuffer(raw) && raw.length === 4 && raw.readInt32LE(0) !== 0);
  assert.is(b.setsockopt(c, C.SOL_SOCKET, C.SO_KEEPALIVE, Buffer.from(Int32Array.of(1).buffer)), 0, 'bytes value');
  assert.is(b.getsockopt(c, C.SOL_SOCKET, C.SO_KEEPALIVE), 1);

  assert.is(b.shutdown(c, C.SHUT_WR), 0);
  waitFor(s, C.POLLIN);
  assert.is(b.recv(s, buf, 0, 64, 0), 0, 'EOF after the peer shut down writing');

  // Writing to a connection whose peer is gone: -EPIPE/-ECONNRESET, never SIGPIPE.
  closeFd(c);
  let r = 0;
  for (let i = 0; i < 100 && r >= 0; i++) {
    r = b.send(s, bytes('x'), 0, 1, 0);
    if (r >= 0) waitFor(s, C.POLLIN | C.POLLERR | C.POLLHUP);
  }
  assert.ok(r === -E.EPIPE || r === -E.ECONNRESET, `send → ${r}`);
  assert.is(b.getpeername(lsock), -E.ENOTCONN);
});

test('writev: more than 64 buffers (heap path), capped at IOV_MAX, and writev(2) on a pipe', () => {
  const [x, y] = fds(b.socketpair(C.AF_UNIX, C.SOCK_STREAM, 0));
  const bufs = Array.from({ length: 1500 }, (_, i) => bytes(String.fromCharCode(97 + (i % 26))));
  assert.is(b.writev(x, bufs, bufs.length, 0), C.IOV_MAX);
  const buf = Buffer.alloc(4096);
  assert.is(b.recv(y, buf, 0, 4096, 0), 1024);
  assert.is(text(buf, 3), 'abc');
  const [r, w] = fds(b.pipe());
  assert.is(b.writev(w, [bytes('pi'), bytes('pe')], 2, 0), 4, 'ENOTSOCK falls back to writev');
  assert.is(b.read(r, buf, 0, 10), 4);
  assert.is(text(buf, 4), 'pipe');
});

test('UDP on 127.0.0.1: sendto / recvfrom', () => {
  const a = fd(b.socket(C.AF_INET, C.SOCK_DGRAM, 0));
  const z = fd(b.socket(C.AF_INET, C.SOCK_DGRAM, 0));
  assert.is(b.bind(a, C.AF_INET, ['127.0.0.1', 0]), 0);
  assert.is(b.bind(z, C.AF_INET, ['', 0]), 0, "'' is INADDR_ANY");
  assert.equal((b.getsockname(z) as InetAddress)[0], '0.0.0.0');
  const aaddr = b.getsockname(a) as InetAddress;
  const zport = (b.getsockname(z) as InetAddress)[1];
  assert.is(b.sendto(a, bytes('ping!'), 0, 4, 0, C.AF_INET, ['127.0.0.1', zport]), 4);
  waitFor(z, C.POLLIN);
  const buf = new Uint8Array(16);
  const r = b.recvfrom(z, buf, 2, 10, 0);
  assert.ok(Array.isArray(r));
  const [n, from] = r as [number, SockAddr];
  assert.is(n, 4);
  assert.is(text(buf.subarray(2), 4), 'ping');
  assert.equal(from, aaddr);
  assert.is(b.recvfrom(z, buf, 0, 16, 0), -E.EAGAIN);
  assert.is(b.getsocktype(z), C.SOCK_DGRAM);
  assert.is(b.setsockopt(a, C.SOL_SOCKET, C.SO_BROADCAST, 1), 0);
  assert.is(b.connect(a, C.AF_INET, ['<broadcast>', 9]), 0, "'<broadcast>' is INADDR_BROADCAST");
  assert.equal((b.getpeername(a) as InetAddress)[0], '255.255.255.255');
});

test('recv/send: offset, length and flags may be left out; what is passed is checked', () => {
  const [x, y] = fds(b.socketpair(C.AF_UNIX, C.SOCK_STREAM, 0));
  assert.is(b.send(x, bytes('whole')), 5, 'no span: the whole buffer');
  assert.is(b.send(x, bytes('__tail'), 2), 4, 'an offset alone: from there to the end');
  const buf = new Uint8Array(16).fill(0x2e);
  assert.is(b.recv(y, buf, 3), 9, 'an offset alone: into the rest of the buffer');
  assert.is(text(buf, 16), '...wholetail....');
  assert.is(b.recv(y, buf), -E.EAGAIN);
  const err = (re: RegExp) => (e: Error) => e instanceof TypeError && re.test(e.message);
  const range = (re: RegExp) => (e: Error) => e instanceof RangeError && re.test(e.message);
  assert.throws(() => b.send(x, bytes('x'), undefined as unknown as number), err(/send: offset must be an integer/), 'undefined is not "left out"');
  assert.throws(() => b.send(x, bytes('xy'), 0.5), err(/send: offset must be an integer/));
  assert.throws(() => b.recv(y, buf, Infinity), err(/recv: offset must be an integer/));
  assert.throws(() => b.recv(y, buf, 17), range(/recv: offset must be in \[0, 16\]/));
  assert.throws(() => b.recv(y, buf, 8, 9), range(/offset \(8\) \+ length \(9\) exceeds the buffer length \(16\)/));
  assert.throws(() => b.send(x, bytes('x'), 0, 1, 1.5), err(/send: flags must be an integer/));
  assert.throws(() => (b.send as (...a: unknown[]) => number)(x), err(/send: buf must be a Uint8Array/));
  assert.throws(() => (b.recv as (...a: unknown[]) => number)(), err(/recv: fd must be an integer/));
  assert.throws(() => b.recv(2 ** 31, buf), range(/recv: fd is too large/));
});

test('AF_UNIX: socketpair, unnamed and abstract names', () => {
  const [x, y] = fds(b.socketpair(C.AF_UNIX, C.SOCK_STREAM, 0));
  assert.is(b.send(x, bytes('unix'), 0, 4, 0), 4);
  const buf = new Uint8Array(8);
  assert.is(b.recv(y, buf, 0, 8, 0), 4);
  assert.is(text(buf, 4), 'unix');
  assert.is(b.getsockname(x), '');
  assert.is(b.getsockfamily(x), C.AF_UNIX);
  const [d1, d2] = fds(b.socketpair(C.AF_UNIX, C.SOCK_DGRAM, 0));
  assert.is(b.send(d1, bytes('dg'), 0, 2, 0), 2);
  assert.equal(b.recvfrom(d2, buf, 0, 8, 0), [2, null], 'unnamed peer');
  if (process.platform === 'linux') {
    const name = `\0tulip-test-${process.pid}`;
    const u = fd(b.socket(C.AF_UNIX, C.SOCK_STREAM, 0));
    assert.is(b.bind(u, C.AF_UNIX, name), 0);
    assert.is(b.getsockname(u), name);
    assert.is(b.listen(u, 1), 0);
    const v = fd(b.socket(C.AF_UNIX, C.SOCK_STREAM, 0));
    assert.is(b.connect(v, C.AF_UNIX, name), 0);
    const acc = b.accept(u) as [number, SockAddr];
    fd(acc[0]);
    assert.is(acc[1], '', 'the connecting socket is unnamed');
    assert.is(b.getpeername(v), name);
  }
});

test('IPv6 on ::1 (skipped when unavailable)', () => {
  const s6 = b.socket(C.AF_INET6, C.SOCK_STREAM, 0);
  if (s6 < 0) return console.log('  (IPv6 sockets unavailable: skipped)');
  fd(s6);
  const rc = b.bind(s6, C.AF_INET6, ['::1', 0]);
  if (rc === -E.EADDRNOTAVAIL || rc === -E.EAFNOSUPPORT) return console.log('  (::1 unavailable: skipped)');
  assert.is(rc, 0);
  assert.is(b.listen(s6, 4), 0);
  const addr = b.getsockname(s6) as InetAddress;
  assert.is(addr.length, 4);
  assert.is(addr[0], '::1');
  const c = fd(b.socket(C.AF_INET6, C.SOCK_STREAM, 0));
  const r = b.connect(c, C.AF_INET6, ['::1', addr[1]]);
  assert.ok(r === 0 || r === -E.EINPROGRESS);
  waitFor(s6, C.POLLIN);
  const [s, peer] = b.accept(s6) as [number, SockAddr];
  fd(s);
  assert.equal(peer, b.getsockname(c));
  assert.equal(b.getpeername(c), ['::1', addr[1], 0, 0]);
  assert.is(b.getsockfamily(s), C.AF_INET6);
  const d = fd(b.socket(C.AF_INET6, C.SOCK_DGRAM, 0));
  assert.is(b.bind(d, C.AF_INET6, ['', 0, 0, 0]), 0, "'' is in6addr_any");
  assert.throws(() => b.bind(d, C.AF_INET6, ['::1', 0, 0x100000, 0]), RangeError, 'flowinfo is 20 bits');
});

// ---- name resolution ----
test('getaddrinfo / getnameinfo', () => {
  const res = b.getaddrinfo('localhost', 80, C.AF_UNSPEC, C.SOCK_STREAM, 0, 0);
  assert.ok(Array.isArray(res) && res.length > 0, 'localhost resolves');
  for (const [family, type, , canon, addr] of res as Array<[number, number, number, string, InetAddress]>) {
    assert.ok(family === C.AF_INET || family === C.AF_INET6);
    assert.is(type, C.SOCK_STREAM);
    assert.is(canon, '');
    assert.is(addr[1], 80);
    assert.ok(['127.0.0.1', '::1'].includes(addr[0]), addr[0]);
  }
  const num = b.getaddrinfo('127.0.0.1', '443', C.AF_INET, C.SOCK_STREAM, 0, C.AI_NUMERICHOST | C.AI_NUMERICSERV);
  assert.equal(num, [[C.AF_INET, C.SOCK_STREAM, C.IPPROTO_TCP, '', ['127.0.0.1', 443]]]);
  const bad = b.getaddrinfo('not a number', null, C.AF_INET, 0, 0, C.AI_NUMERICHOST);
  assert.equal(bad, { error: C.EAI_NONAME, errno: 0 });
  assert.ok(b.gai_strerror(C.EAI_NONAME).length > 0);
  const passive = b.getaddrinfo(null, 0, C.AF_INET, C.SOCK_STREAM, 0, C.AI_PASSIVE) as Array<[number, number, number, string, InetAddress]>;
  assert.equal(passive[0]![4], ['0.0.0.0', 0]);
  assert.equal(b.getnameinfo(C.AF_INET, ['127.0.0.1', 80], C.NI_NUMERICHOST | C.NI_NUMERICSERV), ['127.0.0.1', '80']);
  assert.equal(b.getnameinfo(12345, ['127.0.0.1', 80], 0), { error: C.EAI_FAMILY, errno: 0 });
  assert.throws(() => b.getaddrinfo('x', 70000, 0, 0, 0, 0), RangeError);
});

test.run();
