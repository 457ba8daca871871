/**
 * Checks shared by the compose and Helm tests: every image is pinned to a version, never
 * `latest`, and none is Temporal's deprecated `auto-setup` image.
 */

/** Problems with one image reference, as sentences naming it (empty when fine). */
export function imageProblems(image: string): string[] {
  const problems: string[] = [];
  const withoutDigest = image.split('@')[0] ?? image;
  const lastSegment = withoutDigest.split('/').pop() ?? withoutDigest;
  const tag = lastSegment.includes(':') ? lastSegment.slice(lastSegment.indexOf(':') + 1) : undefined;
  if (tag === undefined && !image.includes('@')) problems.push(`${image} has no tag (it means latest)`);
  if (tag === 'latest') problems.push(`${image} uses the latest tag`);
  if (/(^|\/)auto-setup(:|@|$)/.test(withoutDigest)) problems.push(`${image} is Temporal's deprecated auto-setup image`);
  return problems;
}

/** `45s`, `1m30s`, `2m`, `500ms` (compose durations) → seconds. */
export function composeDurationSeconds(text: string): number {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001, us: 0.000001 };
  let total = 0;
  let rest = text.trim();
  while (rest.length > 0) {
    const match = /^(\d+(?:\.\d+)?)(h|ms|us|m|s)/.exec(rest);
    if (!match?.[1] || !match[2]) throw new Error(`not a duration: "${text}"`);
    total += Number(match[1]) * (units[match[2]] ?? 0);
    rest = rest.slice(match[0].length);
  }
  return total;
}

/**
 * Compose's variable interpolation (`${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?error}`, `${VAR?error}`, `${VAR:+replacement}`, `${VAR+replacement}`, `$$`) applied to
 * every string value of a parsed compose file, as `docker compose` does with the host's
 * environment `host` before it merges files. A required variable that is missing throws its error.
 */
export function interpolateCompose<T>(value: T, host: Readonly<Record<string, string>>): T {
  if (typeof value === 'string') return interpolateString(value, host) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => interpolateCompose(item, host)) as T;
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolateCompose(item, host)])) as T;
  }
  return value;
}

function interpolateString(text: string, host: Readonly<Record<string, string>>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}/g, (match, name: string | undefined, operator: string | undefined, operand: string | undefined) => {
    if (match === '$$') return '$';
    const value = host[name ?? ''];
    const set = value !== undefined && (value !== '' || !operator?.startsWith(':'));
    switch (operator?.replace(':', '')) {
      case '-':
        return set ? value : (operand ?? '');
      case '?':
        if (!set) throw new Error(`required variable ${name} is missing a value: ${operand ?? ''}`);
        return value;
      case '+':
        return set ? (operand ?? '') : '';
      default:
        return value ?? '';
    }
  });
}
