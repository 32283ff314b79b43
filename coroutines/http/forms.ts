/**
 * What an HTTP client encodes (the helpers of Tulip's `client.py`): query strings and urlencoded forms
 * (Python's `urlencode`), multipart/form-data bodies (`FormData`, which takes the place of Tulip's `files=`),
 * and the Basic auth header.
 */
import { randomBytes } from 'node:crypto';
import { extname } from 'node:path';

type Scalar = string | number | boolean;
/** A query string or form: `{q: 'x', tag: ['a', 'b']}`, `[['q', 'x']]`, URLSearchParams, or an encoded string. */
export type Params = string | URLSearchParams | Readonly<Record<string, Scalar | readonly Scalar[]>> | Iterable<readonly [string, Scalar]>;

/** Python's `quote_plus(s, safe='')`: everything but `A-Za-z0-9_.-~` escaped from UTF-8, spaces as '+'. */
export function quote_plus(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+');
}

/** Python's `urlencode(params, doseq=True)`: `a=1&b=x+y`; an array value repeats its key. */
export function urlencode(params: Params): string {
  if (typeof params === 'string') return params;
  const pairs: Array<readonly [string, Scalar]> = [];
  if (params instanceof URLSearchParams || Symbol.iterator in params) {
    for (const pair of params as Iterable<readonly [string, Scalar]>) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError('params/data pairs must be [name, value] arrays');
      pairs.push(pair);
    }
  } else {
    for (const [name, value] of Object.entries(params)) {
      if (Array.isArray(value)) for (const v of value as readonly Scalar[]) pairs.push([name, v]);
      else pairs.push([name, value as Scalar]);
    }
  }
  return pairs.map(([k, v]) => {
    if (!['string', 'number', 'boolean'].includes(typeof v)) throw new TypeError(`the value of ${JSON.stringify(k)} must be a string, number or boolean, got ${v === null ? 'null' : typeof v}`);
    return `${quote_plus(String(k))}=${quote_plus(String(v))}`;
  }).join('&');
}

const MIME_TYPES: Readonly<Record<string, string>> = {
  '.txt': 'text/plain', '.html': 'text/html', '.htm': 'text/html', '.css': 'text/css', '.csv': 'text/csv',
  '.js': 'text/javascript', '.json': 'application/json', '.xml': 'application/xml', '.pdf': 'application/pdf',
  '.zip': 'application/zip', '.gz': 'application/gzip', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.svg': 'image/svg+xml', '.webp': 'image/webp', '.py': 'text/x-python',
  '.ts': 'text/plain',
};

/** Python's `mimetypes.guess_type()`, for the common extensions; application/octet-stream otherwise. */
export function guess_type(filename: string): string {
  return MIME_TYPES[extname(filename).toLowerCase()] ?? 'application/octet-stream';
}

/** A quoted-string parameter as browsers write it in multipart forms (WHATWG): `"` and CR/LF escaped. */
function form_quote(s: string): string {
  return '"' + s.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A') + '"';
}

interface FormField {
  name: string;
  value: Buffer;
  filename: string | null;
  content_type: string | null;
}

export interface FormFieldOptions {
  /** Makes the field a file upload with this name (Tulip's `files`). */
  filename?: string;
  /** The part's Content-Type; for a file, guessed from the filename when omitted. */
  content_type?: string;
}

/** A multipart/form-data body (Tulip's `files=` and `data=` together): `data: new FormData()`. */
export class FormData {
  readonly boundary = randomBytes(16).toString('hex');
  private readonly _fields: FormField[] = [];

  constructor(fields?: Readonly<Record<string, string>> | Iterable<readonly [string, string]>) {
    if (fields) for (const [name, value] of Symbol.iterator in fields ? fields as Iterable<readonly [string, string]> : Object.entries(fields)) this.add_field(name, value);
  }

  /** Adds a field; a string value is sent as UTF-8. */
  add_field(name: string, value: string | Uint8Array, options: FormFieldOptions = {}): void {
    if (typeof name !== 'string') throw new TypeError('FormData.add_field(): the name must be a string');
    if (typeof value !== 'string' && !(value instanceof Uint8Array)) throw new TypeError(`FormData.add_field(): the value of ${JSON.stringify(name)} must be a string or bytes`);
    const filename = options.filename ?? null;
    let content_type = options.content_type ?? (filename !== null ? guess_type(filename) : null);
    if (content_type !== null && /[\r\n]/.test(content_type)) throw new TypeError('FormData.add_field(): CR or LF in content_type');
    this._fields.push({ name, value: typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value), filename, content_type });
  }

  get content_type(): string {
    return `multipart/form-data; boundary=${this.boundary}`;
  }

  /** The whole body. */
  encode(): Buffer {
    const parts: Buffer[] = [];
    const delimiter = Buffer.from(`--${this.boundary}`);
    for (const f of this._fields) {
      // The random boundary cannot plausibly occur in a value, but a body that breaks its own framing
      // would be a silent corruption: check.
      if (f.value.includes(delimiter)) throw new Error('FormData: a field contains the multipart boundary');
      let head = `--${this.boundary}\r\nContent-Disposition: form-data; name=${form_quote(f.name)}`;
      if (f.filename !== null) head += `; filename=${form_quote(f.filename)}`;
      head += '\r\n';
      if (f.content_type !== null) head += `Content-Type: ${f.content_type}\r\n`;
      parts.push(Buffer.from(head + '\r\n', 'utf8'), f.value, Buffer.from('\r\n'));
    }
    parts.push(Buffer.from(`--${this.boundary}--\r\n`));
    return Buffer.concat(parts);
  }
}

/** The Authorization header of HTTP Basic auth (RFC 7617, credentials in UTF-8). */
export function basic_auth(login: string, password = ''): string {
  if (typeof login !== 'string' || typeof password !== 'string') throw new TypeError('auth must be [login, password], two strings');
  if (login.includes(':')) throw new RangeError('a Basic auth login cannot contain ":"');
  return 'Basic ' + Buffer.from(`${login}:${password}`, 'utf8').toString('base64');
}
