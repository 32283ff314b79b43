// examples/tcp_protocol_parser.ts as a smoke test: server and client as real programs over 127.0.0.1,
// talking the example's line protocol through StreamBuffer parsers on both sides.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { kill_all, start, type Program } from './support/program.js';

const MESSAGE = 'This is the message. It will be echoed.';

test('tcp_protocol_parser: ping/pong, text echoed with "Re: ", stop; SIGINT stops the server', async () => {
  let server: Program | undefined, client: Program | undefined;
  try {
    server = start('tcp_protocol_parser.ts', '--server', '--port', '0');
    const [, port] = await server.wait_for('stdout', /^serving on \[ '127\.0\.0\.1', (\d+) \]$/m, 'the server\'s port');
    client = start('tcp_protocol_parser.ts', '--client', '--host', `127.0.0.1:${port}`);
    await client.finished(0);
    assert.is(client.stdout, [
      'Message received: Message(tp="pong:", data=null)',
      `data sent: ${MESSAGE}`,
      `Message received: Message(tp="text:", data="Re: ${MESSAGE}")`,
      'stop sent',
      '',
    ].join('\n'));
    await server.wait_for('stdout', /Connection lost\n/, 'the server noticing the client left');
    assert.ok(server.stdout.endsWith([
      'Connection made',
      'Message received: Message(tp="ping:", data=null)',
      `Message received: Message(tp="text:", data="${MESSAGE}")`,
      'Message received: Message(tp="stop:", data=null)',
      'Connection lost',
      '',
    ].join('\n')), server.stdout);
    server.signal('SIGINT');
    await server.finished(0);
  } finally {
    await kill_all(client, server);
  }
});

test('tcp_protocol_parser: neither --server nor --client is a usage error', async () => {
  const p = start('tcp_protocol_parser.ts');
  try {
    await p.finished(2);
    assert.is(p.stdout, 'Please specify --server or --client\n');
  } finally {
    await kill_all(p);
  }
});

test.run();
