import type { PublishInput, PublishOutput } from '../../common/step-kinds/publish.ts';
import type { ObjectStore } from '../object-store.ts';
import { copyModel } from './copy-model.ts';
import { decidePromotion } from './promotion-gate.ts';
import { registryKeys, type Lineage, type VersionRecord } from '../../common/model-registry.ts';
import { claimVersion, readAlias, readVersion, writeAlias, writeVersion } from './registry.ts';

export interface PublishOptions {
  /** Identity of this publishing attempt chain (same across retries): `<workflowId>/<runId>/<stepId>`. */
  owner: string;
  lineage: Lineage;
  now?: () => Date;
}

/** The scale of the threshold an evaluation's metrics.json records (`threshold.scale`, absent: raw), if it is one. */
function thresholdScaleOf(metricsJson: Buffer): 'raw' | 'calibrated' | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(metricsJson.toString('utf8'));
  } catch {
    return undefined;
  }
  const threshold = typeof parsed === 'object' && parsed !== null ? Reflect.get(parsed, 'threshold') : undefined;
  if (typeof threshold !== 'object' || threshold === null || typeof Reflect.get(threshold, 'value') !== 'number') return undefined;
  return Reflect.get(threshold, 'scale') === 'calibrated' ? 'calibrated' : 'raw';
}

/**
 * The publish step: claims the next version, copies the model (a TF.js model, or any artifact
 * as it is: copy-model.ts) and the evaluation's metrics and report under `models/<name>/<version>/`, writes the version record, moves `latest`, and moves
 * `production` only when the gate passes. A retry of the same step reuses its claimed version.
 */
export async function publish(store: ObjectStore, input: PublishInput, options: PublishOptions): Promise<PublishOutput> {
  const now = options.now ?? (() => new Date());
  const version = await claimVersion(store, input.name, options.owner, now);
  const prefix = registryKeys.version(input.name, version);
  let record = await readVersion(store, input.name, version);
  if (!record) {
    // The default lives here, not in the schema: publish steps from before formats keep their cache keys.
    const format = input.format ?? 'tfjs';
    const files = await copyModel(store, input.model, `${prefix}model`, format);
    let metricsKey: string | undefined;
    let evaluatedScale: 'raw' | 'calibrated' | undefined;
    if (input.metricsKey) {
      metricsKey = `${prefix}metrics.json`;
      const metricsJson = await store.get(input.metricsKey);
      evaluatedScale = thresholdScaleOf(metricsJson);
      await store.put(metricsKey, metricsJson, 'application/json');
    }
    // Since evaluate v3 (issue 27) a threshold may apply to the model's own probability while
    // calibration is still recorded: the record says which, so a consumer never calibrates a
    // probability that a raw threshold then cuts.
    const thresholdScale = input.thresholdScale ?? evaluatedScale ?? (input.calibration && input.calibration.method !== 'none' ? 'calibrated' : 'raw');
    let report: string | undefined;
    if (input.report) {
      report = `${prefix}report.md`;
      await store.put(report, await store.get(input.report), 'text/markdown; charset=utf-8');
    }
    const productionAlias = await readAlias(store, input.name, 'production');
    const production = productionAlias && (await readVersion(store, input.name, productionAlias.version));
    const decision = decidePromotion(input.promote, input.metrics, production ? { version: production.version, metrics: production.metrics } : undefined);
    record = {
      name: input.name,
      version,
      createdAt: now().toISOString(),
      model: `${prefix}model`,
      format,
      files,
      ...(input.classes ? { classes: input.classes } : {}),
      ...(input.threshold !== undefined ? { threshold: input.threshold, thresholdScale } : {}),
      ...(input.calibration ? { calibration: input.calibration } : {}),
      metrics: input.metrics,
      ...(metricsKey ? { metricsKey } : {}),
      ...(report ? { report } : {}),
      lineage: options.lineage,
      ...(input.promote ? { gate: input.promote } : {}),
      decision,
    } satisfies VersionRecord;
    // The record last: its presence means the version is complete.
    await writeVersion(store, record);
  }
  const latest = await readAlias(store, input.name, 'latest');
  if (!latest || latest.version < version) await writeAlias(store, input.name, 'latest', version, `published by ${options.owner}`, now);
  if (record.decision.promoted) {
    const production = await readAlias(store, input.name, 'production');
    if (production?.version !== version) await writeAlias(store, input.name, 'production', version, record.decision.reason, now);
  }
  return { version, prefix, promoted: record.decision.promoted, reason: record.decision.reason };
}
