/**
 * The client's cookie jar: `Set-Cookie` parsing and the `Cookie` header, with the rules of RFC 6265 that
 * matter to a client (Tulip kept a `http.cookies.SimpleCookie` per session and sent every cookie to every
 * host; a jar that does that leaks one site's session cookie to the next, so this one keeps each cookie's
 * domain and path).
 *
 * What it does: host-only and domain cookies (a `Domain` attribute must domain-match the host that set it,
 * never an IP address's neighbours, never a bare label such as `com`), the default path, `Path` matching,
 * `Secure` (sent over https only), `Max-Age` over `Expires`, deletion by a past expiry, replacement of a
 * cookie with the same name, domain and path. Dates are parsed with RFC 6265's own algorithm (5.1.1), which
 * accepts every format servers send ("Wed, 09 Jun 2021 10:18:14 GMT", "Wednesday, 09-Jun-21 ...").
 *
 * What it does not do: the public suffix list (a `Domain=co.uk` cookie from `a.co.uk` is accepted), and
 * SameSite (a client that is not a browser has no "site" to compare with; the attribute is kept, unused).
 *
 * Memory is bounded: a cookie longer than 4096 bytes is ignored, and a domain keeps at most 50 cookies and
 * the jar 3000 (the oldest go first), whatever a server sends.
 */

export interface Cookie {
  readonly name: string;
  readonly value: string;
  /** The host (host-only cookies), the domain the cookie was set for, or '' for "any host" (update_cookies without a URL). */
  readonly domain: string;
  readonly path: string;
  /** Expiry in ms since the epoch (Date.now()'s clock), or null for a session cookie. */
  readonly expires: number | null;
  readonly secure: boolean;
  readonly http_only: boolean;
  /** Sent to `domain` only, not to its subdomains (no Domain attribute). */
  readonly host_only: boolean;
  readonly same_site: string | null;
  /** @internal order of creation, for the Cookie header's order among cookies of equal path length */
  readonly creation: number;
}

/** What `parse_set_cookie()` reads from one Set-Cookie header, before the jar applies the request's URL. */
export interface SetCookie {
  name: string;
  value: string;
  /** The Domain attribute, lower-cased and without a leading dot; null when absent. */
  domain: string | null;
  /** The Path attribute; null when absent or not starting with '/'. */
  path: string | null;
  /** From Max-Age (preferred) or Expires, in ms since the epoch; -Infinity for "expired now"; null if neither. */
  expires: number | null;
  secure: boolean;
  http_only: boolean;
  same_site: string | null;
}

const MAX_COOKIE_SIZE = 4096;
const MAX_PER_DOMAIN = 50;
const MAX_COOKIES = 3000;

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/**
 * RFC 6265 5.1.1: a cookie-date in ms since the epoch, or null. Tokens are split on the delimiters; the first
 * token that looks like a time, a day of month, a month, a year (in that order of tests) fills that slot.
 */
export function parse_cookie_date(text: string): number | null {
  let time: [number, number, number] | null = null;
  let day: number | null = null;
  let month: number | null = null;
  let year: number | null = null;
  for (const token of text.split(/[\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+/)) {
    if (token === '') continue;
    let m: RegExpMatchArray | null;
    if (time === null && (m = token.match(/^(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\D.*)?$/))) {
      time = [Number(m[1]), Number(m[2]), Number(m[3])];
    } else if (day === null && (m = token.match(/^(\d{1,2})(?:\D.*)?$/))) {
      day = Number(m[1]);
    } else if (month === null && MONTHS.includes(token.slice(0, 3).toLowerCase())) {
      month = MONTHS.indexOf(token.slice(0, 3).toLowerCase());
    } else if (year === null && (m = token.match(/^(\d{2,4})(?:\D.*)?$/))) {
      year = Number(m[1]);
    }
  }
  if (time === null || day === null || month === null || year === null) return null;
  if (year >= 70 && year <= 99) year += 1900;
  else if (year >= 0 && year <= 69) year += 2000;
  const [h, mi, s] = time;
  if (day < 1 || day > 31 || year < 1601 || h > 23 || mi > 59 || s > 59) return null;
  const ms = Date.UTC(year, month, day, h, mi, s);
  // Date.UTC rolls 31 Feb over into March: such a date is invalid.
  if (new Date(ms).getUTCDate() !== day) return null;
  return ms;
}

/** Parses one Set-Cookie header value (RFC 6265 5.2); null for one a client must ignore. */
export function parse_set_cookie(header: string, now: number = Date.now()): SetCookie | null {
  const semi = header.indexOf(';');
  const pair = semi < 0 ? header : header.slice(0, semi);
  const eq = pair.indexOf('=');
  if (eq < 0) return null;
  const name = pair.slice(0, eq).trim();
  const value = pair.slice(eq + 1).trim();
  if (name === '' || name.length + value.length > MAX_COOKIE_SIZE || /[\x00-\x1f\x7f]/.test(name + value)) return null;
  const cookie: SetCookie = { name, value, domain: null, path: null, expires: null, secure: false, http_only: false, same_site: null };
  let max_age: number | null = null;
  let expires: number | null = null;
  for (const attr of semi < 0 ? [] : header.slice(semi + 1).split(';')) {
    const aeq = attr.indexOf('=');
    const key = (aeq < 0 ? attr : attr.slice(0, aeq)).trim().toLowerCase();
    const val = aeq < 0 ? '' : attr.slice(aeq + 1).trim();
    switch (key) {
      case 'expires': {
        const t = parse_cookie_date(val);
        if (t !== null) expires = t;
        break;
      }
      case 'max-age':
        if (/^-?\d+$/.test(val)) {
          const delta = Number(val);
          max_age = delta <= 0 ? -Infinity : now + delta * 1000;
        }
        break;
      case 'domain':
        if (val !== '') cookie.domain = val.replace(/^\./, '').toLowerCase();
        break;
      case 'path':
        cookie.path = val.startsWith('/') ? val : null;
        break;
      case 'secure':
        cookie.secure = true;
        break;
      case 'httponly':
        cookie.http_only = true;
        break;
      case 'samesite':
        cookie.same_site = val || null;
        break;
    }
  }
  cookie.expires = max_age ?? expires;
  return cookie;
}

function is_ip(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}

/** RFC 6265 5.1.3: `host` is `domain` or one of its subdomains (never for an IP address). */
export function domain_match(host: string, domain: string): boolean {
  if (host === domain) return true;
  return host.endsWith('.' + domain) && !is_ip(host);
}

/** RFC 6265 5.1.4: the directory of the request path. */
function default_path(path: string): string {
  if (!path.startsWith('/')) return '/';
  const last = path.lastIndexOf('/');
  return last === 0 ? '/' : path.slice(0, last);
}

function path_match(request_path: string, cookie_path: string): boolean {
  if (request_path === cookie_path) return true;
  if (!request_path.startsWith(cookie_path)) return false;
  return cookie_path.endsWith('/') || request_path[cookie_path.length] === '/';
}

/** The host name as cookies see it: lower case, no IPv6 brackets. */
function cookie_host(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

export type CookiesInit = Readonly<Record<string, string>> | Iterable<readonly [string, string]>;

export function cookie_pairs(cookies: CookiesInit): Array<readonly [string, string]> {
  const pairs = Symbol.iterator in cookies ? [...(cookies as Iterable<readonly [string, string]>)] : Object.entries(cookies);
  for (const [name, value] of pairs) {
    if (typeof name !== 'string' || typeof value !== 'string' || name === '' || /[=;,\s\x00-\x1f\x7f]/.test(name) || /[;\x00-\x1f\x7f]/.test(value)) {
      throw new TypeError(`invalid cookie ${JSON.stringify(name)}=${JSON.stringify(value)}: a cookie is a name without '=', ';', ',' or spaces and a value without ';' or control characters`);
    }
  }
  return pairs;
}

export interface CookieJarOptions {
  /** The clock for expiry, ms since the epoch (tests pass a fake one); Date.now by default. */
  now?: () => number;
}

/** The cookies of a client session, keyed by domain, path and name. */
export class CookieJar implements Iterable<Cookie> {
  // domain → cookies of that domain; one small array each (a domain holds at most MAX_PER_DOMAIN).
  private readonly _domains = new Map<string, Cookie[]>();
  private _count = 0;
  private _creation = 0;
  private readonly _now: () => number;

  constructor(options: CookieJarOptions = {}) {
    this._now = options.now ?? Date.now;
  }

  /** How many cookies the jar holds (expired ones included until they are next looked at). */
  get size(): number {
    return this._count;
  }

  *[Symbol.iterator](): IterableIterator<Cookie> {
    for (const list of this._domains.values()) yield* list;
  }

  /**
   * Adds plain `name=value` cookies (Tulip's `Session.update_cookies`): for the host of `url` only, or,
   * without a URL, for every host (as Tulip's session did: only for cookies you mean to send everywhere).
   */
  update_cookies(cookies: CookiesInit, url?: string | URL): void {
    const host = url === undefined ? '' : cookie_host(new URL(url));
    for (const [name, value] of cookie_pairs(cookies)) {
      this._store({ name, value, domain: host, path: '/', expires: null, secure: false, http_only: false, host_only: host !== '', same_site: null, creation: 0 });
    }
  }

  /**
   * Stores the cookies of a response's `Set-Cookie` headers, for the request's `url`. Returns the cookies
   * the response set (deletions included, with their past expiry), in order; ignored ones are left out.
   */
  extract_cookies(set_cookie_headers: Iterable<string>, url: URL): Cookie[] {
    const host = cookie_host(url);
    const now = this._now();
    const out: Cookie[] = [];
    for (const header of set_cookie_headers) {
      const c = parse_set_cookie(header, now);
      if (c === null) continue;
      let domain = host;
      let host_only = true;
      if (c.domain !== null) {
        // A Domain attribute must cover the host that sets it; a bare label ('com') set from elsewhere
        // would cover a whole top-level domain.
        if (!domain_match(host, c.domain) || (!c.domain.includes('.') && c.domain !== host)) continue;
        domain = c.domain;
        host_only = false;
      }
      const cookie: Cookie = {
        name: c.name, value: c.value, domain, path: c.path ?? default_path(url.pathname), expires: c.expires,
        secure: c.secure, http_only: c.http_only, host_only, same_site: c.same_site, creation: 0,
      };
      out.push(this._store(cookie));
    }
    return out;
  }

  /** Adds, replaces, or (with a past expiry) deletes; returns the cookie as stored. */
  private _store(cookie: Cookie): Cookie {
    const list = this._domains.get(cookie.domain) ?? [];
    const i = list.findIndex((c) => c.name === cookie.name && c.path === cookie.path);
    const old = i >= 0 ? list[i]! : null;
    if (old !== null) {
      list.splice(i, 1);
      this._count--;
    }
    const stored = { ...cookie, creation: old?.creation ?? ++this._creation };
    if (cookie.expires !== null && cookie.expires <= this._now()) {
      if (list.length === 0) this._domains.delete(cookie.domain);
      return stored;
    }
    list.push(stored);
    this._domains.set(cookie.domain, list);
    this._count++;
    if (list.length > MAX_PER_DOMAIN) this._evict(list, cookie.domain);
    while (this._count > MAX_COOKIES) this._evict_oldest();
    return stored;
  }

  private _evict(list: Cookie[], domain: string): void {
    let oldest = 0;
    for (let i = 1; i < list.length; i++) if (list[i]!.creation < list[oldest]!.creation) oldest = i;
    list.splice(oldest, 1);
    this._count--;
    if (list.length === 0) this._domains.delete(domain);
  }

  private _evict_oldest(): void {
    let which: [Cookie[], string] | null = null;
    let creation = Infinity;
    for (const [domain, list] of this._domains) {
      for (const c of list) {
        if (c.creation < creation) {
          creation = c.creation;
          which = [list, domain];
        }
      }
    }
    if (which !== null) this._evict(...which);
  }

  /** The cookies to send to `url`, in the Cookie header's order (longest path first, then oldest). */
  cookies_for(url: string | URL): Cookie[] {
    const u = typeof url === 'string' ? new URL(url) : url;
    const host = cookie_host(u);
    const https = u.protocol === 'https:';
    const now = this._now();
    const out: Cookie[] = [];
    for (const [domain, list] of [...this._domains]) {
      if (domain !== '' && domain !== host && !domain_match(host, domain)) continue;
      for (const c of [...list]) {
        if (c.expires !== null && c.expires <= now) {
          list.splice(list.indexOf(c), 1);
          this._count--;
          if (list.length === 0) this._domains.delete(domain);
          continue;
        }
        if (c.host_only && c.domain !== '' && c.domain !== host) continue;
        if (c.secure && !https) continue;
        if (!path_match(u.pathname || '/', c.path)) continue;
        out.push(c);
      }
    }
    return out.sort((a, b) => b.path.length - a.path.length || a.creation - b.creation);
  }

  /** The value of the Cookie header for `url`: `a=1; b=2`, or '' when no cookie applies. */
  cookie_header(url: string | URL): string {
    return this.cookies_for(url).map((c) => `${c.name}=${c.value}`).join('; ');
  }

  /** Removes every cookie, or those of one domain. */
  clear(domain?: string): void {
    if (domain === undefined) {
      this._domains.clear();
      this._count = 0;
      return;
    }
    const list = this._domains.get(domain.toLowerCase());
    if (list === undefined) return;
    this._count -= list.length;
    this._domains.delete(domain.toLowerCase());
  }
}
