import { fingerprintModuleGraph, lockedVersions, PROJECT_ROOT } from '../activities/code-fingerprint.ts';

/**
 * The build ID a worker reports to its worker deployment when MLP_BUILD_ID is not set. It starts
 * from the code version the lineage records (MLP_CODE_VERSION: the commit an image was built
 * from, or that `mlp worker` read from git), so a deployment's versions read as commits. A clean
 * commit names the code exactly and is the build ID as it is. A dirty tree (`<commit>-dirty`) or
 * an unknown version does not: two different edits on one commit would share a version, and a
 * pinned run would meet the second edit's workflow code. Those get a fingerprint of the worker's
 * code appended, the module graph from worker/main.ts (workflows, activities, common; the same
 * hashing as the step cache's fingerprints, activities/code-fingerprint.ts), so each content has
 * its own ID.
 */

const CLEAN_COMMIT = /^[0-9a-f]{7,64}$/;
const FINGERPRINT_CHARS = 12;

/** The build ID from the code version and the fingerprint of the worker's code (pure, unit-tested). */
export function buildIdFrom(codeVersion: string | undefined, codeFingerprint: () => string): string {
  if (codeVersion !== undefined && CLEAN_COMMIT.test(codeVersion)) return codeVersion;
  // `:` joins deployment and build on the server; anything else odd in a version becomes `-`.
  const base = (codeVersion ?? 'unknown').replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 200) || 'unknown';
  return `${base}-${codeFingerprint().slice(0, FINGERPRINT_CHARS)}`;
}

/** Fingerprint of the worker's whole module graph, from worker/main.ts. */
export async function workerCodeFingerprint(root: string = PROJECT_ROOT): Promise<string> {
  const graph = await fingerprintModuleGraph(root, 'worker/main.ts', await lockedVersions(root));
  return graph.fingerprint;
}

/** MLP_BUILD_ID when given, else derived as described above. */
export async function resolveBuildId(explicit: string | undefined, codeVersion: string | undefined): Promise<string> {
  if (explicit !== undefined) return explicit;
  if (codeVersion !== undefined && CLEAN_COMMIT.test(codeVersion)) return codeVersion;
  const fingerprint = await workerCodeFingerprint();
  return buildIdFrom(codeVersion, () => fingerprint);
}
