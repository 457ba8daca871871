import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client as S3Client } from 'minio';
import { SourceUnreachableError, type StorageConfig } from '../../../common/index.ts';
import { s3ClientOptions } from '../../../common/storage-config.ts';
import { PROJECT_ROOT } from '../../servers/binaries.ts';
import { demoPublicSources, type DemoPublicSources } from './public-sources.ts';
import { storeArchiveOnce, storeModelOnce, type FetchProgress } from './store-once.ts';
import { syntheticDemoDataset } from './synthetic-dataset.ts';

/**
 * Where `mlp demo` takes its X-rays and its MobileNet from, in this order:
 * 1. what the user set (`--set dataset=…`, `--set backboneWeights=…`);
 * 2. the local development copy: MLP_SHARED_DIR, else `../shared` beside the checkout;
 * 3. the public sources (public-sources.ts), fetched once into the stack's object store and read
 *    from there ever after;
 * 4. offline: when none of those is there and the public sources cannot be reached, synthetic
 *    images and a small random backbone that is part of the repository
 *    (pipelines/demo-synthetic.yaml), said plainly at the start and beside the results.
 * A public file that does not match its pin is refused (ChecksumMismatchError): that is not
 * "offline", and running on something else would hide it.
 */

export const DEMO_PIPELINE = join(PROJECT_ROOT, 'pipelines', 'demo.yaml');
export const OFFLINE_DEMO_PIPELINE = join(PROJECT_ROOT, 'pipelines', 'demo-synthetic.yaml');

/** The development copy's layout (see ../shared/data/README.md and ../shared/models/README.md). */
const SHARED_DATASET = join('data', 'chest-xray-224');
const SHARED_BACKBONE = join('models', 'mobilenet_v1_0.75_224', 'model.json');

export type DemoSourceKind = 'explicit' | 'development copy' | 'public' | 'offline';

export interface DemoSources {
  kind: DemoSourceKind;
  /** The one line the demo prints before it starts its worker: which sources, and why. */
  line: string;
  /** The pipeline file to run. */
  pipeline: string;
  /** `--set` values the sources add; the user's own follow them. */
  settings: string[];
  /** Printed beside the results (the offline demo's are synthetic). */
  resultsNote?: string;
}

export interface ResolveDemoSourcesOptions {
  /** The user's `--set name=value` list. */
  userSettings: readonly string[];
  /** The stack's home: downloads in progress, the first-use record, the synthetic images. */
  stackHome: string;
  storage: StorageConfig;
  env?: NodeJS.ProcessEnv;
  onProgress?: (progress: FetchProgress) => void;
  /** Overrides the public sources (tests). */
  publicSources?: DemoPublicSources;
  /** How long to wait for a public server's answer. */
  connectTimeoutMs?: number;
}

function settingOf(settings: readonly string[], name: string): string | undefined {
  return settings.find((setting) => setting.startsWith(`${name}=`))?.slice(name.length + 1);
}

/** The development copy's folder when it holds the demo's data and model, else undefined. */
export function developmentCopy(env: NodeJS.ProcessEnv = process.env): { dir: string; isDefault: boolean } | undefined {
  const fromEnv = env['MLP_SHARED_DIR'];
  const dir = resolve(fromEnv ?? join(PROJECT_ROOT, '..', 'shared'));
  if (!existsSync(join(dir, SHARED_DATASET)) || !existsSync(join(dir, SHARED_BACKBONE))) return undefined;
  return { dir, isDefault: fromEnv === undefined };
}

/**
 * The sources that need no object store (yours, the development copy), known before the stack
 * starts, so the demo can say so in its first line; undefined when the public sources or the
 * offline fallback decide (`resolveDemoSources`).
 */
export function localDemoSources(userSettings: readonly string[], env: NodeJS.ProcessEnv = process.env): DemoSources | undefined {
  const explicitDataset = settingOf(userSettings, 'dataset');
  const explicitBackbone = settingOf(userSettings, 'backboneWeights');
  if (explicitDataset !== undefined && explicitBackbone !== undefined) {
    return { kind: 'explicit', line: `sources: yours — dataset ${explicitDataset}, backbone ${explicitBackbone} (--set)`, pipeline: DEMO_PIPELINE, settings: [] };
  }

  const shared = developmentCopy(env);
  if (shared !== undefined) {
    // demo.yaml's defaults name ../shared relative to the worker's folder (the checkout); another
    // folder is passed in full.
    const settings = shared.isDefault
      ? []
      : [`dataset=${pathToFileURL(join(shared.dir, SHARED_DATASET)).href}`, `backboneWeights=${join(shared.dir, SHARED_BACKBONE)}`];
    const why = shared.isDefault ? 'found beside the checkout' : 'MLP_SHARED_DIR';
    return { kind: 'development copy', line: `sources: the local development copy in ${shared.dir} (${why})${yours(explicitDataset, explicitBackbone)}`, pipeline: DEMO_PIPELINE, settings };
  }
  return undefined;
}

/** All four, in order; the public sources and the offline fallback need the stack's object store. */
export async function resolveDemoSources(options: ResolveDemoSourcesOptions): Promise<DemoSources> {
  const { userSettings, env = process.env } = options;
  const local = localDemoSources(userSettings, env);
  if (local !== undefined) return local;
  const explicitDataset = settingOf(userSettings, 'dataset');
  const explicitBackbone = settingOf(userSettings, 'backboneWeights');
  const sources = options.publicSources ?? demoPublicSources(env);
  const s3 = new S3Client(s3ClientOptions(options.storage));
  const deps = {
    s3,
    bucket: options.storage.bucket,
    downloadsDir: join(options.stackHome, 'downloads'),
    trustFile: join(options.stackHome, 'public-sources.json'),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
  };
  try {
    const backbone = explicitBackbone === undefined ? await storeModelOnce(sources.backbone, deps) : undefined;
    const dataset = explicitDataset === undefined ? await storeArchiveOnce(sources.dataset, deps) : undefined;
    const settings = [...(dataset ? [`dataset=${dataset.location}`] : []), ...(backbone ? [`backboneWeights=${backbone.location}`] : [])];
    const fetched = [backbone?.fetched, dataset?.fetched].some(Boolean);
    const parts = [
      backbone && `MobileNet from ${sources.backbone.modelUrl}`,
      dataset && `X-rays from ${sources.dataset.url} (sha256 ${dataset.sha256.slice(0, 12)}…, checked against ${dataset.verifiedBy === 'first use' ? 'nothing yet: trusted on first use and recorded' : `its ${dataset.verifiedBy}`})`,
    ].filter(Boolean);
    const where = fetched ? 'fetched once into object storage' : 'the copies already in object storage, no request made';
    return {
      kind: 'public',
      line: `sources: public — ${parts.join('; ')}; ${where} (no ../shared or MLP_SHARED_DIR here)${yours(explicitDataset, explicitBackbone)}`,
      pipeline: DEMO_PIPELINE,
      settings,
    };
  } catch (error) {
    if (!(error instanceof SourceUnreachableError)) throw error;
    if (explicitDataset !== undefined || explicitBackbone !== undefined) {
      throw new SourceUnreachableError(`${error.message}; set both dataset and backboneWeights to run without the public sources`);
    }
    const dataset = await syntheticDemoDataset(join(options.stackHome, 'demo'));
    return {
      kind: 'offline',
      line:
        `sources: OFFLINE — no ../shared or MLP_SHARED_DIR here and the public sources cannot be reached (${error.message}): ` +
        'running on SYNTHETIC images with a small random backbone, no download',
      pipeline: OFFLINE_DEMO_PIPELINE,
      settings: [`dataset=${pathToFileURL(dataset).href}`],
      resultsNote:
        'These results are on SYNTHETIC images with a small random backbone, not real chest X-rays. For the real ones, run the demo where ' +
        `${[...new Set([sources.backbone.modelUrl, sources.dataset.url].map((url) => new URL(url).host))].join(' and ')} can be reached (fetched once, then reused), ` +
        'or give local copies: npm run demo -- --set dataset=<folder or zip> --set backboneWeights=<MobileNet model.json>',
    };
  }
}

function yours(dataset: string | undefined, backbone: string | undefined): string {
  const set = [dataset !== undefined && `dataset ${dataset}`, backbone !== undefined && `backbone ${backbone}`].filter(Boolean);
  return set.length === 0 ? '' : `; yours (--set): ${set.join(', ')}`;
}
