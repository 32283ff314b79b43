// Starts a worker thread that runs a TypeScript file: tsx's loader is registered inside the worker
// first (loader hooks are per thread), then the file is imported.
import { Worker } from 'node:worker_threads';

export function start_ts_worker(file: URL, workerData?: unknown): Worker {
  const api = import.meta.resolve('tsx/esm/api');
  return new Worker(
    `const { workerData } = require('node:worker_threads');
     import(workerData.api).then(({ register }) => { register(); return import(workerData.file); });`,
    { eval: true, workerData: { api, file: file.href, data: workerData } },
  );
}
