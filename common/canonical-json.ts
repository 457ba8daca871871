/**
 * Canonical JSON: object keys sorted at every level, no whitespace, `undefined` members dropped
 * (as `JSON.stringify` does). Equal values give equal text, so a hash of it identifies a spec or
 * a cache key regardless of key order in the YAML. Sandbox-safe; hashing itself happens outside
 * the workflow (the sandbox has no `node:crypto`).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([key, item]) => [key, sortKeys(item)]));
  }
  return value;
}
