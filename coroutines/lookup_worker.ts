/**
 * The blocking half of coroutines/lookup.ts: what an executor worker thread runs (by URL, see
 * src/executor.ts). Failures come back as the addon's `{error, errno}` records, not as exceptions: the
 * loop thread turns them into `gaierror` (or the OSError of errno for EAI_SYSTEM).
 */
import { binding, type AddrInfo, type GaiError, type InetAddress } from '../src/binding.js';

export function getaddrinfo_sync(
  host: string | null,
  port: string | number | null,
  family: number,
  type: number,
  proto: number,
  flags: number,
): AddrInfo[] | GaiError {
  return binding.getaddrinfo(host, port, family, type, proto, flags);
}

export function getnameinfo_sync(family: number, addr: InetAddress, flags: number): [string, string] | GaiError {
  return binding.getnameinfo(family, addr, flags);
}
