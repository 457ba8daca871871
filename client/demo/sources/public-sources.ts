import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../../common/index.ts';
import { PROJECT_ROOT } from '../../servers/binaries.ts';

/**
 * Where the demo's real data and model come from on a machine that has neither the development
 * copy (`../shared`) nor anything in its object store yet: their public homes.
 *
 * - MobileNet v1 0.75/224, TF.js layers format, from the TensorFlow.js models bucket. Every file
 *   (model.json and its 55 weight shards) is pinned by sha256 in
 *   pipelines/sources/mobilenet_v1_0.75_224.sha256 (`sha256sum` format). The pins were computed
 *   from the development copy in ../shared/models/mobilenet_v1_0.75_224, a byte copy of those
 *   public files (see that folder's README); the public URL itself could not be reached where
 *   they were written, so the first fetch from it is also the first check that the two agree.
 * - The chest X-rays: the Kermany et al. archive (Mendeley Data, doi:10.17632/rscbjbr9sj, CC BY
 *   4.0, about 1.2 GB), the file pipelines/pneumonia-vgg19.yaml downloads. No sha256 of it is
 *   pinned here (it could not be downloaded where this was written, and inventing one would be
 *   worse than none): the demo trusts it on first use, records the sha256 of what it fetched in
 *   the stack's home and verifies every later fetch against that record. A maintainer who has
 *   the archive fills in `KERMANY_ARCHIVE_SHA256` to pin it for everyone.
 *
 * Tests and mirrors point the URLs elsewhere with MLP_DEMO_BACKBONE_URL (a model.json URL) and
 * MLP_DEMO_DATASET_URL.
 */

export const MOBILENET_MODEL_URL = 'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.75_224/model.json';
export const KERMANY_ARCHIVE_URL =
  'https://data.mendeley.com/public-files/datasets/rscbjbr9sj/files/f12eaf6d-6023-432f-acc9-80c9d7393433/file_downloaded';
/** Not known yet (see above); a maintainer who downloaded the archive pins it here. */
export const KERMANY_ARCHIVE_SHA256: string | undefined = undefined;

const MOBILENET_PINS_FILE = join(PROJECT_ROOT, 'pipelines', 'sources', 'mobilenet_v1_0.75_224.sha256');

/** A TF.js layers model whose files are each pinned by sha256. */
export interface PinnedModelSource {
  /** URL of model.json; the shards are fetched relative to it. */
  modelUrl: string;
  /** File name (relative to model.json) → sha256; model.json itself included. */
  pins: ReadonlyMap<string, string>;
  /** Object-store prefix the verified files are kept under. */
  storePrefix: string;
}

/** An archive pinned by sha256, or trusted on first use when `sha256` is undefined. */
export interface ArchiveSource {
  url: string;
  sha256: string | undefined;
  /** Object-store prefix: the archive is kept as `<prefix>/<sha256>.zip`. */
  storePrefix: string;
  /** What it is, for messages. */
  title: string;
}

export interface DemoPublicSources {
  backbone: PinnedModelSource;
  dataset: ArchiveSource;
}

/** Parses `sha256sum` output: `<64 hex>  <name>` per line. `file` names the file in errors. */
export function parseSha256Sums(text: string, file: string): Map<string, string> {
  const pins = new Map<string, string>();
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const match = /^([0-9a-f]{64}) [ *](\S+)$/.exec(line);
    if (!match?.[1] || !match[2]) throw new ConfigError(`${file}:${index + 1}: expected '<sha256>  <file name>', got '${line}'`);
    pins.set(match[2], match[1]);
  }
  return pins;
}

/** The public sources, with the environment's URL overrides applied. */
export function demoPublicSources(env: NodeJS.ProcessEnv = process.env): DemoPublicSources {
  return {
    backbone: {
      modelUrl: env['MLP_DEMO_BACKBONE_URL'] ?? MOBILENET_MODEL_URL,
      pins: parseSha256Sums(readFileSync(MOBILENET_PINS_FILE, 'utf8'), MOBILENET_PINS_FILE),
      storePrefix: 'sources/mobilenet_v1_0.75_224',
    },
    dataset: {
      url: env['MLP_DEMO_DATASET_URL'] ?? KERMANY_ARCHIVE_URL,
      sha256: KERMANY_ARCHIVE_SHA256,
      storePrefix: 'sources/chest-xray-kermany',
      title: env['MLP_DEMO_DATASET_URL'] === undefined ? 'the Kermany chest X-ray archive (~1.2 GB)' : `the X-ray archive ${env['MLP_DEMO_DATASET_URL']}`,
    },
  };
}
