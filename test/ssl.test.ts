// TLS over real sockets on 127.0.0.1: tulip ↔ tulip (every selector backend), and interop with
// `openssl s_server` / `s_client` and Node's own `tls` in a child process; verification failures,
// garbage, timeouts, close_notify, flow control, bad configuration, and the addon's misuse guards.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CERT_REQUIRED, ConnectionAbortedError, ConnectionRefusedError, FileNotFoundError, Future, PROTOCOL_TLS_CLIENT, PROTOCOL_TLS_SERVER,
  Protocol, SSLCertVerificationError, SSLContext, SSLError, Socket, AF_INET, SOCK_STREAM, Task, create_default_context, sleep,
  type AbstractEventLoop, type Coroutine, type Transport,
} from '../src/index.js';
import { binding } from '../src/binding.js';
import { backends, open_fds } from './support/backends.js';
import { make_certs } from './support/certs.js';

const certs = make_certs();
test.after(() => certs.cleanup());

function server_context(opts: { cert?: string; key?: string; require_client?: boolean; alpn?: string[] } = {}): SSLContext {
  const ctx = new SSLContext(PROTOCOL_TLS_SERVER);
  ctx.load_cert_chain(opts.cert ?? certs.server_cert, opts.key ?? certs.server_key);
  if (opts.require_client) {
    ctx.verify_mode = CERT_REQUIRED;
    ctx.load_verify_locations(certs.ca);
  }
  if (opts.alpn) ctx.set_alpn_protocols(opts.alpn);
  return ctx;
}

function client_context(opts: { client_cert?: boolean; alpn?: string[] } = {}): SSLContext {
  const ctx = create_default_context(undefined, { cafile: certs.ca });
  if (opts.client_cert) ctx.load_cert_chain(certs.client_cert, certs.client_key);
  if (opts.alpn) ctx.set_alpn_protocols(opts.alpn);
  return ctx;
}

/** Echoes; remembers what the TLS layer told it. */
class Echo extends Protocol {
  transport!: Transport;
  eof = false;
  lost: Error | null | undefined = undefined;
  static last: Echo | null = null;
  constructor() {
    super();
    Echo.last = this;
  }
  override connection_made(t: Transport): void {
    this.transport = t;
  }
  override data_received(data: Buffer): void {
    this.transport.write(data);
  }
  override eof_received(): boolean {
    this.eof = true;
    return false;
  }
  override connection_lost(exc: Error | null): void {
    this.lost = exc;
  }
}

/** Collects until `expect` bytes arrived (then closes), or until the connection ends. */
class Collector extends Protocol {
  transport!: Transport;
  chunks: Buffer[] = [];
  size = 0;
  eof = false;
  done: Future<Buffer>;
  constructor(loop: AbstractEventLoop, private readonly expect = Infinity) {
    super();
    this.done = new Future<Buffer>({ loop });
  }
  override connection_made(t: Transport): void {
    this.transport = t;
  }
  override data_received(data: Buffer): void {
    assert.ok(Buffer.isBuffer(data));
    this.chunks.push(data);
    this.size += data.length;
    if (this.size >= this.expect) this.transport.close();
  }
  override eof_received(): boolean {
    this.eof = true;
    return false;
  }
  override connection_lost(exc: Error | null): void {
    if (exc) this.done.set_exception(exc);
    else this.done.set_result(Buffer.concat(this.chunks));
  }
}

/** Runs the loop until what `p` collected contains `text` (10 s at most), then checks that it does. */
function read_until(loop: AbstractEventLoop, p: Collector, text: string): void {
  const t0 = loop.time();
  while (!Buffer.concat(p.chunks).toString('latin1').includes(text) && loop.time() - t0 < 10) loop.run_until_complete(sleep(0.005));
  assert.match(Buffer.concat(p.chunks).toString('latin1'), text);
}

function port_of(sock: Socket): number {
  return (sock.getsockname() as [string, number])[1];
}

function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 0xff;
  return b;
}

function free_port(): number {
  const s = new Socket(AF_INET, SOCK_STREAM);
  s.bind(['127.0.0.1', 0]);
  const port = port_of(s);
  s.close();
  return port;
}

/** Runs `body` on a fresh loop and checks that it closed every fd it opened. */
function with_loop<T>(make_loop: () => AbstractEventLoop, body: (loop: AbstractEventLoop) => T): T {
  const before = open_fds();
  const loop = make_loop();
  const loop_fds = new Set([...open_fds()].filter((fd) => !before.has(fd)));
  try {
    const r = body(loop);
    loop.run_until_complete(sleep(0.01)); // let connection_lost callbacks run
    const leaked = [...open_fds()].filter((fd) => !before.has(fd) && !loop_fds.has(fd));
    assert.equal(leaked, [], 'fds leaked');
    return r;
  } finally {
    loop.close();
  }
}

function expect_error<E extends Error>(cls: new (...a: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (e) {
    if (e instanceof cls) return e;
    throw new Error(`expected ${cls.name}, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
  }
  throw new Error(`expected ${cls.name}, nothing was thrown`);
}

async function wait_exit(child: ChildProcess, ms = 10000): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const t = setTimeout(() => child.kill('SIGKILL'), ms);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(t);
  return code;
}

/** create_connection, retried while the peer (a child process) is not listening yet. */
function* connect_retry<P extends Protocol>(loop: AbstractEventLoop, factory: () => P, port: number, options: object): Coroutine<[Transport, P]> {
  for (let i = 0; ; i++) {
    try {
      return yield* loop.create_connection(factory, '127.0.0.1', port, options);
    } catch (e) {
      if (!(e instanceof ConnectionRefusedError) || i > 200) throw e;
      yield* sleep(0.05);
    }
  }
}

// ---- tulip ↔ tulip ---------------------------------------------------------------------------------------

for (const { name, make_loop } of backends) {
  test(`${name}: echo with verification on both sides, 1 MiB, then close_notify and connection_lost(null)`, () => {
    with_loop(make_loop, (loop) => {
      const server = loop.run_until_complete(loop.create_server(() => new Echo(), '127.0.0.1', 0, { ssl: server_context({ require_client: true }) }));
      const port = port_of(server.sockets![0]!);
      const data = pattern(1 << 20);
      const [t, p] = loop.run_until_complete(
        loop.create_connection(() => new Collector(loop, data.length), '127.0.0.1', port, { ssl: client_context({ client_cert: true }), server_hostname: 'localhost' }),
      );
      assert.equal((t.get_extra_info('cipher') as [string, string, number])[1], 'TLSv1.3');
      const cert = t.get_extra_info('peercert') as { subject: Array<Array<[string, string]>>; subjectAltName: Array<[string, string]> };
      assert.equal(cert.subject[0], [['commonName', 'localhost']]);
      assert.equal(cert.subjectAltName, [['DNS', 'localhost'], ['IP Address', '127.0.0.1']]);
      assert.ok(t.get_extra_info('sslcontext') instanceof SSLContext);
      assert.equal((t.get_extra_info('peername') as [string, number])[1], port);
      assert.ok(t.get_extra_info('socket') instanceof Socket);
      assert.is(t.can_write_eof(), false);
      t.write(data.subarray(0, 1000));
      t.writelines([data.subarray(1000, 5000), data.subarray(5000)]);
      const got = loop.run_until_complete(p.done);
      assert.ok(got.equals(data), 'echoed bytes differ');
      loop.run_until_complete(sleep(0.05));
      const srv = Echo.last!;
      const client_cert = srv.transport.get_extra_info('peercert') as { subject: Array<Array<[string, string]>> };
      assert.equal(client_cert.subject[0], [['commonName', 'tulip client']]);
      assert.is(srv.eof, true, 'the server saw the close_notify as EOF');
      assert.is(srv.lost, null);
      server.close();
      loop.run_until_complete(server.wait_closed());
    });
  });
}

/**
 * A line protocol that turns to TLS on a STARTTLS command: the plain half answers commands, then
 * start_tls() puts TLS under the same connection and the protocol goes on over the transport it returns.
 * As a server it speaks just enough SMTP for `openssl s_client -starttls smtp`: 220 greeting, EHLO, STARTTLS;
 * over TLS it answers one line with "echo: LINE" and closes.
 */
class StartTlsServer extends Protocol {
  plain!: Transport;
  tls: Transport | null = null;
  fd_before = -1;
  private lines = '';
  lost: Error | null | undefined = undefined;
  constructor(private readonly loop: AbstractEventLoop) {
    super();
  }
  override connection_made(t: Transport): void {
    this.plain = t;
    this.fd_before = (t.get_extra_info('socket') as Socket).fileno();
    t.write(Buffer.from('220 tulip ESMTP\r\n'));
  }
  override data_received(data: Buffer): void {
    if (this.tls !== null) {
      this.tls.write(Buffer.concat([Buffer.from('echo: '), data]));
      this.tls.close();
      return;
    }
    this.lines += data.toString('latin1');
    for (let i = this.lines.indexOf('\r\n'); i >= 0; i = this.lines.indexOf('\r\n')) {
      const line = this.lines.slice(0, i);
      this.lines = this.lines.slice(i + 2);
      if (/^EHLO/i.test(line)) this.plain.write(Buffer.from('250-tulip\r\n250 STARTTLS\r\n'));
      else if (/^STARTTLS/i.test(line)) {
        // Stop reading before the go-ahead: the client's first TLS record may follow at once.
        this.plain.pause_reading();
        this.plain.write(Buffer.from('220 go ahead\r\n'));
        const self = this;
        new Task((function* () {
          self.tls = yield* self.loop.start_tls(self.plain, self, server_context(), { server_side: true });
        })(), { loop: this.loop });
        return;
      } else this.plain.write(Buffer.from('500 what?\r\n'));
    }
  }
  override connection_lost(exc: Error | null): void {
    this.lost = exc;
  }
}

for (const { name, make_loop } of backends) {
  test(`${name}: start_tls upgrades a plain connection after STARTTLS; the same socket, verified, data both ways`, () => {
    with_loop(make_loop, (loop) => {
      let server_side: StartTlsServer | null = null;
      const server = loop.run_until_complete(loop.create_server(() => (server_side = new StartTlsServer(loop)), '127.0.0.1', 0));
      const port = port_of(server.sockets![0]!);
      // The client: a Collector that first reads the plain replies.
      const [plain, p] = loop.run_until_complete(loop.create_connection(() => new Collector(loop), '127.0.0.1', port));
      read_until(loop, p, '220 tulip');
      plain.write(Buffer.from('EHLO me\r\nSTARTTLS\r\n'));
      read_until(loop, p, '220 go ahead');
      p.chunks = [];
      const tls = loop.run_until_complete(loop.start_tls(plain, p, client_context(), { server_hostname: 'localhost' }));
      assert.ok(tls !== plain, 'a new transport');
      assert.is((tls.get_extra_info('socket') as Socket).fileno(), (plain.get_extra_info('socket') as Socket).fileno(), 'over the same socket');
      assert.equal((tls.get_extra_info('peercert') as { subject: Array<Array<[string, string]>> }).subject[0], [['commonName', 'localhost']]);
      assert.ok(Array.isArray(tls.get_extra_info('cipher')));
      p.transport = tls; // the Collector closes what it was given; from now on that is the TLS transport
      tls.write(Buffer.from('over TLS\r\n'));
      const got = loop.run_until_complete(p.done);
      assert.is(got.toString(), 'echo: over TLS\r\n', 'only decrypted bytes reached the protocol');
      assert.is(server_side!.fd_before, (server_side!.tls!.get_extra_info('socket') as Socket).fileno());
      loop.run_until_complete(sleep(0.05));
      assert.is(server_side!.lost, null, 'the server closed with close_notify');
      // Bad arguments are clear errors, before anything is touched.
      expect_error(TypeError, () => loop.run_until_complete(loop.start_tls(plain, p, {} as SSLContext)));
      expect_error(RangeError, () => loop.run_until_complete(loop.start_tls(plain, p, server_context(), { server_side: true, server_hostname: 'x' })));
      expect_error(RangeError, () => loop.run_until_complete(loop.start_tls(plain, p, client_context())));
      server.close();
      loop.run_until_complete(server.wait_closed());
    });
  });
}

test('start_tls: a failed handshake closes the connection and raises its error', () => {
  with_loop(() => backends[0]!.make_loop(), (loop) => {
    const server = loop.run_until_complete(loop.create_server(() => new StartTlsServer(loop), '127.0.0.1', 0));
    const port = port_of(server.sockets![0]!);
    const [plain, p] = loop.run_until_complete(loop.create_connection(() => new Collector(loop), '127.0.0.1', port));
    plain.write(Buffer.from('STARTTLS\r\n'));
    read_until(loop, p, '220 go ahead');
    // The server's certificate is for localhost and 127.0.0.1: another name fails verification.
    const e = expect_error(SSLCertVerificationError, () => loop.run_until_complete(loop.start_tls(plain, p, client_context(), { server_hostname: 'not-this-host' })));
    assert.match(e.message, /not-this-host|hostname/i);
    assert.ok(plain.is_closing(), 'the connection is closed');
    server.close();
    loop.run_until_complete(server.wait_closed());
  });
});

test('interop: openssl s_client -starttls smtp against a tulip server using start_tls', async () => {
  await with_loop_async(async (loop) => {
    let made: StartTlsServer | null = null;
    const [sock] = loop.run_until_complete(loop.start_serving(() => (made = new StartTlsServer(loop)), '127.0.0.1', 0));
    const input = join(certs.dir, 'starttls.in'), output = join(certs.dir, 'starttls.out');
    writeFileSync(input, 'ping\n');
    const fin = openSync(input, 'r'), fout = openSync(output, 'w');
    const child = spawn('openssl', ['s_client', '-starttls', 'smtp', '-connect', `127.0.0.1:${port_of(sock!)}`, '-CAfile', certs.ca, '-servername', 'localhost', '-verify_return_error', '-ign_eof'], { stdio: [fin, fout, fout] });
    closeSync(fin);
    closeSync(fout);
    try {
      const t0 = loop.time();
      while ((made === null || (made as StartTlsServer).lost === undefined) && loop.time() - t0 < 10) loop.run_until_complete(sleep(0.02));
      assert.is(made!.lost, null);
      assert.is(await wait_exit(child), 0);
      const out = readFileSync(output, 'utf8');
      assert.match(out, /echo: ping/);
      assert.match(out, /Verify return code: 0 \(ok\)/);
    } finally {
      child.kill();
      loop.stop_serving(sock!);
    }
  });
});

test('TLS over a Unix domain socket: create_unix_server / create_unix_connection with ssl', () => {
  with_loop(() => backends[0]!.make_loop(), (loop) => {
    const path = join(certs.dir, 'tls.sock');
    const server = loop.run_until_complete(loop.create_unix_server(() => new Echo(), path, { ssl: server_context() }));
    const data = pattern(300_000);
    const [t, p] = loop.run_until_complete(
      loop.create_unix_connection(() => new Collector(loop, data.length), path, { ssl: client_context(), server_hostname: 'localhost' }),
    );
    assert.equal((t.get_extra_info('cipher') as [string, string, number])[1], 'TLSv1.3');
    t.write(data);
    assert.ok(loop.run_until_complete(p.done).equals(data));
    server.close();
    loop.run_until_complete(server.wait_closed());
  });
});

test('ALPN is negotiated and the server sees the SNI name; ssl_object reports them', () => {
  with_loop(() => backends[0]!.make_loop(), (loop) => {
    const server = loop.run_until_complete(loop.create_server(() => new Echo(), '127.0.0.1', 0, { ssl: server_context({ alpn: ['h2', 'http/1.1'] }) }));
    const port = port_of(server.sockets![0]!);
    const [t, p] = loop.run_until_complete(
      loop.create_connection(() => new Collector(loop, 2), '127.0.0.1', port, { ssl: client_context({ alpn: ['foo', 'http/1.1'] }), server_hostname: 'localhost' }),
    );
    assert.is(t.get_extra_info('selected_alpn_protocol'), 'http/1.1');
    const obj = t.get_extra_info('ssl_object') as { version(): string; selected_alpn_protocol(): string; server_side: boolean };
    assert.is(obj.version(), 'TLSv1.3');
    assert.is(obj.server_side, false);
    t.write(Buffer.from('hi'));
    loop.run_until_complete(p.done);
    const srv = Echo.last!;
    assert.is(srv.transport.get_extra_info('server_hostname'), 'localhost');
    assert.is(srv.transport.get_extra_info('selected_alpn_protocol'), 'http/1.1');
    assert.equal(srv.transport.get_extra_info('peercert'), null, 'no client certificate was asked for');
    server.close();
  });
});

test('ssl: true verifies against the system CAs: a self-signed server fails with SSLCertVerificationError', () => {
  with_loop(() => backends[0]!.make_loop(), (loop) => {
    let made = 0;
    const server = loop.run_until_complete(
      loop.create_server(() => new (class extends Echo { override connection_made(t: Transport) { made++; super.connection_made(t); } })(), '127.0.0.1', 0, {
        ssl: server_context({ cert: certs.self_signed_cert, key: certs.self_signed_key }),
      }),
    );
    const port = port_of(server.sockets![0]!);
    const e = expect_error(SSLCertVerificationError, () =>
      loop.run_until_complete(loop.create_connection(() => new Protocol(), '127.0.0.1', port, { ssl: true, server_hostname: 'localhost' })),
    );
    assert.ok(e instanceof SSLError);
    assert.is(e.reason, 'CERTIFICATE_VERIFY_FAILED');
    assert.is(e.library, 'SSL');
    assert.is(e.verify_code, 18); // X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    assert.match(e.message, /certificate verify failed: self.signed certificate/);
    loop.run_until_complete(sleep(0.05));
    assert.is(made, 0, 'the server application never saw the failed connection');
    server.close();
  });
});

test('a certificate for another host name fails hostname checking (and an IP is checked as an IP)', () => {
  with_loop(() => backends[0]!.make_loop(), (loop) => {
    const server = loop.run_until_complete(loop.create_server(() => new Echo(), '127.0.0.1', 0, { ssl: server_context({ cert: certs.other_cert, key: certs.other_key }) }));
    const port = port_of(server.sockets![0]!);
    const e = expect_error(SSLCertVerificationError, () =>
      loop.run_until_complete(loop.create_connection(() => new Protocol(), '127.0.0.1', port, { ssl: client_context(), server_hostname: 'localhost' })),
    );
    assert.is(e.verify_code, 62);
    assert.match(e.message, /Hostname mismatch, certificate is not valid for 'localhost'/);
    // server_hostname defaults to host: '127.0.0.1' is checked against the IP SANs (there are none).
    const e2 = expect_error(SSLCertVerificationError, () =>
      loop.run_until_complete(loop.create_connection(() => new Protocol(), '127.0.0.1', port, { ssl: client_context() })),
    );
    assert.is(e2.verify_code, 64);
    assert.match(e2.message, /IP address mismatch/);
    server.close();
  });
});

test('server_hostname defaults to host: 127.0.0.1 matches the IP SAN', () => {
  with_loop(() => backends[0]!.make_loop(), (loop) => {
    const server = loop.run_until_complete(loop.create_server(() => new Echo(), '127.0.0.1', 0, { ssl: server_context() }));
    const [t, p] = loop.run_until_complete(loop.create_connection(() => new Collector(loop, 3), '127.0.0.1', port_of(server.sockets![0]!), { ssl: client_context() }));
    t.write(Buffer.from('abc'));
    assert.is(String(loop.run_until_complete(p.done)), 'abc');
    server.close();
  });
});

// ---- garbage, timeouts, flow control -------------------------------------------------------------------

class Sender extends Protocol {
  constructor(private readonly bytes: Buffer | null, private readonly lost?: Future<Error | null>) {
    super();
  }
  override connection_made(t: Transport): void {
    if (this.bytes) t.write(this.bytes);
  }
  override connection_lost(exc: Error | null): void {
    if (this.lost && !this.lost.done()) this.lost.set_result(exc);
  }
}

test('garbage from a raw server fails create_connection with an SSLError; no hang', () => {
  with_loop(() => backends[0]!.make_loop(), (loop) => {
    const garbage = Buffer.from('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    const [sock] = loop.run_until_complete(loop.start_serving(() => new Sender(garbage), '127.0.0.1', 0));
    const e = expect_error(SSLError, () =>
      loop.run_until_complete(loop.create_connection(() => new Protocol(), '127.0.0.1', port_of(sock!), { ssl: client_context(), server_hostname: 'localhost' })),
    );
    assert.match(e.message, /^\[SSL: [A-Z_]+\]/);
    loop.stop_serving(sock!);
  });
});

test('garbage from a raw client: the TLS server drops the connection, its application sees nothing', () => {
  with_loop(() => backends[0]!.make_loop(), (loop) => {
    let made = 0;
    const [sock] = loop.run_until_complete(loop.start_serving(() => new (class extends Protocol { override connection_made() { made++; } })(), '127.0.0.1', 0, { ssl: server_context() }));
    const lost = new Future<Error | null>({ loop });
    loop.run_until_complete(loop.create_connection(() => new Sender(Buffer.alloc(300, 0x41), lost), '127.0.0.1', port_of(sock!)));
    loop.run_until_complete(lost);
    assert.is(made, 0);
    loop.stop_serving(sock!);
  });
});

test('garbage after the handshake ends in connection_lost(SSLError)', () => {
  with_loop(() => backends[0]!.make_loop(), (loop) => {
    const server = loop.run_until_complete(loop.create_server(() => new Echo(), '127.0.0.1', 0, { ssl: server_context() }));
    const [t, p] = loop.run_until_complete(loop.create_connection(() => new Collector(loop), '127.0.0.1', port_of(server.sockets![0]!), { ssl: client_context(), server_hostname: 'localhost' }));
    // Under the TLS layer: write junk straight to the socket, as a broken peer would.
    const raw = t.get_extra_info('socket') as Socket;
    binding.send(raw.fileno(), Buffer.alloc(64, 0x17), 0, 64, 0);
    const lost = expect_error(SSLError, () => loop.run_until_complete(p.done));
    assert.ok(lost.reason !== null);
    server.close();
  });
});

test('ssl_handshake_timeout: a silent server ends create_connection with ConnectionAbortedError', () => {
  with_loop(() => backends[0]!.make_loop(), (loop) => {
    const [sock] = loop.run_until_complete(loop.start_serving(() => new Protocol(), '127.0.0.1', 0));
    const t0 = loop.time();
    const e = expect_error(ConnectionAbortedError, () =>
      loop.run_until_complete(loop.create_connection(() => new Protocol(), '127.0.0.1', port_of(sock!), { ssl: client_context(), server_hostname: 'localhost', ssl_handshake_timeout: 0.2 })),
    );
    assert.match(e.message, /SSL handshake is taking longer than 0.2 seconds/);
    assert.ok(loop.time() - t0 < 2);
    loop.stop_serving(sock!);
  });
});

test('a server handshake timeout closes a silent client', () => {
  with_loop(() => backends[0]!.make_loop(), (loop) => {
    const [sock] = loop.run_until_complete(loop.start_serving(() => new Protocol(), '127.0.0.1', 0, { ssl: server_context(), ssl_handshake_timeout: 0.1 }));
    const lost = new Future<Error | null>({ loop });
    loop.run_until_complete(loop.create_connection(() => new Sender(null, lost), '127.0.0.1', port_of(sock!)));
    loop.run_until_complete(lost);
    loop.stop_serving(sock!);
  });
});

test('flow control: pause_writing when the peer stops reading, resume_writing when it drains; pause/resume reading', () => {
  with_loop(() => backends[0]!.make_loop(), (loop) => {
    let server_t: Transport | null = null;
    let received = 0;
    const server = loop.run_until_complete(loop.create_server(() => new (class extends Protocol {
      override connection_made(t: Transport) {
        server_t = t;
        t.pause_reading();
      }
      override data_received(d: Buffer) {
        received += d.length;
      }
    })(), '127.0.0.1', 0, { ssl: server_context() }));
    const events: string[] = [];
    const [t] = loop.run_until_complete(loop.create_connection(() => new (class extends Protocol {
      override pause_writing() { events.push('pause'); }
      override resume_writing() { events.push('resume'); }
    })(), '127.0.0.1', port_of(server.sockets![0]!), { ssl: client_context(), server_hostname: 'localhost' }));
    t.set_write_buffer_limits(64 * 1024);
    const chunk = pattern(64 * 1024);
    for (let i = 0; i < 200 && events.length === 0; i++) {
      t.write(chunk);
      loop.run_until_complete(sleep(0.001));
    }
    assert.equal(events, ['pause']);
    assert.ok(t.get_write_buffer_size() > 0);
    const sent = received;
    loop.run_until_complete(sleep(0.02));
    assert.is(received, sent, 'a paused reader receives nothing');
    server_t!.resume_reading();
    for (let i = 0; i < 500 && events.length < 2; i++) loop.run_until_complete(sleep(0.005));
    assert.equal(events, ['pause', 'resume']);
    t.close();
    loop.run_until_complete(sleep(0.05));
    server.close();
  });
});

// ---- interop ----------------------------------------------------------------------------------------------

test('interop: tulip client against openssl s_server (-rev)', async () => {
  const port = free_port();
  const child = spawn('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', certs.server_cert, '-key', certs.server_key, '-rev', '-naccept', '1', '-quiet'], { stdio: 'ignore' });
  try {
    with_loop(() => backends[0]!.make_loop(), (loop) => {
      const [t, p] = loop.run_until_complete(connect_retry(loop, () => new Collector(loop, 6), port, { ssl: client_context(), server_hostname: 'localhost' }));
      t.write(Buffer.from('hello\n'));
      assert.is(String(loop.run_until_complete(p.done)), 'olleh\n');
    });
  } finally {
    child.kill();
    await wait_exit(child);
  }
});

test('interop: openssl s_client against a tulip server; the server closes with close_notify', async () => {
  await with_loop_async(async (loop) => {
    let lost: Error | null | undefined;
    const [sock] = loop.run_until_complete(loop.start_serving(() => new (class extends Protocol {
      t!: Transport;
      override connection_made(t: Transport) { this.t = t; }
      override data_received(d: Buffer) {
        this.t.write(Buffer.concat([Buffer.from('echo: '), d]));
        this.t.close();
      }
      override connection_lost(exc: Error | null) { lost = exc; }
    })(), '127.0.0.1', 0, { ssl: server_context() }));
    const input = join(certs.dir, 'sclient.in'), output = join(certs.dir, 'sclient.out');
    writeFileSync(input, 'ping\n');
    const fin = openSync(input, 'r'), fout = openSync(output, 'w');
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port_of(sock!)}`, '-CAfile', certs.ca, '-servername', 'localhost', '-verify_return_error', '-state', '-ign_eof'], { stdio: [fin, fout, fout] });
    closeSync(fin);
    closeSync(fout);
    try {
      const t0 = loop.time();
      while (lost === undefined && loop.time() - t0 < 10) loop.run_until_complete(sleep(0.02));
      assert.is(lost, null);
      assert.is(await wait_exit(child), 0);
      const out = readFileSync(output, 'utf8');
      assert.match(out, /echo: ping/);
      assert.match(out, /Verify return code: 0 \(ok\)/);
      assert.match(out, /alert read:warning:close notify/);
    } finally {
      child.kill();
      loop.stop_serving(sock!);
    }
  });
});

async function with_loop_async(body: (loop: AbstractEventLoop) => Promise<void>): Promise<void> {
  const loop = backends[0]!.make_loop();
  try {
    await body(loop);
  } finally {
    loop.close();
  }
}

const NODE_TLS_SERVER = `
const tls = require('node:tls'), fs = require('node:fs');
const [cert, key] = process.argv.slice(1);
const server = tls.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key), ALPNProtocols: ['x-tulip'] }, (s) => {
  s.on('data', (d) => s.write(Buffer.concat([Buffer.from(s.servername + '|'), d])));
  s.on('end', () => { s.end(); server.close(); });
});
server.listen({ fd: 3 });
`;

test("interop: tulip client against Node's tls server (listening on an inherited fd)", async () => {
  const listener = new Socket(AF_INET, SOCK_STREAM);
  listener.bind(['127.0.0.1', 0]);
  listener.listen(8);
  const port = port_of(listener);
  const child = spawn(process.execPath, ['-e', NODE_TLS_SERVER, certs.server_cert, certs.server_key], { stdio: ['ignore', 'inherit', 'inherit', listener.fileno()] });
  listener.close();
  try {
    with_loop(() => backends[0]!.make_loop(), (loop) => {
      const ctx = client_context({ alpn: ['x-tulip'] });
      const [t, p] = loop.run_until_complete(loop.create_connection(() => new Collector(loop, 15), '127.0.0.1', port, { ssl: ctx, server_hostname: 'localhost' }));
      assert.is(t.get_extra_info('selected_alpn_protocol'), 'x-tulip');
      t.write(Buffer.from('hello'));
      assert.is(String(loop.run_until_complete(p.done)), 'localhost|hello');
    });
    assert.is(await wait_exit(child), 0);
  } finally {
    child.kill();
  }
});

const NODE_TLS_CLIENT = `
const tls = require('node:tls'), fs = require('node:fs');
const [port, ca] = process.argv.slice(1);
const s = tls.connect({ port: +port, host: '127.0.0.1', servername: 'localhost', ca: fs.readFileSync(ca) }, () => s.write('from node'));
let got = '';
s.on('data', (d) => { got += d; if (got.length >= 9) s.end(); });
s.on('end', () => { process.stdout.write('got:' + got + ' authorized:' + s.authorized); });
s.on('error', (e) => { process.stdout.write('error:' + e.message); process.exitCode = 1; });
`;

test("interop: Node's tls client against a tulip server", async () => {
  const out = join(certs.dir, 'node_client.out');
  await with_loop_async(async (loop) => {
    let lost: Error | null | undefined;
    const [sock] = loop.run_until_complete(loop.start_serving(() => new (class extends Echo {
      override connection_lost(exc: Error | null) { lost = exc; }
    })(), '127.0.0.1', 0, { ssl: server_context() }));
    const fout = openSync(out, 'w');
    const child = spawn(process.execPath, ['-e', NODE_TLS_CLIENT, String(port_of(sock!)), certs.ca], { stdio: ['ignore', fout, fout] });
    closeSync(fout);
    try {
      const t0 = loop.time();
      while (lost === undefined && loop.time() - t0 < 10) loop.run_until_complete(sleep(0.02));
      assert.is(lost, null);
      assert.is(await wait_exit(child), 0);
      assert.is(readFileSync(out, 'utf8'), 'got:from node authorized:true');
    } finally {
      child.kill();
      loop.stop_serving(sock!);
    }
  });
});

// ---- configuration errors ------------------------------------------------------------------------------

test('load_cert_chain: a missing file is FileNotFoundError; a wrong password an SSLError; the right one works', () => {
  const ctx = new SSLContext(PROTOCOL_TLS_SERVER);
  const e = expect_error(FileNotFoundError, () => ctx.load_cert_chain(join(certs.dir, 'nope.pem')));
  assert.is(e.errno, 2);
  expect_error(FileNotFoundError, () => ctx.load_cert_chain(certs.server_cert, join(certs.dir, 'nope.key')));
  const w = expect_error(SSLError, () => ctx.load_cert_chain(certs.server_cert, certs.server_key_encrypted, 'wrong'));
  assert.match(w.message, /wrong password/);
  const n = expect_error(SSLError, () => ctx.load_cert_chain(certs.server_cert, certs.server_key_encrypted));
  assert.match(n.message, /encrypted/);
  ctx.load_cert_chain(certs.server_cert, certs.server_key_encrypted, certs.password);
  ctx.load_cert_chain(certs.server_cert, certs.server_key_encrypted, () => Buffer.from(certs.password));
  const m = expect_error(SSLError, () => ctx.load_cert_chain(certs.server_cert, certs.other_key));
  assert.match(m.message, /KEY_VALUES_MISMATCH|key values mismatch/i);
  expect_error(FileNotFoundError, () => ctx.load_verify_locations(join(certs.dir, 'nope.pem')));
  const pem = readFileSync(certs.ca, 'utf8');
  ctx.load_verify_locations(null, null, pem);
  expect_error(SSLError, () => ctx.load_verify_locations(null, null, 'not a certificate'));
});

test('SSLContext rules: defaults, check_hostname and verify_mode, set_ciphers, versions', () => {
  const c = new SSLContext(PROTOCOL_TLS_CLIENT);
  assert.is(c.verify_mode, CERT_REQUIRED);
  assert.is(c.check_hostname, true);
  expect_error(RangeError, () => (c.verify_mode = 0));
  c.check_hostname = false;
  c.verify_mode = 0;
  c.check_hostname = true;
  assert.is(c.verify_mode, CERT_REQUIRED);
  const s = new SSLContext(PROTOCOL_TLS_SERVER);
  assert.is(s.verify_mode, 0);
  assert.is(s.check_hostname, false);
  s.set_ciphers('ECDHE+AESGCM');
  expect_error(SSLError, () => s.set_ciphers('NO-SUCH-CIPHER'));
  expect_error(RangeError, () => s.set_alpn_protocols(['']));
  s.minimum_version = 0x0304;
  assert.is(s.minimum_version, 0x0304);
  expect_error(RangeError, () => new SSLContext(99));
  expect_error(RangeError, () => s._wrap(false, 'x'));
  expect_error(RangeError, () => c._wrap(false, null));
  const d = create_default_context();
  assert.is(d.verify_mode, CERT_REQUIRED);
});

test('network options: server_hostname or ssl_handshake_timeout without ssl, ssl: true for a server', () => {
  with_loop(() => backends[0]!.make_loop(), (loop) => {
    expect_error(RangeError, () => loop.run_until_complete(loop.create_connection(() => new Protocol(), '127.0.0.1', 1, { server_hostname: 'x' })));
    expect_error(RangeError, () => loop.run_until_complete(loop.create_connection(() => new Protocol(), '127.0.0.1', 1, { ssl_handshake_timeout: 1 })));
    expect_error(RangeError, () => loop.run_until_complete(loop.create_connection(() => new Protocol(), '127.0.0.1', 1, { ssl: true, ssl_handshake_timeout: -1 })));
    expect_error(TypeError, () => loop.run_until_complete(loop.start_serving(() => new Protocol(), '127.0.0.1', 0, { ssl: true as unknown as SSLContext })));
    expect_error(TypeError, () => loop.run_until_complete(loop.create_connection(() => new Protocol(), '127.0.0.1', 1, { ssl: 'yes' as unknown as boolean })));
  });
});

test('write after close is dropped; write_eof is NotImplementedError; abort gives connection_lost(null)', () => {
  with_loop(() => backends[0]!.make_loop(), (loop) => {
    const server = loop.run_until_complete(loop.create_server(() => new Echo(), '127.0.0.1', 0, { ssl: server_context() }));
    const [t, p] = loop.run_until_complete(loop.create_connection(() => new Collector(loop), '127.0.0.1', port_of(server.sockets![0]!), { ssl: client_context(), server_hostname: 'localhost' }));
    assert.throws(() => t.write_eof(), /half-close/);
    assert.throws(() => t.write('text' as unknown as Uint8Array), /encode/);
    t.abort();
    assert.is(t.is_closing(), true);
    t.write(Buffer.from('dropped'));
    assert.equal(loop.run_until_complete(p.done), Buffer.alloc(0));
    server.close();
  });
});

test('the addon: freed and foreign objects are clear errors, never a crash', () => {
  const ctx = binding.tls_ctx_new(1);
  const conn = binding.tls_new(ctx, false, 'localhost', true);
  binding.tls_ctx_free(ctx); // the connection keeps the SSL_CTX alive
  assert.is(binding.tls_handshake(conn), -2); // WANT_READ: the ClientHello is out
  assert.ok(binding.tls_take_out(conn)!.length > 100);
  binding.tls_free(conn);
  binding.tls_free(conn);
  assert.throws(() => binding.tls_handshake(conn), /already freed/);
  assert.throws(() => binding.tls_ctx_set_verify(ctx, 0), /already freed/);
  assert.throws(() => binding.tls_handshake(ctx as never), TypeError);
  assert.throws(() => binding.tls_handshake({} as never), TypeError);
  assert.throws(() => binding.tls_ctx_new(7), RangeError);
  const c2 = binding.tls_ctx_new(0);
  assert.throws(() => binding.tls_feed(binding.tls_new(c2, true, null, false), Buffer.alloc(4), 2, 4), RangeError);
});

test.run();
