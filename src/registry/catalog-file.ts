/**
 * The one loader of the built-in catalogs, for its two sources: `models/zoo.json` (ONNX Model Zoo entries,
 * catalog.ts) and `models/hub.json` (Hugging Face Hub aliases, hub-catalog.ts). A catalog file is
 * `{ "models": [...] }` (or a bare array); each entry has a primary name and aliases, unique case-insensitively
 * across the file. The file is read and checked once, on first use; a malformed one is a TypeError naming the entry
 * and field (`zoo catalog: models[3].sha256 must be 64 lowercase hex digits.`).
 */
import { readFileSync } from 'node:fs';

export interface CatalogSource<Entry> {
  /** Starts every error message: `zoo catalog`, `hub catalog`. */
  readonly label: string;
  /** The JSON file. */
  readonly path: string;
  /** Checks one entry (`where`: `models[3]`) and returns it typed; fails through {@link entryFields}. */
  readonly validate: (value: unknown, where: string) => Entry;
  /** The entry's primary name, then its aliases. */
  readonly names: (entry: Entry) => readonly string[];
}

export interface Catalog<Entry> {
  /** Every entry, in file order. */
  list(): readonly Entry[];
  /** The entry with this name or alias (case-insensitive, trimmed), or `undefined`. */
  find(name: string): Entry | undefined;
  /** Checks parsed catalog JSON: every entry, and that no name is used twice. */
  parse(json: unknown): Entry[];
}

export function defineCatalog<Entry>(source: CatalogSource<Entry>): Catalog<Entry> {
  let entries: readonly Entry[] | undefined;
  let byName: ReadonlyMap<string, Entry> | undefined;
  const parse = (json: unknown): Entry[] => {
    const models = Array.isArray(json) ? json : (json as { models?: unknown } | null)?.models;
    if (!Array.isArray(models)) throw new TypeError(`${source.label}: expected { "models": [...] }.`);
    const owners = new Map<string, string>();
    return models.map((value, i) => {
      const entry = source.validate(value, `models[${i}]`);
      const [primary, ...aliases] = source.names(entry);
      for (const name of [primary!, ...aliases]) {
        const owner = owners.get(name.toLowerCase());
        if (owner !== undefined) throw new TypeError(`${source.label}: name "${name}" of "${primary}" is already used by "${owner}".`);
        owners.set(name.toLowerCase(), primary!);
      }
      return entry;
    });
  };
  const list = (): readonly Entry[] => {
    entries ??= parse(JSON.parse(readFileSync(source.path, 'utf8')) as unknown);
    return entries;
  };
  const find = (name: string): Entry | undefined => {
    byName ??= new Map(list().flatMap((entry) => source.names(entry).map((alias) => [alias.toLowerCase(), entry] as const)));
    return byName.get(name.trim().toLowerCase());
  };
  return { list, find, parse };
}

/** Reads the fields of one catalog entry; every reader throws `<label>: <where>.<field> must be <expected>.` */
export interface EntryFields {
  /** The entry as an object (after checking that it is one). */
  readonly value: Readonly<Record<string, unknown>>;
  fail(field: string, expected: string): never;
  /** A non-empty string. */
  string(field: string): string;
  /** An array of non-empty strings. */
  strings(field: string): string[];
}

export function entryFields(label: string, where: string, value: unknown): EntryFields {
  const fail = (field: string, expected: string): never => {
    throw new TypeError(`${label}: ${where}${field === '' ? '' : `.${field}`} must be ${expected}.`);
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('', 'an object');
  const fields = value as Readonly<Record<string, unknown>>;
  return {
    value: fields,
    fail,
    string: (field) => {
      const text = fields[field];
      return typeof text === 'string' && text !== '' ? text : fail(field, 'a non-empty string');
    },
    strings: (field) => {
      const list = fields[field];
      return Array.isArray(list) && list.every((text) => typeof text === 'string' && text !== '') ? list as string[] : fail(field, 'an array of strings');
    },
  };
}
