import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { checkImage } from '../../activities/data/image-check.ts';
import { preprocessImage } from '../../activities/data/preprocess.ts';
import { extractArchive } from '../../activities/data/extract.ts';
import { syntheticXray, writeSyntheticDataset, zipFolder } from '../../activities/data/synthetic.ts';

const RGB_XRAY = '/work/shared/data/chest-xray-224/train/NORMAL/IM-0115-0001.jpeg';

async function rgbJpeg(): Promise<Buffer> {
  // A 3-channel JPEG with unequal channels, so "grayscale first" is observable.
  return sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 200, g: 40, b: 90 } } }).jpeg().toBuffer();
}

describe('preprocessImage', () => {
  it('resizes to the requested size and replicates grayscale to three identical channels', async () => {
    const png = await preprocessImage(await rgbJpeg(), { width: 64, height: 48, channels: 3, fit: 'fill' }, { gray: false });
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 64, 48, 3]);
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    for (let i = 0; i < data.length; i += 3) {
      assert.ok(data[i] === data[i + 1] && data[i] === data[i + 2], `pixel ${i / 3} is not gray`);
    }
  });

  it('writes one channel when asked for one', async () => {
    const png = await preprocessImage(await rgbJpeg(), { width: 32, height: 32, channels: 1, fit: 'cover' }, { gray: false });
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.width, meta.height, meta.channels, meta.space], [32, 32, 1, 'b-w']);
  });

  it('is deterministic: the same bytes and params give the same PNG', async () => {
    const source = await rgbJpeg();
    const params = { width: 224, height: 224, channels: 3 as const, fit: 'fill' as const };
    assert.deepEqual(await preprocessImage(source, params, { gray: false }), await preprocessImage(source, params, { gray: false }));
  });

  it('takes channel 0 of a gray image stored as RGB, matching the luminance path within rounding', async () => {
    const source = await readFile(RGB_XRAY);
    const params = { width: 100, height: 100, channels: 1 as const, fit: 'fill' as const };
    const fast = await sharp(await preprocessImage(source, params, { gray: true })).toColourspace('b-w').raw().toBuffer();
    const luminance = await sharp(await preprocessImage(source, params, { gray: false })).toColourspace('b-w').raw().toBuffer();
    assert.equal(fast.length, 100 * 100);
    let maxDiff = 0;
    for (let i = 0; i < fast.length; i++) maxDiff = Math.max(maxDiff, Math.abs((fast[i] ?? 0) - (luminance[i] ?? 0)));
    assert.ok(maxDiff <= 3, `max difference ${maxDiff}`);
  });
});

describe('checkImage', () => {
  it('accepts a real X-ray, reports its size and recognizes it as gray although stored as RGB', async () => {
    const result = await checkImage(await readFile(RGB_XRAY));
    assert.deepEqual(result, { ok: true, format: 'jpeg', width: 224, height: 224, channels: 3, gray: true });
  });

  it('recognizes a colour image as not gray', async () => {
    const result = await checkImage(await rgbJpeg());
    assert.equal(result.ok && result.gray, false);
  });

  it('rejects a truncated JPEG whose header still parses', async () => {
    const bytes = await readFile(RGB_XRAY);
    const result = await checkImage(bytes.subarray(0, Math.floor(bytes.length / 2)));
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.reason, /cannot decode: .*premature end/i);
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

describe('preprocessImage of a gray source stored as RGB', () => {
  it('writes three identical channels when asked for three', async () => {
    const png = await preprocessImage(await readFile(RGB_XRAY), { width: 50, height: 50, channels: 3, fit: 'fill' }, { gray: true });
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.channels, 3);
    for (let i = 0; i < data.length; i += 3) assert.ok(data[i] === data[i + 1] && data[i] === data[i + 2]);
  });
});
