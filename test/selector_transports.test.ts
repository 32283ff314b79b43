// Where a stream transport's received bytes live (ReadSlab in src/selector_transports.ts): small reads are
// copied out of the shared slab and large ones are handed out as views of it, and either way the protocol
// owns what it is given. Also the one process-wide setting the slabs make, and when they leave it alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Future, Protocol, new_event_loop, type Transport } from '../src/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');

/** Keeps every Buffer it is given, and acknowledges each with the total so far (4 bytes). */
class Keeper extends Protocol {
  readonly kept: Buffer[] = [];
  private transport!: Transport;
  private total = 0;
  override connection_made(transport: Transport): void {
    this.transport = transport;
  }
  override data_received(data: Buffer): void {
    this.kept.push(data);
    this.total += data.length;
    const ack = Buffer.alloc(4);
    ack.writeUInt32BE(this.total);
    this.transport.write(ack);
  }
}

/** Sends each message once the server has acknowledged all bytes of the one before, so that each arrives
 * as a read of its own (a small one copied, a large one a view), then resolves when all are acknowledged. */
class Sender extends Protocol {
  private transport!: Transport;
  private sent = 0;
  private acked = Buffer.alloc(0);
  constructor(private readonly messages: Buffer[], private readonly done: () => void) {
    super();
  }
  override connection_made(transport: Transport): void {
    this.transport = transport;
    this.next();
  }
  override data_received(data: Buffer): void {
    this.acked = Buffer.concat([this.acked, data]);
    const expected = this.messages.slice(0, this.sent).reduce((n, m) => n + m.length, 0);
    if (this.acked.length >= 4 && this.acked.readUInt32BE(this.acked.length - 4) === expected) this.next();
  }
  private next(): void {
    const message = this.messages[this.sent++];
    if (message === undefined) this.done();
    else this.transport.write(message);
  }
}

test('kept Buffers stay intact while later reads reuse and replace the slabs', () => {
  const loop = new_event_loop();
  try {
    // 40 messages alternating 100 B and 150 KiB, 3 MiB in all: several slabs, each message with its own bytes.
    const messages = Array.from({ length: 40 }, (_, i) => {
      const m = Buffer.alloc(i % 2 === 0 ? 100 : 150 * 1024);
      for (let j = 0; j < m.length; j++) m[j] = (i * 31 + j) & 0xff;
      return m;
    });
    let keeper!: Keeper;
    const [server] = loop.run_until_complete(loop.start_serving(() => (keeper = new Keeper()), '127.0.0.1', 0));
    const port = (server!.getsockname() as [string, number])[1];
    const finished = new Future<null>({ loop });
    const [client] = loop.run_until_complete(
      loop.create_connection(() => new Sender(messages, () => finished.set_result(null)), '127.0.0.1', port),
    );
    loop.run_until_complete(finished, 30);
    assert.ok(keeper.kept.length >= messages.length, `${keeper.kept.length} reads for ${messages.length} messages`);
    assert.ok(keeper.kept.some((b) => b.length === 100), 'a small message arrived as a read of its own');
    assert.ok(Buffer.concat(keeper.kept).equals(Buffer.concat(messages)), 'every kept byte is the byte sent');
    client.close();
    loop.stop_serving(server!);
    loop.run_until_complete((function* () { yield; yield; })());
  } finally {
    loop.close();
  }
});

/** ReadSlab.retained in a fresh process whose environment has `extra` and no malloc settings of ours. */
function retained_with(extra: Record<string, string>): string {
  const env: Record<string, string | undefined> = { ...process.env, ...extra };
  for (const name of ['GLIBC_TUNABLES', 'MALLOC_TRIM_THRESHOLD_', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TOP_PAD_']) {
    if (!(name in extra)) delete env[name];
  }
  const script = "import('./src/selector_transports.ts').then((m) => console.log(m.ReadSlab.retained))";
  const r = spawnSync(process.execPath, [tsx, '-e', script], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('malloc is told to keep freed slabs, unless the environment tunes malloc itself', () => {
  const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;
  const applies = String(glibc !== undefined);
  assert.is(retained_with({}), applies);
  assert.is(retained_with({ GLIBC_TUNABLES: 'glibc.cpu.hwcap_mask=0' }), applies, 'a tunable that is not malloc\'s');
  assert.is(retained_with({ GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=0' }), 'false');
  assert.is(retained_with({ MALLOC_TRIM_THRESHOLD_: '0' }), 'false');
  assert.is(retained_with({ MALLOC_TOP_PAD_: '0' }), 'false');
});

test.run();
