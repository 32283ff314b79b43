// Fetch a URL and print the response: status line, headers, then the body (Tulip's examples/curl.py).
//
//   npx tsx examples/curl.ts http://127.0.0.1:8080/
//   npx tsx examples/curl.ts https://localhost:8443/ --cafile ca.pem     (verify with this CA)
//   npx tsx examples/curl.ts https://localhost:8443/ --insecure          (no verification)
//
// Redirects are followed (the chain is printed first, one line each). https is verified against the
// system's CAs unless --cafile or --insecure say otherwise. An error is printed as one line, exit status 1.
import { create_default_context, get_event_loop, http, type Coroutine, type SSLContext } from 'tulip-ts';
import { option } from './args.js';

function* curl(url: string, ssl: SSLContext | boolean): Coroutine<void> {
  const response = yield* http.request('GET', url, { ssl });
  for (const hop of response.history) console.log(`# ${hop.status} ${hop.reason} ${hop.url} -> ${hop.headers.get('location')}`);
  console.log(String(response));
  const data = yield* response.read();
  console.log(new TextDecoder('utf-8').decode(data));
}

const url = process.argv.slice(2).find((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--cafile');
if (url === undefined) {
  console.error('usage: curl.ts URL [--cafile CA.pem | --insecure]');
  process.exit(2);
}
const cafile = option('cafile', null);
const ssl = process.argv.includes('--insecure') ? false : cafile !== null ? create_default_context(undefined, { cafile }) : true;

const loop = get_event_loop();
try {
  loop.run_until_complete(curl(url, ssl));
} catch (e) {
  console.error(`curl.ts: ${(e as Error).name}: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  loop.close();
}
