#!/usr/bin/env -S npx tsx
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { cliErrorOutcome } from '../common/cli-exit.ts';
import { DATASET_SPLITS, type DatasetSplit } from '../common/dataset-manifest.ts';
import { ConfigError } from '../common/errors.ts';
import { SYNTHETIC_CLASSES, writeSyntheticDataset, zipFolder, type SyntheticClass } from '../activities/data/synthetic.ts';

/**
 * `npm run synth -- --out <dir>`: writes a synthetic X-ray dataset (activities/data/synthetic.ts)
 * in the real archive's layout, optionally zipped, for trying pipelines and benchmarks without
 * the real data. It lives in bench/, beside the benchmarks that use the same generator, rather
 * than in the `mlp` client, because the client may not import activities (ESLint boundary).
 * Exit codes as `mlp`: 0 ok, 1 failed, 2 bad command line.
 */

interface SynthFlags {
  out: string;
  seed: number;
  perClass: number;
  splits: DatasetSplit[];
  size: number;
  wrapper: string;
  zip?: string;
  force?: boolean;
  json?: boolean;
}

/** What `--json` prints. */
export interface SynthResult {
  /** The dataset folder (`<out>/<wrapper>`), importable as a `file://` source. */
  dir: string;
  zip: string | null;
  images: number;
  classes: SyntheticClass[];
}

function integer(min: number, max: number, expected: string): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected ${expected}`);
    }
    return parsed;
  };
}

function splitList(value: string): DatasetSplit[] {
  const names = value.split(',').map((name) => name.trim());
  const splits = DATASET_SPLITS.filter((split) => names.includes(split));
  if (names.length === 0 || splits.length !== names.length) {
    throw new InvalidArgumentError(`expected a comma-separated list of distinct splits from ${DATASET_SPLITS.join(', ')}`);
  }
  return splits;
}

function folderName(value: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(value) || value === '.' || value === '..') {
    throw new InvalidArgumentError('expected one folder name (letters, digits, ".", "_", "-")');
  }
  return value;
}

/** `--out` must be new or empty; `--force` empties it, but never a folder holding the working directory. */
async function prepareOut(out: string, force: boolean): Promise<void> {
  const info = await stat(out).catch(() => undefined);
  if (info === undefined) {
    await mkdir(out, { recursive: true });
    return;
  }
  if (!info.isDirectory()) throw new ConfigError(`Cannot write the synthetic dataset: --out ${out} exists and is not a folder`);
  const entries = await readdir(out);
  if (entries.length === 0) return;
  if (!force) {
    throw new ConfigError(`Cannot write the synthetic dataset: --out ${out} is not empty (${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}); pass --force to replace its contents`);
  }
  const fromOut = relative(out, process.cwd());
  if (fromOut === '' || !(fromOut === '..' || fromOut.startsWith(`..${sep}`))) {
    throw new ConfigError(`Refusing --force on --out ${out}: it holds the current working directory`);
  }
  await Promise.all(entries.map((entry) => rm(resolve(out, entry), { recursive: true, force: true })));
}

async function synthesize(flags: SynthFlags): Promise<SynthResult> {
  const out = resolve(flags.out);
  const zip = flags.zip === undefined ? undefined : resolve(flags.zip);
  await prepareOut(out, flags.force ?? false);
  const perClass = Object.fromEntries(SYNTHETIC_CLASSES.map((cls) => [cls, flags.perClass]));
  const counts = Object.fromEntries(flags.splits.map((split) => [split, perClass]));
  const dir = await writeSyntheticDataset({ dir: out, seed: flags.seed, counts, size: flags.size, wrapper: flags.wrapper });
  if (zip !== undefined) {
    await mkdir(resolve(zip, '..'), { recursive: true });
    // Entries start with the wrapper folder, as in the real archive.
    await zipFolder(out, zip);
  }
  return { dir, zip: zip ?? null, images: flags.splits.length * SYNTHETIC_CLASSES.length * flags.perClass, classes: [...SYNTHETIC_CLASSES] };
}

const program = new Command()
  .name('synth')
  .description('Write a synthetic chest X-ray dataset: <out>/<wrapper>/{split}/{NORMAL,PNEUMONIA}/*.jpeg, deterministic in the seed')
  .requiredOption('--out <dir>', 'folder to write into (must be new or empty)')
  .option('--seed <n>', 'seed; the same seed gives byte-identical files', integer(0, Number.MAX_SAFE_INTEGER, 'a non-negative integer'), 1)
  .option('--per-class <n>', 'images per class in each split', integer(1, 1_000_000, 'an integer from 1 to 1000000'), 10)
  .addOption(new Option('--splits <list>', 'splits to write').argParser(splitList).default([...DATASET_SPLITS], DATASET_SPLITS.join(',')))
  .option('--size <px>', 'side of the square images in pixels', integer(1, 4096, 'an integer from 1 to 4096 (pixels)'), 64)
  .option('--wrapper <name>', 'top folder, as in the real archive', folderName, 'chest_xray')
  .option('--zip <file>', 'also write a zip of the dataset (sorted entries, fixed timestamps)')
  .option('--force', 'delete the contents of a non-empty --out folder first')
  .option('--json', 'print {dir, zip, images, classes} as JSON')
  .showHelpAfterError()
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(text) })
  .action(async (flags: SynthFlags) => {
    const result = await synthesize(flags);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      process.stdout.write(`Wrote ${result.images} images (${flags.splits.join(', ')} × ${result.classes.join(', ')}, seed ${flags.seed}) to ${result.dir}\n`);
      if (result.zip !== null) process.stdout.write(`Zipped to ${result.zip}\n`);
    }
  });

await program.parseAsync(process.argv).catch((error: unknown) => {
  const outcome = cliErrorOutcome(error);
  if (outcome.message !== undefined) process.stderr.write(`${outcome.message}\n`);
  process.exitCode = outcome.exitCode;
});
