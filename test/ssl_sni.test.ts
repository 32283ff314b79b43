// SSLContext.sni_callback (Python's): one server, several names. The callback sees the name the client
// asked for, may switch the connection to another context (certificate, ALPN), or refuse with an alert.
// Real handshakes on 127.0.0.1, with tulip clients and with `openssl s_client`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  PROTOCOL_TLS_CLIENT, PROTOCOL_TLS_SERVER, Protocol, SSLContext, SSLError, TLSVersion, create_default_context, new_event_loop, sleep,
  type AbstractEventLoop, type SSLObject, type Socket, type Transport,
} from '../src/index.js';
import { ALERT_DESCRIPTION_UNRECOGNIZED_NAME, type SniCallback } from '../src/ssl.js';
import { binding } from '../src/binding.js';
import { capture_logs, open_fds } from './support/backends.js';
import { make_certs } from './support/certs.js';

const certs = make_certs();
test.after(() => certs.cleanup());

function server_context(cert: string, key: string, alpn?: string[]): SSLContext {
  const ctx = new SSLContext(PROTOCOL_TLS_SERVER);
  ctx.load_cert_chain(cert, key);
  if (alpn) ctx.set_alpn_protocols(alpn);
  return ctx;
}

/** The server's default context (localhost) and the one for other.example. */
const localhost = (): SSLContext => server_context(certs.server_cert, certs.server_key);
const other = (alpn?: string[]): SSLContext => server_context(certs.other_cert, certs.other_key, alpn);

class Quiet extends Protocol {
  override data_received(): void {}
}

/** What one sni_callback call was given. */
interface Seen { name: string | null; context: SSLContext; ssl_object: SSLObject }

/** Serves `ctx` on a fresh loop, runs `body`, and checks that the loop is closed without leaking fds. */
function serving(ctx: SSLContext, body: (loop: AbstractEventLoop, port: number) => void): void {
  const before = open_fds();
  const loop = new_event_loop();
  try {
    const [sock] = loop.run_until_complete(loop.start_serving(() => new Quiet(), '127.0.0.1', 0, { ssl: ctx }));
    try {
      body(loop, ((sock as Socket).getsockname() as [string, number])[1]);
    } finally {
      loop.stop_serving(sock!);
      loop.run_until_complete(sleep(0.01));
    }
  } finally {
    loop.close();
  }
  assert.equal([...open_fds()].filter((fd) => !before.has(fd)), [], 'no fd leaked');
}

/** A verifying client handshake to `server_hostname` (sent as SNI unless it is an IP literal). */
function connect(loop: AbstractEventLoop, port: number, server_hostname: string, alpn?: string[], max_version?: number): Transport {
  const ctx = create_default_context(undefined, { cafile: certs.ca });
  if (alpn) ctx.set_alpn_protocols(alpn);
  if (max_version !== undefined) ctx.maximum_version = max_version;
  const [transport] = loop.run_until_complete(
    loop.create_connection(() => new Quiet(), '127.0.0.1', port, { ssl: ctx, server_hostname }), 10,
  );
  return transport;
}

function subject_cn(transport: Transport): string {
  const cert = transport.get_extra_info('peercert') as { subject: Array<Array<[string, string]>> };
  return cert.subject.flat().find(([k]) => k === 'commonName')![1];
}

test('the callback sees the name, and switching the context serves that name\'s certificate', () => {
  const seen: Seen[] = [];
  const ctx = localhost();
  const other_ctx = other();
  ctx.sni_callback = (ssl_object, name, context) => {
    seen.push({ name, context, ssl_object });
    if (name === 'other.example') ssl_object.context = other_ctx;
  };
  serving(ctx, (loop, port) => {
    const a = connect(loop, port, 'other.example'); // verifies other.example's certificate
    assert.is(subject_cn(a), 'other.example');
    const b = connect(loop, port, 'localhost');
    assert.is(subject_cn(b), 'localhost');
    const c = connect(loop, port, 'other.example', undefined, TLSVersion.TLSv1_2);
    assert.is(subject_cn(c), 'other.example');
    assert.is((c.get_extra_info('ssl_object') as SSLObject).version(), 'TLSv1.2');
    for (const t of [a, b, c]) t.close();
  });
  assert.equal(seen.map((s) => s.name), ['other.example', 'localhost', 'other.example']);
  assert.ok(seen.every((s) => s.context === ctx), 'the third argument is the context the server was started with');
  assert.is(seen[0]!.ssl_object.context, other_ctx);
  assert.is(seen[0]!.ssl_object.sni_hostname, 'other.example');
  assert.is(seen[1]!.ssl_object.context, ctx);
});

test('a client that sends no name (an IP literal) gives the callback null', () => {
  const names: Array<string | null> = [];
  const ctx = localhost();
  ctx.sni_callback = (_o, name) => void names.push(name);
  serving(ctx, (loop, port) => connect(loop, port, '127.0.0.1').close());
  assert.equal(names, [null]);
});

test('the switched-to context\'s ALPN list is the one that answers', () => {
  const ctx = localhost(); // no ALPN at all
  const h2 = other(['h2', 'http/1.1']);
  ctx.sni_callback = (o) => void (o.context = h2);
  serving(ctx, (loop, port) => {
    const t = connect(loop, port, 'other.example', ['http/1.1']);
    assert.is(t.get_extra_info('selected_alpn_protocol'), 'http/1.1');
    t.close();
  });
});

/** The client's handshake error, and what the server logged, when `callback` refuses. */
function refused(callback: SniCallback): [SSLError, string[]] {
  const ctx = localhost();
  ctx.sni_callback = callback;
  let error: unknown;
  const logs = capture_logs(() => {
    serving(ctx, (loop, port) => {
      try {
        connect(loop, port, 'unknown.example');
      } catch (e) {
        error = e;
      }
    });
  });
  assert.instance(error, SSLError);
  return [error as SSLError, logs.map((r) => r.message)];
}

test('returning an ALERT_DESCRIPTION_* refuses the handshake with that alert', () => {
  const [e, logs] = refused(() => ALERT_DESCRIPTION_UNRECOGNIZED_NAME);
  assert.match(e.reason ?? '', /UNRECOGNIZED_NAME/);
  assert.equal(logs.filter((m) => /sni_callback/.test(m)), []);
});

test('a callback that throws is logged, and the client gets a handshake failure', () => {
  const [e, logs] = refused(() => {
    throw new Error('no such site');
  });
  assert.match(e.reason ?? '', /HANDSHAKE_FAILURE/);
  assert.ok(logs.some((m) => /Error in the sni_callback/.test(m)), logs.join('\n'));
});

test('a callback that returns something else is logged, and the client gets an internal error', () => {
  const [e, logs] = refused(() => 'nope' as unknown as number);
  assert.match(e.reason ?? '', /INTERNAL_ERROR/);
  assert.ok(logs.some((m) => /sni_callback returned nope/.test(m)), logs.join('\n'));
});

test('sni_callback: a function or null, server contexts only; null stops the calls', () => {
  const ctx = localhost();
  assert.throws(() => (ctx.sni_callback = 'x' as unknown as SniCallback), TypeError);
  assert.throws(() => (new SSLContext(PROTOCOL_TLS_CLIENT).sni_callback = () => {}), RangeError);
  let calls = 0;
  ctx.set_servername_callback(() => void calls++);
  assert.type(ctx.sni_callback, 'function');
  ctx.sni_callback = null;
  serving(ctx, (loop, port) => connect(loop, port, 'localhost').close());
  assert.is(calls, 0);
  const ssl_object = (ctx as unknown as { _wrap(s: boolean, h: null): SSLObject })._wrap(true, null);
  assert.throws(() => (ssl_object.context = {} as SSLContext), TypeError);
  // The addon checks what it is given, whatever the TypeScript side does.
  const conn = ssl_object._conn!;
  const call = (f: (...a: any[]) => unknown, ...args: unknown[]) => () => f(...args);
  assert.throws(call(binding.tls_sni_done, conn, 256), (e: Error) => e instanceof RangeError && /tls_sni_done: alert/.test(e.message));
  assert.throws(call(binding.tls_sni_done, conn, '40'), TypeError);
  assert.throws(call(binding.tls_set_ctx, conn, conn), TypeError);
  assert.throws(call(binding.tls_set_ctx, ctx._handle, ctx._handle), TypeError);
  assert.throws(call(binding.tls_ctx_set_sni, ctx._handle, 1), TypeError);
  assert.is(binding.tls_sni_name(conn), null);
  ssl_object._free();
  assert.throws(() => (ssl_object.context = ctx), /connection is over/);
  assert.throws(call(binding.tls_sni_name, conn), /already freed/);
});

test('interop: openssl s_client asking for other.example gets its certificate', () => {
  const ctx = localhost();
  const other_ctx = other();
  ctx.sni_callback = (o, name) => void (name === 'other.example' && (o.context = other_ctx));
  serving(ctx, (loop, port) => {
    // s_client runs while our loop does not: it connects, its handshake waits in our listen queue until
    // the loop turns. So start it in the background with a shell, and turn the loop until it is done.
    const out = `${certs.dir}/sni.out`;
    const command = `openssl s_client -connect 127.0.0.1:${port} -servername other.example -CAfile ${certs.ca} -verify_return_error`;
    spawnSync('sh', ['-c', `(${command}; echo "exit $?") </dev/null >${out} 2>&1 &`]);
    const t0 = loop.time();
    let text = '';
    while (!/exit \d+/.test(text) && loop.time() - t0 < 10) {
      loop.run_until_complete(sleep(0.02));
      text = readFileSync(out, 'utf8');
    }
    assert.match(text, /subject=.*CN ?= ?other\.example/);
    assert.match(text, /Verify return code: 0 \(ok\)/);
    assert.match(text, /exit 0/);
  });
});

test.run();
