// The Node `net` echo server that bench/echo.ts compares tulip-ts with: data -> write, TCP_NODELAY on
// (asyncio and uvloop set it on every TCP transport, and so does tulip-ts).
//
//   node bench/node_echo_server.mjs PORT [SECONDS]     (with SECONDS, it exits after that long)
import net from 'node:net';

const port = Number(process.argv[2] ?? 25001);
const seconds = Number(process.argv[3]);

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.setNoDelay(true);
  socket.on('data', (data) => socket.write(data));
  socket.on('error', () => {}); // a client that resets is not the server's problem
});
server.on('error', (err) => {
  console.error(`node echo server: ${err.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`node net echo server on ${JSON.stringify(server.address())}`);
});
if (seconds > 0) setTimeout(() => process.exit(0), seconds * 1000).unref();
