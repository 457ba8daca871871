/**
 * Data-step throughput: import (read, sha256, full decode check, upload) + subset (sample,
 * fetch, resize to 224 px, grayscale → 3 channels, PNG, upload) of the real chest X-rays, on the
 * real S3 server started by the test harness.
 *
 *   npm run bench:data [-- --concurrency 8 --size 224 --repeat 3]
 *
 * Prints JSON: images/s end to end for the 224-px set (5,190 train + 16 val images) and,
 * separately, for the full-size sample (20 originals up to ~2,900 px), plus per-phase rates, the
 * rate of a second, fully cached run (everything already stored), CPU per image, and the image
 * work alone (check + preprocess from memory, no object storage). Each cold run uses a bucket of
 * its own; the headline is the median of `--repeat` runs, since one run on a shared 2-core
 * machine varies by ±10 %.
 */
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { importDataset } from '../activities/data/import-dataset.ts';
import { silentLogger } from '../activities/data/logger.ts';
import { createSubset } from '../activities/data/subset.ts';
import { checkImage } from '../activities/data/image-check.ts';
import { preprocessImage } from '../activities/data/preprocess.ts';
import pLimit from 'p-limit';
import { ObjectStore } from '../activities/object-store.ts';
import { startTestServers } from '../test/helpers/servers.ts';
import { workerThreadpoolSize } from '../client/workers/worker-process.ts';
import { spawnSync } from 'node:child_process';

// Measure as a worker runs (see workerThreadpoolSize): libuv's pool must be sized before the
// process starts, so run again with it set.
if (process.env['UV_THREADPOOL_SIZE'] === undefined) {
  const child = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, UV_THREADPOOL_SIZE: workerThreadpoolSize() },
  });
  process.exit(child.status ?? 1);
}

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '8' },
    size: { type: 'string', default: '224' },
    data: { type: 'string', default: '/work/shared/data' },
    repeat: { type: 'string', default: '3' },
  },
});
const concurrency = Number(values.concurrency);
const size = Number(values.size);
const repeat = Math.max(1, Number(values.repeat));

/** The run whose end-to-end rate is the median of `runs`. */
function medianRun<T extends { endToEnd: PhaseResult }>(runs: T[]): T {
  const sorted = [...runs].sort((a, b) => a.endToEnd.imagesPerSecond - b.endToEnd.imagesPerSecond);
  return sorted[Math.floor((sorted.length - 1) / 2)] as T;
}

interface PhaseResult {
  images: number;
  seconds: number;
  imagesPerSecond: number;
}

function phase(images: number, ms: number): PhaseResult {
  const seconds = ms / 1000;
  return { images, seconds: Number(seconds.toFixed(2)), imagesPerSecond: Math.round(images / seconds) };
}

/** CPU milliseconds used so far by a process and its reaped children (Linux /proc, 100 Hz ticks). */
async function processCpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return [11, 12, 13, 14].reduce((sum, index) => sum + Number(fields[index] ?? 0), 0) * 10;
}

/**
 * Wall-clock rates depend on what else runs on the machine (this one is shared); CPU time per
 * image does not. `cpuBoundImagesPerSecond` is what the CPUs could sustain if this run had them
 * all: cores / (worker + S3 server CPU per image).
 */
async function withCpu<T>(run: () => Promise<T>, images: () => number): Promise<T & { cpuMsPerImage: { worker: number; s3Server: number }; cpuBoundImagesPerSecond: number }> {
  const node0 = process.cpuUsage();
  const s30 = await processCpuMs(servers.pids.s3);
  const result = await run();
  const node = process.cpuUsage(node0);
  const workerMs = (node.user + node.system) / 1000 / images();
  const s3Ms = ((await processCpuMs(servers.pids.s3)) - s30) / images();
  return {
    ...result,
    cpuMsPerImage: { worker: Number(workerMs.toFixed(2)), s3Server: Number(s3Ms.toFixed(2)) },
    cpuBoundImagesPerSecond: Math.round((os.cpus().length * 1000) / (workerMs + s3Ms)),
  };
}

async function importAndSubset(store: ObjectStore, dir: string, testFrom: 'val' | 'train') {
  let images = 0;
  return withCpu(async () => {
    const result = await importAndSubsetOnce(store, dir, testFrom);
    images = result.endToEnd.images;
    return result;
  }, () => images);
}

async function importAndSubsetOnce(store: ObjectStore, dir: string, testFrom: 'val' | 'train') {
  const t0 = performance.now();
  const imported = await importDataset({ dir, source: dir, store, log: silentLogger, concurrency });
  const t1 = performance.now();
  const subset = await createSubset({
    spec: {
      datasetManifest: imported.manifestKey,
      seed: 42,
      // The notebook's full run: 90 % train, 10 % val carved from train (disjoint).
      train: { from: 'train', fraction: testFrom === 'val' ? 0.9 : 0.8 },
      val: { from: 'train', fraction: 0.1 },
      test: { from: testFrom, fraction: testFrom === 'val' ? 1 : 0.1 },
      image: { width: size, height: size, channels: 3, fit: 'fill' },
    },
    store,
    log: silentLogger,
    concurrency,
  });
  const t2 = performance.now();
  const images = imported.manifest.images.length;
  const drawn = subset.splits.train.images + subset.splits.val.images + subset.splits.test.images;
  return {
    endToEnd: phase(images, t2 - t0),
    import: { ...phase(images, t1 - t0), uploaded: imported.uploaded, reused: imported.reused, skipped: imported.skipped.length },
    subset: { ...phase(drawn, t2 - t1), ...subset.preprocessed },
  };
}

/** All image files below a folder, read into memory. */
async function readImages(dir: string): Promise<Buffer[]> {
  const names = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile() && /\.jpe?g$/i.test(e.name));
  return Promise.all(names.map((e) => readFile(join(e.parentPath, e.name))));
}

/**
 * The image work alone (check + preprocess, as import and subset do it), from memory, without
 * object storage: what sharp sustains here. `rounds` repeats small sets for a stable rate.
 */
async function imageWorkOnly(images: Buffer[], rounds = 1) {
  const limit = pLimit(concurrency);
  const node0 = process.cpuUsage();
  const t0 = performance.now();
  for (let round = 0; round < rounds; round++) {
    await Promise.all(
      images.map((bytes) =>
        limit(async () => {
          await checkImage(bytes);
          await preprocessImage(bytes, { width: size, height: size, channels: 3, fit: 'fill' });
        }),
      ),
    );
  }
  const node = process.cpuUsage(node0);
  const count = images.length * rounds;
  return { ...phase(count, performance.now() - t0), cpuMsPerImage: Number(((node.user + node.system) / 1000 / count).toFixed(2)) };
}

const servers = await startTestServers({ bucketPrefix: 'bench-data' });
const scratch = await mkdtemp(join(os.tmpdir(), 'mlp-bench-data-'));
try {
  const base = new ObjectStore(servers.storage);
  const freshStore = async (name: string): Promise<ObjectStore> => {
    const store = base.forBucket(`${base.bucket}-${name}`);
    await store.ensureBucket();
    return store;
  };
  const small = join(values.data, 'chest-xray-224');
  const runs224 = [];
  for (let run = 0; run < repeat; run++) runs224.push(await importAndSubset(await freshStore(`r${run}`), small, 'val'));
  const first224 = medianRun(runs224);
  const cached224 = await importAndSubset(await freshStore(`r${repeat - 1}`), small, 'val');

  // The full-size sample has no split folder: give it one.
  const fullres = join(scratch, 'fullres');
  await cp(join(values.data, 'chest-xray-fullres-sample'), join(fullres, 'train'), { recursive: true });
  const fullRuns = [];
  for (let run = 0; run < repeat; run++) fullRuns.push(await importAndSubset(await freshStore(`full${run}`), fullres, 'train'));
  const fullSize = medianRun(fullRuns);
  const imageWork224 = await imageWorkOnly(await readImages(small));
  const imageWorkFullSize = await imageWorkOnly(await readImages(fullres), 5);

  console.log(
    JSON.stringify(
      {
        bench: 'data',
        machine: {
          cpus: os.cpus().length,
          loadavg1: Number(os.loadavg()[0]?.toFixed(2)),
          sharpConcurrency: sharp.concurrency(),
          uvThreadpoolSize: Number(process.env['UV_THREADPOOL_SIZE']),
        },
        concurrency,
        imageSize: size,
        repeat,
        images224: {
          ...first224,
          endToEndRuns: runs224.map((run) => run.endToEnd.imagesPerSecond),
          secondRunAllCached: { ...cached224.endToEnd, cpuMsPerImage: cached224.cpuMsPerImage },
          imageWorkOnly: imageWork224,
        },
        fullSizeSample: { ...fullSize, endToEndRuns: fullRuns.map((run) => run.endToEnd.imagesPerSecond), imageWorkOnly: imageWorkFullSize },
        targets: { images224PerSecond: 300, fullSizePerSecond: 60 },
      },
      null,
      2,
    ),
  );
} finally {
  await rm(scratch, { recursive: true, force: true });
  await servers.stop();
}
