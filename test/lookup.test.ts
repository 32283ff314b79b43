import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OSError, type Coroutine } from '../src/index.js';
import { binding } from '../src/binding.js';
import { get_default_executor } from '../src/executor.js';
import { gaierror, getaddrinfo, getnameinfo, type AddrInfo } from '../coroutines/lookup.js';
import { gather, sleep } from '../coroutines/waiting.js';
import { make_loop, register_loop_cleanup, run } from './support/loops.js';

const C = binding.constants;

register_loop_cleanup();

function* caught(coro: Coroutine<unknown>): Coroutine<unknown> {
  try {
    yield* coro;
  } catch (e) {
    return e;
  }
  return new Error('did not raise');
}

function check_entry(e: AddrInfo, port: number): void {
  const [family, type, proto, canonname, addr] = e;
  assert.ok(family === C.AF_INET || family === C.AF_INET6, `family ${family}`);
  assert.type(type, 'number');
  assert.type(proto, 'number');
  assert.type(canonname, 'string');
  if (family === C.AF_INET) {
    assert.is(addr.length, 2);
  } else {
    assert.is(addr.length, 4);
    assert.type(addr[2], 'number');
    assert.type(addr[3], 'number');
  }
  assert.type(addr[0], 'string');
  assert.is(addr[1], port);
}

test("getaddrinfo('localhost', 80) gives [family, type, proto, canonname, sockaddr] entries (in a worker)", () => {
  const loop = make_loop();
  const infos = run(loop, getaddrinfo(loop, 'localhost', 80));
  assert.ok(infos.length > 0);
  for (const e of infos) check_entry(e, 80);
  const v4 = infos.filter((e) => e[0] === C.AF_INET);
  const v6 = infos.filter((e) => e[0] === C.AF_INET6);
  assert.ok(v4.length + v6.length === infos.length);
  if (v4.length > 0) assert.equal(v4[0]![4], ['127.0.0.1', 80]);
  if (v6.length > 0) assert.equal(v6[0]![4], ['::1', 80, 0, 0]);
  assert.ok(get_default_executor(loop) !== null, 'a name lookup runs on the default executor');

  const streams = run(loop, loop.getaddrinfo('localhost', '80', { type: C.SOCK_STREAM, family: C.AF_INET }));
  assert.ok(streams.length >= 1);
  for (const e of streams) {
    assert.is(e[0], C.AF_INET);
    assert.is(e[1], C.SOCK_STREAM);
  }
});

test('IPv6 entries carry [host, port, flowinfo, scope_id]; null host and port as in C', () => {
  const loop = make_loop();
  const v6 = run(loop, getaddrinfo(loop, '::1', 8080, { type: C.SOCK_STREAM }));
  assert.equal(v6, [[C.AF_INET6, C.SOCK_STREAM, C.IPPROTO_TCP, '', ['::1', 8080, 0, 0]]]);
  const passive = run(loop, getaddrinfo(loop, null, 0, { family: C.AF_INET, type: C.SOCK_STREAM, flags: C.AI_PASSIVE }));
  assert.equal(passive.map((e) => e[4]), [['0.0.0.0', 0]]);
  // A service name goes through the worker, whether or not this machine knows it.
  const r = run(loop, caught(getaddrinfo(loop, '::1', 'http', { type: C.SOCK_STREAM })));
  if (r instanceof gaierror) assert.is(r.code, 'EAI_SERVICE');
  else assert.equal(run(loop, getaddrinfo(loop, '::1', 'http', { type: C.SOCK_STREAM }))[0]![4], ['::1', 80, 0, 0]);
});

test('a numeric host and port are answered without the executor, but not synchronously', () => {
  const loop = make_loop();
  const order: string[] = [];
  function* lookup(): Coroutine<AddrInfo[]> {
    const infos = yield* getaddrinfo(loop, '127.0.0.1', 8080, { type: C.SOCK_STREAM });
    order.push('answer');
    return infos;
  }
  const task = loop.create_task(lookup());
  loop.call_soon(() => order.push('call_soon'));
  const infos = run(loop, task);
  assert.equal(infos, [[C.AF_INET, C.SOCK_STREAM, C.IPPROTO_TCP, '', ['127.0.0.1', 8080]]]);
  assert.equal(order, ['call_soon', 'answer']);
  assert.is(get_default_executor(loop), null, 'no thread was needed');
});

test('a name that does not resolve raises gaierror EAI_NONAME', () => {
  const loop = make_loop();
  // AI_NUMERICHOST: a name is never looked up, so this fails the same way everywhere.
  const e = run(loop, caught(getaddrinfo(loop, 'nonexistent.invalid', 80, { flags: C.AI_NUMERICHOST }))) as gaierror;
  assert.instance(e, gaierror);
  assert.instance(e, OSError);
  assert.is(e.name, 'gaierror');
  assert.is(e.errno, C.EAI_NONAME);
  assert.is(e.code, 'EAI_NONAME');
  assert.is(e.strerror, binding.gai_strerror(C.EAI_NONAME));
  assert.is(e.message, `[Errno ${C.EAI_NONAME}] ${binding.gai_strerror(C.EAI_NONAME)}`);
  // A real lookup of a .invalid name (RFC 2606: never resolves). Offline, the resolver may say EAI_AGAIN.
  const r = run(loop, caught(getaddrinfo(loop, 'nonexistent.invalid', 80))) as gaierror;
  assert.instance(r, gaierror);
  assert.ok(r.code === 'EAI_NONAME' || r.code === 'EAI_AGAIN' || r.code === 'EAI_NODATA', `got ${r.code}`);
});

test('getnameinfo turns a numeric sockaddr into [host, service]', () => {
  const loop = make_loop();
  const numeric = C.NI_NUMERICHOST | C.NI_NUMERICSERV;
  assert.equal(run(loop, getnameinfo(loop, ['127.0.0.1', 80], numeric)), ['127.0.0.1', '80']);
  assert.equal(run(loop, getnameinfo(loop, ['::1', 443, 0, 0], numeric)), ['::1', '443']);
  assert.equal(run(loop, loop.getnameinfo(['::1', 443], numeric)), ['::1', '443']);
  // Without the flags the lookup runs in a worker (reverse DNS / services database).
  const [host, service] = run(loop, getnameinfo(loop, ['127.0.0.1', 80], C.NI_NUMERICHOST));
  assert.is(host, '127.0.0.1');
  assert.ok(service === 'http' || service === '80', service);
  // As in Python the host must be numeric.
  const e = run(loop, caught(getnameinfo(loop, ['localhost', 80], 0))) as gaierror;
  assert.instance(e, gaierror);
  assert.is(e.code, 'EAI_NONAME');
});

test('arguments are checked on the loop thread with clear errors', () => {
  const loop = make_loop();
  const cases: Array<[() => Coroutine<unknown>, RegExp, Function]> = [
    [() => getaddrinfo(loop, 42 as never, 80), /host must be a string or null/, TypeError],
    [() => getaddrinfo(loop, 'localhost', {} as never), /port must be a number, a service name string or null/, TypeError],
    [() => getaddrinfo(loop, 'localhost', 1.5), /port must be an integer/, TypeError],
    [() => getaddrinfo(loop, 'localhost', 70000), /port must be 0-65535/, RangeError],
    [() => getaddrinfo(loop, 'localhost', 80, { family: '4' as never }), /family must be an integer/, TypeError],
    [() => getnameinfo(loop, ['127.0.0.1'] as never), /sockaddr must be \[host, port\]/, TypeError],
    [() => getnameinfo(loop, '127.0.0.1' as never), /sockaddr must be/, TypeError],
    [() => getnameinfo(loop, [127, 80] as never), /host in sockaddr must be a string/, TypeError],
    [() => getnameinfo(loop, ['127.0.0.1', '80'] as never), /port in sockaddr must be an integer/, TypeError],
    [() => getnameinfo(loop, ['127.0.0.1', 80, 0, 0]), /IPv4 sockaddr must be \[host, port\]/, TypeError],
    [() => getnameinfo(loop, ['::1', 80, -1, 0]), /flowinfo must be an integer/, TypeError],
  ];
  for (const [make, message, cls] of cases) {
    const e = run(loop, caught(make()));
    assert.instance(e, cls);
    assert.match(String(e), message);
  }
});

test('a lookup in a worker does not hold up other tasks', () => {
  const loop = make_loop();
  const events: string[] = [];
  function* lookup(): Coroutine<void> {
    yield* getaddrinfo(loop, 'localhost', 80);
    events.push('lookup');
  }
  function* ticker(): Coroutine<void> {
    events.push('tick');
    yield* sleep(0, undefined, { loop });
    events.push('tick');
  }
  run(loop, gather(loop.create_task(lookup()), loop.create_task(ticker()), { loop }));
  // The first lookup starts a worker thread: the ticker finishes long before the answer arrives.
  assert.equal(events, ['tick', 'tick', 'lookup']);
});

test.run();
