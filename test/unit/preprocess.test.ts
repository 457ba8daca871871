import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { datasetKeys } from '../../common/dataset-manifest.ts';
import { checkImage } from '../../activities/data/image-check.ts';
import { bt601Luma, preprocessImage } from '../../activities/data/preprocess.ts';
import { extractArchive } from '../../activities/data/extract.ts';
import { syntheticXray, writeSyntheticDataset, zipFolder } from '../../activities/data/synthetic.ts';
import { CHEST_XRAY_224_DIR } from '../helpers/shared-assets.ts';

const RGB_XRAY = join(CHEST_XRAY_224_DIR, 'train', 'NORMAL', 'IM-0115-0001.jpeg');

async function rgbJpeg(): Promise<Buffer> {
  // A 3-channel JPEG with unequal channels, so "grayscale first" is observable.
  return sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 200, g: 40, b: 90 } } }).jpeg().toBuffer();
}

describe('preprocessImage', () => {
  it('resizes to the requested size and keeps one gray channel: BT.601 luma, as PIL convert("L")', async () => {
    const source = await rgbJpeg();
    const gray = await preprocessImage(source, { width: 64, height: 48, channels: 3, fit: 'fill' });
    assert.equal(gray.length, 48 * 64);
    const [r = 0, g = 0, b = 0] = await sharp(source).raw().toBuffer();
    const luma = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    // Not channel 0 (about 200) nor a plain mean (about 110): the weighted luma, about 94.
    assert.ok(Math.abs(luma - 94) <= 3, `luma ${luma}`);
    assert.ok(gray.every((value) => Math.abs(value - luma) <= 1), `values ${gray.slice(0, 4).join(',')} vs ${luma}`);
  });

  it('computes luma exactly as PIL does, in integers', () => {
    assert.deepEqual([...bt601Luma(Uint8Array.from([255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 200, 40, 90]))], [255, 0, 76, 150, 29, 94]);
  });

  it('stores the same bytes under the same key for one or three channels: readers replicate', async () => {
    const source = await rgbJpeg();
    const one = { width: 32, height: 32, channels: 1 as const, fit: 'cover' as const };
    const three = { ...one, channels: 3 as const };
    assert.deepEqual(await preprocessImage(source, one), await preprocessImage(source, three));
    assert.equal(datasetKeys.shard('a'.repeat(64), one), datasetKeys.shard('a'.repeat(64), three));
    assert.notEqual(datasetKeys.shard('a'.repeat(64), one), datasetKeys.shard('a'.repeat(64), { ...one, fit: 'fill' }));
  });

  it('is deterministic: the same bytes and params give the same array', async () => {
    const source = await rgbJpeg();
    const params = { width: 224, height: 224, channels: 3 as const, fit: 'fill' as const };
    assert.deepEqual(await preprocessImage(source, params), await preprocessImage(source, params));
  });

  it('keeps the gray values of a gray X-ray stored as RGB (within JPEG rounding)', async () => {
    const source = await readFile(RGB_XRAY);
    const gray = await preprocessImage(source, { width: 224, height: 224, channels: 3, fit: 'fill' });
    const channel0 = await sharp(source).extractChannel(0).raw().toBuffer();
    assert.equal(gray.length, channel0.length);
    let maxDiff = 0;
    for (let i = 0; i < channel0.length; i++) maxDiff = Math.max(maxDiff, Math.abs((gray[i] ?? 0) - (channel0[i] ?? 0)));
    assert.ok(maxDiff <= 3, `max difference ${maxDiff}`);
  });
});

describe('checkImage', () => {
  it('accepts a real X-ray and reports its format and size', async () => {
    const result = await checkImage(await readFile(RGB_XRAY));
    assert.deepEqual(result, { ok: true, format: 'jpeg', width: 224, height: 224, channels: 3 });
  });

  it('rejects a truncated JPEG whose header still parses', async () => {
    const bytes = await readFile(RGB_XRAY);
    const result = await checkImage(bytes.subarray(0, Math.floor(bytes.length / 2)));
    assert.deepEqual(result, { ok: false, reason: 'cannot decode: truncated image data (no end-of-image marker after the last scan)' });
  });

  it('rejects a PNG cut before its IEND chunk, and accepts the whole one', async () => {
    const png = await sharp(await readFile(RGB_XRAY)).png().toBuffer();
    assert.equal((await checkImage(png)).ok, true);
    assert.deepEqual(await checkImage(png.subarray(0, png.length - 20)), { ok: false, reason: 'cannot decode: truncated image data (no IEND chunk after the image data)' });
  });

  it('rejects a text file as not an image', async () => {
    assert.deepEqual(await checkImage(Buffer.from('just some notes\n')), { ok: false, reason: 'not an image' });
  });
});

describe('synthetic X-rays', () => {
  it('are deterministic by seed and differ between seeds', () => {
    assert.deepEqual(syntheticXray(1, 'NORMAL', 0, 32), syntheticXray(1, 'NORMAL', 0, 32));
    assert.notDeepEqual(syntheticXray(1, 'NORMAL', 0, 32), syntheticXray(2, 'NORMAL', 0, 32));
  });

  it('carry a class signal: pneumonia lungs are brighter on average', () => {
    const mean = (cls: 'NORMAL' | 'PNEUMONIA') => {
      let total = 0;
      for (let i = 0; i < 20; i++) total += syntheticXray(5, cls, i, 48).reduce((sum, v) => sum + v, 0);
      return total / (20 * 48 * 48);
    };
    assert.ok(mean('PNEUMONIA') > mean('NORMAL') + 1, `${mean('PNEUMONIA')} vs ${mean('NORMAL')}`);
  });

  it('are written in the real dataset layout and zip deterministically', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mlp-synth-'));
    try {
      const root = await writeSyntheticDataset({ dir, seed: 3, counts: { train: { NORMAL: 2, PNEUMONIA: 1 }, test: { NORMAL: 1 } } });
      assert.equal(root, join(dir, 'chest_xray'));
      const files = (await readdir(root, { recursive: true })).filter((f) => f.endsWith('.jpeg')).sort();
      assert.deepEqual(files, ['test/NORMAL/normal-0000.jpeg', 'train/NORMAL/normal-0000.jpeg', 'train/NORMAL/normal-0001.jpeg', 'train/PNEUMONIA/pneumonia-0000.jpeg']);
      const meta = await sharp(join(root, files[1] ?? '')).metadata();
      assert.deepEqual([meta.width, meta.height, meta.channels], [64, 64, 1]);

      // Zipped twice: byte-identical archives that extract back to the same files.
      const [zipA, zipB] = [`${dir}-a.zip`, `${dir}-b.zip`];
      try {
        await zipFolder(dir, zipA);
        await zipFolder(dir, zipB);
        assert.deepEqual(await readFile(zipA), await readFile(zipB));
        const out = join(dir, 'extracted');
        await extractArchive(zipA, out);
        const extracted = (await readdir(join(out, 'chest_xray'), { recursive: true })).filter((f) => f.endsWith('.jpeg')).sort();
        assert.deepEqual(extracted, files);
      } finally {
        await rm(zipA, { force: true });
        await rm(zipB, { force: true });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
