// The Node `cluster` server that bench/http.ts compares examples/mpsrv.ts with: a primary and WORKERS
// worker processes, each serving the keep-alive "hello world" of bench/node_http_hello.mjs on one shared
// port. Node's default scheduling on Linux is round-robin: the primary accepts and hands each connection to
// a worker in turn (cluster.schedulingPolicy; NODE_CLUSTER_SCHED_POLICY=none lets the workers accept).
//
//   node bench/node_cluster_hello.mjs PORT [WORKERS=2] [SECONDS]    (with SECONDS, it exits after that long)
import cluster from 'node:cluster';
import http from 'node:http';

const port = Number(process.argv[2] ?? 8080);
const workers = Number(process.argv[3] ?? 2);
const seconds = Number(process.argv[4]);
const BODY = Buffer.from('Hello, World!');
const HEADERS = { 'Content-Type': 'text/plain', 'Content-Length': String(BODY.length) };

if (cluster.isPrimary) {
  let listening = 0;
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('listening', () => {
    if (++listening === workers) console.log(`node cluster hello on 127.0.0.1:${port}, ${workers} workers`);
  });
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) console.error(`node cluster: worker ${worker.process.pid} died (${code ?? signal})`);
  });
  let stopping = false;
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 200).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (seconds > 0) setTimeout(stop, seconds * 1000).unref();
} else {
  const server = http.createServer({ noDelay: true, keepAliveTimeout: 75_000 }, (req, res) => {
    res.writeHead(200, HEADERS);
    res.end(BODY);
  });
  server.on('error', (err) => {
    console.error(`node cluster worker: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, '127.0.0.1');
  // A worker whose primary is gone (SIGKILLed) must not linger.
  process.on('disconnect', () => process.exit(0));
}
