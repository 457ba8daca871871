import { spawn } from 'node:child_process';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PipelineError } from '../../../common/index.ts';
import { PROJECT_ROOT } from '../../servers/binaries.ts';

/** Images per class of the offline demo's synthetic train split (val and test are carved from it). */
export const SYNTHETIC_PER_CLASS = 60;
const SYNTHETIC_SEED = 1;
const SYNTHETIC_SIZE = 64;

/**
 * Writes the offline demo's synthetic X-ray-like images (`npm run synth`, bench/synthetic-cli.ts)
 * under `parent` once and returns the dataset folder; later runs reuse it (the generator is
 * deterministic, so the dataset and every cached step after it stay the same). The generator
 * runs in its own process: it lives with the activities, which the client may not import.
 */
export async function syntheticDemoDataset(parent: string, perClass = SYNTHETIC_PER_CLASS): Promise<string> {
  const out = join(parent, `synthetic-seed${SYNTHETIC_SEED}-${perClass}x2`);
  const dataset = join(out, 'chest_xray');
  const complete = join(out, '.complete');
  if (await access(complete).then(() => true, () => false)) return dataset;
  const args = ['--import', 'tsx', join('bench', 'synthetic-cli.ts'), '--out', out, '--force', '--splits', 'train'];
  args.push('--per-class', String(perClass), '--size', String(SYNTHETIC_SIZE), '--seed', String(SYNTHETIC_SEED));
  const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => child.once('error', reject).once('exit', resolve));
  if (code !== 0) throw new PipelineError(`Writing the synthetic demo dataset to ${out} failed (exit ${code}): ${stderr.trim().split('\n').at(-1) ?? ''}`);
  await writeFile(complete, '');
  return dataset;
}
