#!/usr/bin/env -S npx tsx
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
// Any backend builds it the same: seeded initialisers draw their numbers in JavaScript.
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { serializeModel, WEIGHTS_FILE } from '../activities/model-io/layers-model-io.ts';

/**
 * `npx tsx bench/tiny-backbone.ts [--out dir]`: writes the small, randomly initialised backbone the
 * offline demo (pipelines/demo-synthetic.yaml) trains when neither the development copy nor the
 * public MobileNet can be reached. Three strided 3x3 convolutions, 64 px in, 8x8x32 out at layer
 * `features`; seeded, so the same bytes every time (a unit test regenerates it and compares). It
 * is committed, 24 kB, so a bare clone builds the demo's model without any download.
 */
export const TINY_BACKBONE_DIR = resolve(import.meta.dirname, '..', 'pipelines', 'offline', 'tiny-backbone');

/** The tiny backbone's files: model.json (topology and weights manifest) and its one shard. */
export async function tinyBackboneFiles(): Promise<{ modelJson: string; weights: Uint8Array }> {
  const input = tfl.input({ shape: [64, 64, 3], name: 'input' });
  let x: tfl.SymbolicTensor = input;
  const layers = [
    { name: 'conv1', filters: 8 },
    { name: 'conv2', filters: 16 },
    { name: 'features', filters: 32 },
  ];
  for (const [index, { name, filters }] of layers.entries()) {
    const conv = tfl.layers.conv2d({
      name,
      filters,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: tfl.initializers.heNormal({ seed: 26 + index }),
    });
    x = conv.apply(x) as tfl.SymbolicTensor;
  }
  const model = tfl.model({ inputs: input, outputs: x, name: 'tiny_backbone' });
  try {
    const { modelJson, weights } = await serializeModel(model);
    return { modelJson: `${JSON.stringify(modelJson, null, 1)}\n`, weights };
  } finally {
    model.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const outIndex = process.argv.indexOf('--out');
  const out = outIndex === -1 ? TINY_BACKBONE_DIR : resolve(process.argv[outIndex + 1] ?? '.');
  const { modelJson, weights } = await tinyBackboneFiles();
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'model.json'), modelJson);
  await writeFile(join(out, WEIGHTS_FILE), weights);
  process.stdout.write(`Wrote ${join(out, 'model.json')} and ${WEIGHTS_FILE} (${weights.byteLength} bytes)\n`);
}
