import { ModelRegistryError } from '../../common/errors.ts';
import type { PublishInput, PublishOutput } from '../../common/step-kinds/publish.ts';
import type { ObjectStore } from '../object-store.ts';
import { ModelJsonSchema } from '../model-io/layers-model-io.ts';
import { modelJsonKey } from '../evaluation/trained-model.ts';
import { decidePromotion } from './promotion-gate.ts';
import { registryKeys, type Lineage, type VersionRecord } from '../../common/model-registry.ts';
import { claimVersion, readAlias, readVersion, writeAlias, writeVersion } from './registry.ts';

export interface PublishOptions {
  /** Identity of this publishing attempt chain (same across retries): `<workflowId>/<runId>/<stepId>`. */
  owner: string;
  lineage: Lineage;
  now?: () => Date;
}

/** Copies the model's files (model.json and the shards it lists) under the version; returns their keys. */
async function copyModel(store: ObjectStore, source: string, target: string): Promise<string[]> {
  const jsonKey = modelJsonKey(source);
  const parsed = ModelJsonSchema.safeParse(await store.getJson(jsonKey));
  if (!parsed.success) throw new ModelRegistryError(`Publish failed: ${jsonKey} is not a TF.js layers model.json`);
  const sourcePrefix = jsonKey.slice(0, jsonKey.lastIndexOf('/') + 1);
  const shards = parsed.data.weightsManifest.flatMap((group) => group.paths);
  const written: string[] = [];
  // Shards first: a reader that finds model.json finds its weights too.
  for (const path of shards) {
    await store.put(`${target}/${path}`, await store.get(`${sourcePrefix}${path}`));
    written.push(`${target}/${path}`);
  }
  await store.put(`${target}/model.json`, await store.get(jsonKey), 'application/json');
  written.push(`${target}/model.json`);
  return written;
}

/**
 * The publish step: claims the next version, copies the model (and the evaluation's metrics and
 * report) under `models/<name>/<version>/`, writes the version record, moves `latest`, and moves
 * `production` only when the gate passes. A retry of the same step reuses its claimed version.
 */
export async function publish(store: ObjectStore, input: PublishInput, options: PublishOptions): Promise<PublishOutput> {
  const now = options.now ?? (() => new Date());
  const version = await claimVersion(store, input.name, options.owner, now);
  const prefix = registryKeys.version(input.name, version);
  let record = await readVersion(store, input.name, version);
  if (!record) {
    const files = await copyModel(store, input.model, `${prefix}model`);
    let metricsKey: string | undefined;
    if (input.metricsKey) {
      metricsKey = `${prefix}metrics.json`;
      await store.put(metricsKey, await store.get(input.metricsKey), 'application/json');
    }
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
      files,
      ...(input.classes ? { classes: input.classes } : {}),
      ...(input.threshold !== undefined ? { threshold: input.threshold } : {}),
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
