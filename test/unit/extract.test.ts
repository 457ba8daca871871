import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import { extractArchive, safeEntryPath } from '../../activities/data/extract.ts';
import { ArchiveError } from '../../common/errors.ts';
import { buildTarGzWithSymlink, buildZip, renameEntry } from '../helpers/archives.ts';

describe('safe archive extraction', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mlp-extract-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function writeZip(name: string, zip: Buffer): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, zip);
    return path;
  }

  async function listFiles(root: string): Promise<string[]> {
    const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(root.length + 1)).sort();
  }

  it('extracts a zip and skips __MACOSX/ and dot-files', async () => {
    const zip = await buildZip([
      { name: 'chest_xray/train/NORMAL/a.jpeg', data: 'a' },
      { name: 'chest_xray/train/NORMAL/.DS_Store', data: 'x' },
      { name: '__MACOSX/chest_xray/._a.jpeg', data: 'x' },
      { name: 'chest_xray/train/PNEUMONIA/b.jpeg', data: 'bb', compress: true },
    ]);
    const target = join(dir, 'out');
    const result = await extractArchive(await writeZip('ok.zip', zip), target);
    assert.deepEqual(await listFiles(target), ['chest_xray/train/NORMAL/a.jpeg', 'chest_xray/train/PNEUMONIA/b.jpeg']);
    assert.deepEqual(result, { files: 2, bytes: 3, skipped: 2 });
    assert.equal(await readFile(join(target, 'chest_xray/train/PNEUMONIA/b.jpeg'), 'utf8'), 'bb');
  });

  it('rejects a zip-slip entry and writes nothing outside the target', async () => {
    const zip = renameEntry(await buildZip([{ name: 'zz/evil.txt', data: 'pwned' }]), 'zz/evil.txt', '../evil.txt');
    const target = join(dir, 'out');
    await assert.rejects(extractArchive(await writeZip('slip.zip', zip), target), (error: unknown) => {
      assert.ok(error instanceof ArchiveError);
      assert.match(error.message, /Unsafe entry in .*slip\.zip: .*\.\.\/evil\.txt/);
      return true;
    });
    assert.deepEqual(await readdir(dir), ['slip.zip']);
  });

  it('rejects an absolute entry path', async () => {
    const zip = renameEntry(await buildZip([{ name: 'zetc/evil', data: 'x' }]), 'zetc/evil', '/etc/evil');
    await assert.rejects(extractArchive(await writeZip('abs.zip', zip), join(dir, 'out')), (error: unknown) => {
      assert.ok(error instanceof ArchiveError);
      assert.match(error.message, /absolute path: \/etc\/evil/);
      return true;
    });
  });

  it('refuses a symlink entry in a zip', async () => {
    const zip = await buildZip([{ name: 'train/A/link', data: '/etc/passwd', mode: 0o120777 }]);
    await assert.rejects(extractArchive(await writeZip('link.zip', zip), join(dir, 'out')), (error: unknown) => {
      assert.ok(error instanceof ArchiveError);
      assert.match(error.message, /Refusing symlink entry "train\/A\/link" in .*link\.zip/);
      return true;
    });
  });

  it('refuses a zip bomb by its compression ratio before inflating it', async () => {
    const zip = await buildZip([{ name: 'bomb.bin', data: Buffer.alloc(64 * 1024 * 1024), compress: true }]);
    assert.ok(zip.length < 200_000, `bomb zip is ${zip.length} bytes`);
    const target = join(dir, 'out');
    await assert.rejects(extractArchive(await writeZip('bomb.zip', zip), target), (error: unknown) => {
      assert.ok(error instanceof ArchiveError);
      assert.match(error.message, /Refusing entry "bomb\.bin" in .*bomb\.zip: compression ratio \d+ exceeds 100 \(zip bomb\?\)/);
      return true;
    });
    assert.deepEqual(await listFiles(target), []);
  });

  it('enforces the entry-count and total-size limits', async () => {
    const zip = await writeZip('many.zip', await buildZip([1, 2, 3].map((i) => ({ name: `f${i}.txt`, data: 'abcd' }))));
    await assert.rejects(
      extractArchive(zip, join(dir, 'a'), { maxEntries: 2, maxTotalBytes: 1e9, maxCompressionRatio: 100 }),
      /has more than 2 entries \(at "f3\.txt"\)/,
    );
    await assert.rejects(
      extractArchive(zip, join(dir, 'b'), { maxEntries: 10, maxTotalBytes: 10, maxCompressionRatio: 100 }),
      /expands to more than 10 bytes \(at "f3\.txt"\)/,
    );
  });

  it('reports a truncated zip as an ArchiveError', async () => {
    const zip = await buildZip([{ name: 'a.txt', data: Buffer.alloc(10_000, 7) }]);
    const truncated = zip.subarray(0, Math.floor(zip.length / 2));
    await assert.rejects(extractArchive(await writeZip('cut.zip', truncated), join(dir, 'out')), (error: unknown) => {
      assert.ok(error instanceof ArchiveError);
      assert.match(error.message, /Cannot read zip archive .*cut\.zip: truncated or corrupt/);
      return true;
    });
  });

  it('extracts a tar.gz and refuses one holding a symlink', async () => {
    const src = join(dir, 'plain');
    await mkdir(join(src, 'train', 'B'), { recursive: true });
    await writeFile(join(src, 'train', 'B', 'b.txt'), 'b');
    const good = join(dir, 'good.tar.gz');
    await tar.c({ gzip: true, file: good, cwd: src, portable: true }, ['train']);
    const target = join(dir, 'out');
    assert.deepEqual(await extractArchive(good, target), { files: 1, bytes: 1, skipped: 0 });
    assert.deepEqual(await listFiles(target), ['train/B/b.txt']);

    const bad = join(dir, 'link.tar.gz');
    await buildTarGzWithSymlink(dir, bad, '/etc/passwd');
    await assert.rejects(extractArchive(bad, join(dir, 'out2')), (error: unknown) => {
      assert.ok(error instanceof ArchiveError);
      assert.match(error.message, /Refusing symlink entry "train\/A\/link" in .*link\.tar\.gz/);
      return true;
    });
  });

  it('leaves errors of its own disk writes retryable instead of blaming the archive', async () => {
    const zip = await writeZip('ok.zip', await buildZip([{ name: 'train/A/a.jpeg', data: 'a' }]));
    const blocker = join(dir, 'blocker');
    await writeFile(blocker, 'a file where the target folder should go');
    await assert.rejects(extractArchive(zip, join(blocker, 'out')), (error: unknown) => {
      assert.ok(!(error instanceof ArchiveError), String(error));
      assert.ok(error instanceof Error && 'code' in error && error.code === 'ENOTDIR');
      return true;
    });
  });

  it('rejects a file that is no archive', async () => {
    await assert.rejects(extractArchive(await writeZip('x.bin', Buffer.from('hello')), join(dir, 'out')), /not a zip, tar or tar\.gz archive/);
  });

  it('judges entry paths: escapes throw, junk is skipped, the rest is normalized', () => {
    assert.throws(() => safeEntryPath('a.zip', 'x/../../y'), ArchiveError);
    assert.throws(() => safeEntryPath('a.zip', 'C:/x'), ArchiveError);
    assert.equal(safeEntryPath('a.zip', '__MACOSX/x'), undefined);
    assert.equal(safeEntryPath('a.zip', 'x/.hidden/y'), undefined);
    assert.equal(safeEntryPath('a.zip', './x//y'), 'x/y');
  });
});
