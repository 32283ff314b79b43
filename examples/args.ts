/**
 * The examples' command lines. `option()` is the plain `--name value` lookup most of them need. The HTTP
 * servers (srv.ts, mpsrv.ts, wssrv.ts, wsclient.ts) read theirs the strict way:
 * node:util's parseArgs, and for a bad command line the reason and the usage on stderr and exit status 2,
 * as Python's argparse did for Tulip's originals. `--host` may carry the port ("127.0.0.1:8080"), as in
 * srv.py. Nothing here may print to stdout: the first line a server prints there is what its tests and
 * the benchmark wait for.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** The value after `--name` on the command line, or `fallback` if the option is absent. */
export function option<F extends string | null>(name: string, fallback: F): string | F {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

/** --host and --port as parseArgs options, with the examples' defaults; host_and_port() reads them. */
export const ADDRESS_OPTIONS = {
  host: { type: 'string', default: '127.0.0.1' },
  port: { type: 'string', default: '8080' },
} as const;

/** Prints `why` and the usage on stderr, and exits with status 2. */
export function usage_error(usage: string, why: string): never {
  console.error(`${why}\n${usage}`);
  process.exit(2);
}

/** parseArgs(config), or the usage error for what it refuses (an unknown option, a missing value...). */
export function parse_command_line<const T extends ParseArgsConfig>(usage: string, config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    usage_error(usage, (e as Error).message);
  }
}

/** `--host HOST[:PORT]` and `--port PORT` as [host, port] (a port in --host wins); a port is 0 to 65535. */
export function host_and_port(usage: string, host: string, port: string): [string, number] {
  if (/^[^:]+:\d+$/.test(host)) [host, port] = host.split(':') as [string, string];
  if (!/^\d+$/.test(port) || Number(port) > 65535) usage_error(usage, `bad port ${JSON.stringify(port)}`);
  return [host, Number(port)];
}

/** A count given as `--NAME N`: digits only, at least `min`. */
export function count_option(usage: string, name: string, text: string, min = 0): number {
  if (!/^\d+$/.test(text) || Number(text) < min) usage_error(usage, `bad --${name} ${text}`);
  return Number(text);
}
