import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI as `npm run synth` does (tsx on bench/synthetic-cli.ts) from the repository root;
 * node directly rather than npx, whose own warnings (npm config notices) would mix into stderr.
 */
function synth(...args: string[]): Promise<CliRun> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', 'bench/synthetic-cli.ts', ...args], { cwd: ROOT }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      done({ code, stdout, stderr });
    });
  });
}

/** sha256 of every file below `dir`, keyed by its path relative to `dir`. */
async function fileHashes(dir: string): Promise<Record<string, string>> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const hashes: Record<string, string> = {};
  for (const entry of entries.filter((e) => e.isFile())) {
    const path = join(entry.parentPath, entry.name);
    hashes[relative(dir, path)] = createHash('sha256').update(await readFile(path)).digest('hex');
  }
  return Object.fromEntries(Object.entries(hashes).sort(([a], [b]) => a.localeCompare(b)));
}

describe('the synthetic dataset CLI (npm run synth)', function () {
  this.timeout(60_000);
  let tmp: string;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'mlp-synth-cli-'));
  });

  after(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const args = (name: string, seed = '3') => ['--out', join(tmp, name), '--seed', seed, '--per-class', '2', '--size', '16', '--zip', join(tmp, `${name}.zip`), '--json'];

  it('writes {split}/{CLASS} folders with the asked number of JPEGs and a zip, and reports them as JSON', async () => {
    const run = await synth(...args('a'));
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), {
      dir: join(tmp, 'a', 'chest_xray'),
      zip: join(tmp, 'a.zip'),
      images: 12,
      classes: ['NORMAL', 'PNEUMONIA'],
    });
    const expected = ['test', 'train', 'val'].flatMap((split) =>
      ['NORMAL', 'PNEUMONIA'].flatMap((cls) => [0, 1].map((i) => join('chest_xray', split, cls, `${cls.toLowerCase()}-000${i}.jpeg`))),
    );
    assert.deepEqual(Object.keys(await fileHashes(join(tmp, 'a'))), expected.sort((a, b) => a.localeCompare(b)));
    const jpeg = await readFile(join(tmp, 'a', expected[0] ?? ''));
    assert.deepEqual([...jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff]);
    const zip = await readFile(join(tmp, 'a.zip'));
    assert.equal(zip.subarray(0, 4).toString('latin1'), 'PK\u0003\u0004');
  });

  it('gives byte-identical files and zip for the same seed, and different images for another seed', async () => {
    const runs = [await synth(...args('first')), await synth(...args('second')), await synth(...args('other', '4'))];
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const [a, again, other] = [await fileHashes(join(tmp, 'first')), await fileHashes(join(tmp, 'second')), await fileHashes(join(tmp, 'other'))];
    assert.equal(Object.keys(a).length, 12);
    assert.deepEqual(again, a);
    const sha = async (file: string) => createHash('sha256').update(await readFile(join(tmp, file))).digest('hex');
    assert.equal(await sha('second.zip'), await sha('first.zip'));
    assert.deepEqual(Object.keys(other), Object.keys(a));
    assert.ok(Object.keys(a).every((path) => other[path] !== a[path]), 'another seed changes every image');
  });

  it('rejects a bad number with exit code 2, naming the flag and the expected value', async () => {
    const seed = await synth('--out', join(tmp, 'bad'), '--seed', 'abc');
    assert.equal(seed.code, 2);
    assert.match(seed.stderr, /^error: option '--seed <n>' argument 'abc' is invalid\. expected a non-negative integer$/m);
    const perClass = await synth('--out', join(tmp, 'bad'), '--per-class', '0');
    assert.equal(perClass.code, 2);
    assert.match(perClass.stderr, /^error: option '--per-class <n>' argument '0' is invalid\. expected an integer from 1 to 1000000$/m);
    const size = await synth('--out', join(tmp, 'bad'), '--size', '12.5');
    assert.equal(size.code, 2);
    assert.match(size.stderr, /^error: option '--size <px>' argument '12\.5' is invalid\. expected an integer from 1 to 4096 \(pixels\)$/m);
    assert.equal(seed.stdout + perClass.stdout + size.stdout, '');
    await assert.rejects(readdir(join(tmp, 'bad')), { code: 'ENOENT' });
  });

  it('refuses a non-empty --out folder with exit code 1 unless --force, which replaces its contents', async () => {
    const out = join(tmp, 'used');
    await mkdir(out);
    await writeFile(join(out, 'notes.txt'), 'keep me');
    const refused = await synth('--out', out, '--per-class', '1', '--size', '16');
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, `error: ConfigError: Cannot write the synthetic dataset: --out ${out} is not empty (1 entry); pass --force to replace its contents\n`);
    assert.deepEqual(await readdir(out), ['notes.txt']);

    const forced = await synth('--out', out, '--per-class', '1', '--size', '16', '--splits', 'train', '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(forced.stdout, `Wrote 2 images (train × NORMAL, PNEUMONIA, seed 1) to ${join(out, 'chest_xray')}\n`);
    assert.deepEqual(Object.keys(await fileHashes(out)), [join('chest_xray', 'train', 'NORMAL', 'normal-0000.jpeg'), join('chest_xray', 'train', 'PNEUMONIA', 'pneumonia-0000.jpeg')]);
  });
});
