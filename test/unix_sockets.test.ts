// Unix domain sockets: create_unix_connection / create_unix_server (coroutines/network.ts) in a temp dir,
// on every selector backend: echo, errors as the OS reports them, stale socket files, and fd leaks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConnectionRefusedError, FileNotFoundError, Future, OSError, Protocol, Socket,
  AF_INET, AF_UNIX, SOCK_STREAM, type AbstractEventLoop, type Transport,
} from '../src/index.js';
import { backends, open_fds } from './support/backends.js';

class Echo extends Protocol {
  transport!: Transport;
  override connection_made(t: Transport): void {
    this.transport = t;
  }
  override data_received(data: Buffer): void {
    this.transport.write(data);
  }
}

class Collector extends Protocol {
  transport!: Transport;
  chunks: Buffer[] = [];
  done: Future<Buffer>;
  constructor(loop: AbstractEventLoop) {
    super();
    this.done = new Future<Buffer>({ loop });
  }
  override connection_made(t: Transport): void {
    this.transport = t;
  }
  override data_received(data: Buffer): void {
    this.chunks.push(Buffer.from(data));
  }
  override connection_lost(exc: Error | null): void {
    if (exc) this.done.set_exception(exc);
    else this.done.set_result(Buffer.concat(this.chunks));
  }
}

function with_dir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'tulip-unix-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function turns(n: number) {
  return (function* () {
    for (let i = 0; i < n; i++) yield;
  })();
}

for (const { name, make_loop } of backends) {
  test(`${name}: echo over a Unix domain socket; close leaves no fd behind`, () => with_dir((dir) => {
    const loop = make_loop();
    const before = open_fds();
    try {
      const path = join(dir, 'echo.sock');
      const server = loop.run_until_complete(loop.create_unix_server(() => new Echo(), path));
      assert.ok(lstatSync(path).isSocket());
      assert.is(server.sockets![0]!.getsockname(), path);
      const [transport, client] = loop.run_until_complete(loop.create_unix_connection(() => new Collector(loop), path));
      assert.is(transport.get_extra_info('peername'), path);
      assert.ok((transport.get_extra_info('socket') as Socket).family === AF_UNIX);
      const data = Buffer.alloc(300_000, 'u');
      transport.write(data);
      transport.write_eof();
      const got = loop.run_until_complete(client.done, 10);
      assert.ok(got.equals(data), 'echoed byte-exact');
      server.close();
      loop.run_until_complete(server.wait_closed(), 5);
      loop.run_until_complete(turns(3));
      assert.equal([...open_fds()].filter((fd) => !before.has(fd)), [], 'no fd leaked');
    } finally {
      loop.close();
    }
  }));
}

test('server close keeps the socket file; a new server on the path replaces that stale file', () => with_dir((dir) => {
  const loop = backends[0]!.make_loop();
  try {
    const path = join(dir, 's.sock');
    const first = loop.run_until_complete(loop.create_unix_server(() => new Echo(), path));
    first.close();
    assert.ok(existsSync(path), 'close() removes nothing (asyncio before 3.13)');
    // Without the stale-file removal this bind would fail with EADDRINUSE (asyncio 3.4's behaviour).
    const second = loop.run_until_complete(loop.create_unix_server(() => new Echo(), path));
    const [t, c] = loop.run_until_complete(loop.create_unix_connection(() => new Collector(loop), path));
    t.write(Buffer.from('again'));
    t.write_eof();
    assert.is(loop.run_until_complete(c.done, 5).toString(), 'again');
    second.close();
    assert.ok(existsSync(join(dir)), 'the directory is untouched');
  } finally {
    loop.close();
  }
}));

test('a regular file at the path is never removed: EADDRINUSE', () => with_dir((dir) => {
  const loop = backends[0]!.make_loop();
  const before = open_fds();
  try {
    const path = join(dir, 'precious.txt');
    writeFileSync(path, 'keep me');
    try {
      loop.run_until_complete(loop.create_unix_server(() => new Echo(), path));
      assert.unreachable('bound over a regular file');
    } catch (e) {
      assert.ok(e instanceof OSError, String(e));
      assert.is((e as OSError).code, 'EADDRINUSE');
      assert.match((e as Error).message, 'already in use');
    }
    assert.ok(lstatSync(path).isFile(), 'the file is still there');
    assert.equal([...open_fds()].filter((fd) => !before.has(fd)), []);
  } finally {
    loop.close();
  }
}));

test('connecting to a missing path -> FileNotFoundError; to a socket file nobody listens on -> ConnectionRefusedError', () => with_dir((dir) => {
  const loop = backends[0]!.make_loop();
  const before = open_fds();
  try {
    const missing = join(dir, 'nobody.sock');
    try {
      loop.run_until_complete(loop.create_unix_connection(() => new Protocol(), missing));
      assert.unreachable();
    } catch (e) {
      assert.ok(e instanceof FileNotFoundError, String(e));
      assert.match((e as Error).message, missing);
    }
    // A socket file left by a socket that is bound but not listening (as after a crash).
    const dead = join(dir, 'dead.sock');
    const s = new Socket(AF_UNIX, SOCK_STREAM);
    s.bind(dead);
    s.close();
    try {
      loop.run_until_complete(loop.create_unix_connection(() => new Protocol(), dead));
      assert.unreachable();
    } catch (e) {
      assert.ok(e instanceof ConnectionRefusedError, String(e));
    }
    assert.equal([...open_fds()].filter((fd) => !before.has(fd)), []);
  } finally {
    loop.close();
  }
}));

test('a path longer than sun_path -> a clear RangeError, no fd leaked', () => {
  const loop = backends[0]!.make_loop();
  const before = open_fds();
  try {
    const long = join(tmpdir(), 'x'.repeat(200) + '.sock');
    assert.throws(() => loop.run_until_complete(loop.create_unix_server(() => new Echo(), long)), /AF_UNIX path is too long \(\d+ bytes, limit 107\)/);
    assert.throws(() => loop.run_until_complete(loop.create_unix_connection(() => new Protocol(), long)), /AF_UNIX path is too long/);
    assert.equal([...open_fds()].filter((fd) => !before.has(fd)), []);
  } finally {
    loop.close();
  }
});

test('sock= instead of a path; wrong arguments are refused clearly; ssl is not available yet', () => with_dir((dir) => {
  const loop = backends[0]!.make_loop();
  try {
    const path = join(dir, 'bysock.sock');
    const listener = new Socket(AF_UNIX, SOCK_STREAM);
    listener.bind(path);
    const server = loop.run_until_complete(loop.create_unix_server(() => new Echo(), null, { sock: listener, backlog: 5 }));
    assert.is(server.sockets![0], listener);
    const conn = new Socket(AF_UNIX, SOCK_STREAM);
    loop.run_until_complete(loop.sock_connect(conn, path));
    const [t, c] = loop.run_until_complete(loop.create_unix_connection(() => new Collector(loop), null, { sock: conn }));
    t.write(Buffer.from('via sock'));
    t.write_eof();
    assert.is(loop.run_until_complete(c.done, 5).toString(), 'via sock');
    server.close();

    assert.throws(() => loop.run_until_complete(loop.create_unix_connection(() => new Protocol())), /no path and sock/);
    assert.throws(() => loop.run_until_complete(loop.create_unix_server(() => new Protocol())), /no sock/);
    const tcp = new Socket(AF_INET, SOCK_STREAM);
    try {
      assert.throws(() => loop.run_until_complete(loop.create_unix_connection(() => new Protocol(), null, { sock: tcp })), /UNIX Domain Stream Socket was expected/);
    } finally {
      tcp.close();
    }
    // TLS over a Unix socket needs a name to check the certificate against, and a server its context.
    assert.throws(() => loop.run_until_complete(loop.create_unix_connection(() => new Protocol(), path, { ssl: true })), /must set server_hostname/);
    assert.throws(() => loop.run_until_complete(loop.create_unix_server(() => new Protocol(), path, { ssl: true as never })), (e: unknown) => e instanceof TypeError && /SSLContext/.test(String(e)));
  } finally {
    loop.close();
  }
}));

test('many concurrent Unix connections through one server', () => with_dir((dir) => {
  const loop = backends[0]!.make_loop();
  try {
    const path = join(dir, 'many.sock');
    const server = loop.run_until_complete(loop.create_unix_server(() => new Echo(), path, { backlog: 128 }));
    function* one(i: number) {
      const [t, c] = yield* loop.create_unix_connection(() => new Collector(loop), path);
      const msg = Buffer.from(`message ${i} `.repeat(i + 1));
      t.write(msg);
      t.write_eof();
      return (yield* c.done).equals(msg);
    }
    const tasks = Array.from({ length: 50 }, (_, i) => loop.create_task(one(i)));
    for (const task of tasks) assert.ok(loop.run_until_complete(task, 10));
    server.close();
    loop.run_until_complete(server.wait_closed(), 5);
  } finally {
    loop.close();
  }
}));

test.run();
