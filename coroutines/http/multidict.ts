/**
 * HTTP headers: an ordered, case-insensitive multi-dict (Tulip kept a deque of (NAME, value) pairs with the
 * names upper-cased; here the names keep the case they were given or received, and every lookup ignores it).
 *
 * A field may occur more than once (`Set-Cookie`, `Via`): `get()` gives the first value, `getall()` every
 * value in order, and iteration yields every `[name, value]` pair in the order they were added, which is the
 * order a writer sends them in.
 */

/** What a `CIMultiDict` can be built from, and what APIs taking headers accept. */
export type HeadersInit =
  | CIMultiDict
  | Iterable<readonly [string, string]>
  | Readonly<Record<string, string | number | readonly string[]>>;

export class CIMultiDict implements Iterable<[string, string]> {
  // Three parallel arrays rather than an array of pairs: lookups scan the lower-cased keys only.
  private readonly _names: string[] = [];
  private readonly _keys: string[] = [];
  private readonly _values: string[] = [];

  constructor(init?: HeadersInit | null) {
    if (init) this.extend(init);
  }

  /** How many fields (pairs), counting repeated names once per value. */
  get size(): number {
    return this._names.length;
  }

  /** Adds a field, keeping any existing values of the same name. */
  add(name: string, value: string): void {
    if (typeof name !== 'string' || typeof value !== 'string') {
      throw new TypeError(`CIMultiDict.add(): expected string name and value, got ${typeof name} and ${typeof value}`);
    }
    this._names.push(name);
    this._keys.push(name.toLowerCase());
    this._values.push(value);
  }

  /** @internal `add()` for a caller that has checked the types and lower-cased the name already. */
  _add(name: string, key: string, value: string): void {
    this._names.push(name);
    this._keys.push(key);
    this._values.push(value);
  }

  /** @internal `has()` for a name already lower-cased. */
  _has_key(key: string): boolean {
    return this._keys.includes(key);
  }

  /** @internal The fields as HTTP header lines, `Name: value` each ending in CRLF (for the writers). */
  _format(): string {
    let out = '';
    for (let i = 0; i < this._names.length; i++) out += this._names[i] + ': ' + this._values[i] + '\r\n';
    return out;
  }

  /** Adds every field of `init` (`add()` semantics: nothing is replaced). */
  extend(init: HeadersInit): void {
    if (init instanceof CIMultiDict || Symbol.iterator in init) {
      for (const [name, value] of init as Iterable<readonly [string, string]>) this.add(name, value);
      return;
    }
    for (const [name, value] of Object.entries(init)) {
      if (Array.isArray(value)) for (const v of value) this.add(name, String(v));
      else this.add(name, String(value));
    }
  }

  /** Replaces every value of `name` with this one (it takes the place of the first). */
  set(name: string, value: string): void {
    const key = name.toLowerCase();
    const first = this._keys.indexOf(key);
    if (first < 0) return this.add(name, value);
    this._names[first] = name;
    this._values[first] = value;
    this._remove(key, first + 1);
  }

  /** Adds the field only if the name is absent; returns the (first) value it now has. */
  setdefault(name: string, value: string): string {
    const existing = this.get(name);
    if (existing !== undefined) return existing;
    this.add(name, value);
    return value;
  }

  /** The first value of `name`, or `fallback` if there is none. */
  get(name: string): string | undefined;
  get<D>(name: string, fallback: D): string | D;
  get<D>(name: string, fallback?: D): string | D | undefined {
    const i = this._keys.indexOf(name.toLowerCase());
    return i < 0 ? fallback : this._values[i]!;
  }

  /** Every value of `name`, in order (empty if none). */
  getall(name: string): string[] {
    const key = name.toLowerCase();
    const out: string[] = [];
    for (let i = 0; i < this._keys.length; i++) if (this._keys[i] === key) out.push(this._values[i]!);
    return out;
  }

  has(name: string): boolean {
    return this._keys.includes(name.toLowerCase());
  }

  /** Removes every value of `name`; true if there was any. */
  delete(name: string): boolean {
    return this._remove(name.toLowerCase(), 0) > 0;
  }

  private _remove(key: string, from: number): number {
    let kept = from;
    for (let i = from; i < this._keys.length; i++) {
      if (this._keys[i] === key) continue;
      this._names[kept] = this._names[i]!;
      this._keys[kept] = this._keys[i]!;
      this._values[kept] = this._values[i]!;
      kept++;
    }
    const removed = this._keys.length - kept;
    this._names.length = this._keys.length = this._values.length = kept;
    return removed;
  }

  clear(): void {
    this._names.length = this._keys.length = this._values.length = 0;
  }

  copy(): CIMultiDict {
    return new CIMultiDict(this);
  }

  *[Symbol.iterator](): IterableIterator<[string, string]> {
    for (let i = 0; i < this._names.length; i++) yield [this._names[i]!, this._values[i]!];
  }

  entries(): IterableIterator<[string, string]> {
    return this[Symbol.iterator]();
  }

  /** The names as given (a repeated name appears once per value, like Python's multidict). */
  keys(): string[] {
    return this._names.slice();
  }

  values(): string[] {
    return this._values.slice();
  }

  /** `{name: value}` with the first value of each name, lower-cased names (for logs and JSON). */
  toJSON(): Record<string, string> {
    const out: Record<string, string> = {};
    for (let i = 0; i < this._keys.length; i++) if (!(this._keys[i]! in out)) out[this._keys[i]!] = this._values[i]!;
    return out;
  }

  toString(): string {
    return `<CIMultiDict ${this._names.map((n, i) => `${n}: ${this._values[i]}`).join(', ')}>`;
  }
}
