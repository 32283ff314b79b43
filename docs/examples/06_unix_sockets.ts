// docs/examples/06_unix_sockets.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Protocol, get_event_loop, type Transport } from 'tulip-ts';

class Echo extends Protocol {
  private t!: Transport;
  override connection_made(t: Transport): void { this.t = t; }
  override data_received(data: Buffer): void { this.t.write(data); }
}

class Client extends Protocol {
  override connection_made(t: Transport): void { t.write(Buffer.from('over a Unix socket')); }
  override data_received(data: Buffer): void { console.log('echoed:', data.toString()); loop.stop(); }
}

const dir = mkdtempSync(join(tmpdir(), 'tulip-'));
const path = join(dir, 'echo.sock');
const loop = get_event_loop();
const server = loop.run_until_complete(loop.create_unix_server(() => new Echo(), path));
const [transport] = loop.run_until_complete(loop.create_unix_connection(() => new Client(), path));
loop.run_forever();
transport.close();
server.close();
loop.run_until_complete(server.wait_closed());
loop.close();
rmSync(dir, { recursive: true });
