import { ModelRegistryError } from '../../common/errors.ts';
import type { ObjectStore } from '../object-store.ts';
import {
  AliasSchema,
  ClaimSchema,
  MODEL_NAME_PATTERN,
  VersionRecordSchema,
  registryKeys,
  type Alias,
  type AliasName,
  type VersionRecord,
} from '../../common/model-registry.ts';

/** Give up claiming after this many versions were taken under us (only under extreme contention). */
const MAX_CLAIM_ATTEMPTS = 1_000;

export function checkModelName(name: string): void {
  if (!MODEL_NAME_PATTERN.test(name)) throw new ModelRegistryError(`Model name '${name}' is invalid: expected lower-case letters, digits and dashes`);
}

/** Version numbers claimed so far for a model (complete or not), ascending. */
export async function claimedVersions(store: ObjectStore, name: string): Promise<number[]> {
  const prefix = registryKeys.claims(name);
  return (await store.list(prefix))
    .map((key) => /^(\d+)\.claim$/.exec(key.slice(prefix.length))?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * Claims the next version number of a model for `owner` (one publishing step attempt chain).
 * Each number is claimed by creating `versions/<n>.claim` with a conditional PUT: of concurrent
 * publishers exactly one creates it, the others move on to n + 1. A retried attempt of the same
 * owner gets back the number it claimed before, so a retry never burns or duplicates a version.
 */
export async function claimVersion(store: ObjectStore, name: string, owner: string, now: () => Date = () => new Date()): Promise<number> {
  checkModelName(name);
  const existing = await claimedVersions(store, name);
  for (const version of existing.slice(-20).reverse()) {
    const claim = ClaimSchema.safeParse(await store.getJson(registryKeys.claim(name, version)));
    if (claim.success && claim.data.owner === owner) return version;
  }
  let candidate = (existing.at(-1) ?? 0) + 1;
  const body = `${JSON.stringify({ owner, claimedAt: now().toISOString() })}\n`;
  for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++, candidate++) {
    if (await store.putIfAbsent(registryKeys.claim(name, candidate), body, 'application/json')) return candidate;
  }
  throw new Error(`Claim a version of model '${name}' failed: ${MAX_CLAIM_ATTEMPTS} numbers from ${candidate - MAX_CLAIM_ATTEMPTS} on were taken`);
}

async function readParsed<T>(store: ObjectStore, key: string, parse: (value: unknown) => { success: true; data: T } | { success: false }): Promise<T | undefined> {
  if (!(await store.exists(key))) return undefined;
  const parsed = parse(await store.getJson(key));
  if (!parsed.success) throw new ModelRegistryError(`Read registry object failed: ${key} is malformed`);
  return parsed.data;
}

/** The record of a complete version, or undefined (never claimed, or still being written). */
export async function readVersion(store: ObjectStore, name: string, version: number): Promise<VersionRecord | undefined> {
  return readParsed(store, registryKeys.record(name, version), (v) => VersionRecordSchema.safeParse(v));
}

export async function requireVersion(store: ObjectStore, name: string, version: number): Promise<VersionRecord> {
  const record = await readVersion(store, name, version);
  if (!record) throw new ModelRegistryError(`Model '${name}' has no version ${version} in the registry (${registryKeys.record(name, version)} not found)`);
  return record;
}

export async function writeVersion(store: ObjectStore, record: VersionRecord): Promise<void> {
  await store.putJson(registryKeys.record(record.name, record.version), record);
}

export async function readAlias(store: ObjectStore, name: string, alias: AliasName): Promise<Alias | undefined> {
  return readParsed(store, registryKeys.alias(name, alias), (v) => AliasSchema.safeParse(v));
}

/** Points an alias at a version with one PUT of a small JSON: readers see the old or the new alias, never a mix. */
export async function writeAlias(store: ObjectStore, name: string, alias: AliasName, version: number, reason: string, now: () => Date = () => new Date()): Promise<Alias> {
  const previous = await readAlias(store, name, alias);
  const value: Alias = { alias, version, updatedAt: now().toISOString(), reason, previousVersion: previous?.version ?? null };
  await store.putJson(registryKeys.alias(name, alias), value);
  return value;
}

/** Names of the models in the registry, sorted. */
export async function listModelNames(store: ObjectStore): Promise<string[]> {
  const names = new Set<string>();
  for (const key of await store.list(registryKeys.root)) {
    const match = /^models\/([^/]+)\/versions\/\d+\.claim$/.exec(key);
    if (match?.[1]) names.add(match[1]);
  }
  return [...names].sort();
}

/** Complete versions of a model (those with a record), ascending. */
export async function listVersions(store: ObjectStore, name: string): Promise<VersionRecord[]> {
  const records = await Promise.all((await claimedVersions(store, name)).map((version) => readVersion(store, name, version)));
  return records.filter((record): record is VersionRecord => record !== undefined);
}
