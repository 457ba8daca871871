/**
 * Parsing and comparing the version strings the server binaries print. Pure functions, so the
 * rules are unit-tested without any binary.
 */

/** `[major, minor, patch]` of a `v1.2.3` / `1.2.3-rc1` string, or `undefined`. */
export function parseSemver(text: string): [number, number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(text.trim());
  if (!match) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** True when semver `version` is at least `minimum` (both `v1.2.3` or `1.2.3`). */
export function isAtLeast(version: string, minimum: string): boolean {
  const a = parseSemver(version);
  const b = parseSemver(minimum);
  if (!a || !b) return false;
  for (let i = 0; i < 3; i += 1) {
    const left = a[i] ?? 0;
    const right = b[i] ?? 0;
    if (left !== right) return left > right;
  }
  return true;
}

/** What `temporal --version` reports. */
export interface TemporalVersion {
  /** CLI version; go-installed builds say `0.0.0-DEV`. */
  cli: string;
  /** Version of the embedded dev server. */
  server: string;
}

/** Parses `temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)`. */
export function parseTemporalVersion(output: string): TemporalVersion | undefined {
  const match = /temporal version (\S+) \(Server (\d+\.\d+\.\d+)/.exec(output);
  if (!match?.[1] || !match[2]) return undefined;
  return { cli: match[1], server: match[2] };
}

/** Parses `Version  : v1.8.0` from `versitygw --version`; `undefined` for source builds (`git`). */
export function parseVersitygwVersion(output: string): string | undefined {
  const match = /Version\s*:\s*(v?\d+\.\d+\.\d+\S*)/.exec(output);
  return match?.[1];
}

/** Parses the release tag from `minio version RELEASE.2025-10-15T17-29-55Z (commit-id=…)`. */
export function parseMinioVersion(output: string): string | undefined {
  const match = /RELEASE\.(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z)/.exec(output);
  return match?.[1];
}

/** Module path → version, from `go version -m <binary>` output (main module and deps). */
export function parseGoBuildInfo(output: string): Map<string, string> {
  const modules = new Map<string, string>();
  for (const line of output.split('\n')) {
    const [kind, path, version] = line.trim().split(/\s+/);
    if ((kind === 'mod' || kind === 'dep') && path && version) modules.set(path, version);
  }
  return modules;
}
