// The Node `http` keep-alive "hello world" that bench/http.ts compares ServerHttpProtocol with: the same
// 13-byte text/plain body, Content-Length given, TCP_NODELAY on (as on every tulip-ts TCP transport).
//
//   node bench/node_http_hello.mjs PORT [SECONDS]     (with SECONDS, it exits after that long)
import http from 'node:http';

const port = Number(process.argv[2] ?? 8080);
const seconds = Number(process.argv[3]);
const BODY = Buffer.from('Hello, World!');
const HEADERS = { 'Content-Type': 'text/plain', 'Content-Length': String(BODY.length) };

const server = http.createServer({ noDelay: true, keepAliveTimeout: 75_000 }, (req, res) => {
  res.writeHead(200, HEADERS);
  res.end(BODY);
});
server.on('error', (err) => {
  console.error(`node http hello: ${err.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`node http hello on ${JSON.stringify(server.address())}`);
});
if (seconds > 0) setTimeout(() => process.exit(0), seconds * 1000).unref();
