import assert from 'node:assert/strict';
import { chmod, link, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import { createHash } from 'node:crypto';
import { DEFAULT_CODE_MAX_BYTES, packageCodeFolder } from '../../client/pipelines/code-package.ts';
import { RunCodeError } from '../../common/errors.ts';
import { codeArchiveKey } from '../../common/object-keys.ts';

interface ListedEntry {
  type: string;
  mode: number;
  mtime: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  data: string;
}

describe('code folder packaging', () => {
  let dir: string;
  let code: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mlp-code-package-'));
    code = join(dir, 'fit');
    await writeCodeFolder(code);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function writeCodeFolder(root: string): Promise<void> {
    await mkdir(join(root, 'lib', 'empty'), { recursive: true });
    await writeFile(join(root, 'fit.py'), 'print("fit")\n');
    await writeFile(join(root, 'requirements.txt'), 'numpy==2.1.0\n');
    await writeFile(join(root, 'lib', 'model.py'), 'W = 1\n');
    await writeFile(join(root, 'run.sh'), '#!/bin/sh\necho hi\n');
    await chmod(join(root, 'run.sh'), 0o755);
  }

  async function writeArchive(archive: Buffer): Promise<string> {
    const path = join(dir, 'code.tar.gz');
    await writeFile(path, archive);
    return path;
  }

  /** Every entry of the archive by path, in archive order, with its header fields and content. */
  async function listArchive(archive: Buffer): Promise<Map<string, ListedEntry>> {
    const archivePath = await writeArchive(archive);
    const entries = new Map<string, ListedEntry>();
    await tar.list({
      file: archivePath,
      onReadEntry: (entry) => {
        const chunks: Buffer[] = [];
        entry.on('data', (chunk: Buffer) => chunks.push(chunk));
        entry.on('end', () => {
          entries.set(entry.path, {
            type: entry.type,
            mode: entry.mode ?? -1,
            mtime: entry.mtime?.getTime() ?? -1,
            uid: entry.uid ?? -1,
            gid: entry.gid ?? -1,
            uname: entry.uname ?? '',
            gname: entry.gname ?? '',
            data: Buffer.concat(chunks).toString(),
          });
        });
      },
    });
    return entries;
  }

  it('gives the same sha256 for the same files, whatever their mtimes, path or permissions beyond the executable bit', async () => {
    const first = await packageCodeFolder(code);
    const again = await packageCodeFolder(code);
    assert.equal(again.sha256, first.sha256);
    assert.ok(again.archive.equals(first.archive));

    await utimes(join(code, 'fit.py'), new Date('2001-02-03'), new Date('2001-02-03'));
    await utimes(join(code, 'lib'), new Date('2011-02-03'), new Date('2011-02-03'));
    await chmod(join(code, 'requirements.txt'), 0o664);
    assert.equal((await packageCodeFolder(code)).sha256, first.sha256);

    const elsewhere = join(dir, 'another', 'place', 'code');
    await writeCodeFolder(elsewhere);
    assert.equal((await packageCodeFolder(elsewhere)).sha256, first.sha256);
    assert.equal(first.sha256, createHash('sha256').update(first.archive).digest('hex'));
    assert.match(first.sha256, /^[a-f0-9]{64}$/);
  });

  it('gives another sha256 when one byte or the executable bit changes', async () => {
    const first = await packageCodeFolder(code);
    await writeFile(join(code, 'lib', 'model.py'), 'W = 2\n');
    const edited = await packageCodeFolder(code);
    assert.notEqual(edited.sha256, first.sha256);
    await chmod(join(code, 'run.sh'), 0o644);
    assert.notEqual((await packageCodeFolder(code)).sha256, edited.sha256);
  });

  it('unpacks to the same files, sorted, with no owner, no mtime, and a portable gzip header', async () => {
    const packaged = await packageCodeFolder(code);
    assert.equal(packaged.files, 4);
    assert.equal(packaged.bytes, 'print("fit")\n'.length + 'numpy==2.1.0\n'.length + 'W = 1\n'.length + '#!/bin/sh\necho hi\n'.length);
    const entries = await listArchive(packaged.archive);
    assert.deepEqual([...entries.keys()], ['fit.py', 'lib/', 'lib/empty/', 'lib/model.py', 'requirements.txt', 'run.sh']);
    assert.equal(entries.get('fit.py')?.data, 'print("fit")\n');
    assert.equal(entries.get('lib/model.py')?.data, 'W = 1\n');
    assert.equal(entries.get('lib/empty/')?.type, 'Directory');
    assert.equal((entries.get('run.sh')?.mode ?? 0) & 0o111, 0o111);
    for (const entry of entries.values()) {
      assert.ok(entry.mtime <= 0, 'mtime is fixed');
      assert.ok(entry.uid <= 0 && entry.gid <= 0, 'owner is root or absent');
      assert.equal(entry.uname, '');
      assert.equal(entry.gname, '');
    }
    // gzip header (RFC 1952): MTIME (bytes 4-7) zero, no FNAME flag, OS "unknown".
    assert.equal(packaged.archive.readUInt32LE(4), 0);
    assert.equal(packaged.archive.readUInt8(3) & 0x08, 0);
    assert.equal(packaged.archive.readUInt8(9), 255);

    const target = join(dir, 'extracted');
    await mkdir(target);
    await tar.extract({ cwd: target, file: await writeArchive(packaged.archive) });
    assert.equal(await readFile(join(target, 'lib', 'model.py'), 'utf8'), 'W = 1\n');
  });

  it('leaves out .git, __pycache__, node_modules and .venv at any depth', async () => {
    const before = await packageCodeFolder(code);
    for (const excluded of ['.git', '__pycache__', 'node_modules', '.venv', 'lib/__pycache__', 'lib/.git']) {
      await mkdir(join(code, excluded), { recursive: true });
      await writeFile(join(code, excluded, 'junk'), 'x');
    }
    await writeFile(join(code, 'lib', 'node_modules'), 'a file with an excluded name');
    const after = await packageCodeFolder(code);
    assert.equal(after.sha256, before.sha256);
    assert.equal(after.files, before.files);
  });

  it('stores a symlink to a file inside the folder as that file, and a hard link as a file of its own', async () => {
    await symlink('lib/model.py', join(code, 'model-link.py'));
    await link(join(code, 'fit.py'), join(code, 'fit-copy.py'));
    const entries = await listArchive((await packageCodeFolder(code)).archive);
    assert.equal(entries.get('model-link.py')?.type, 'File');
    assert.equal(entries.get('model-link.py')?.data, 'W = 1\n');
    for (const name of ['fit.py', 'fit-copy.py']) {
      assert.equal(entries.get(name)?.type, 'File');
      assert.equal(entries.get(name)?.data, 'print("fit")\n');
    }
  });

  it('refuses symlinks that escape the folder, dangle or name a folder', async () => {
    await writeFile(join(dir, 'secret.txt'), 'secret');
    const cases: [string, string, RegExp][] = [
      ['../secret.txt', 'up.txt', /symlink up\.txt -> \.\.\/secret\.txt points outside the folder/],
      [join(dir, 'secret.txt'), 'abs.txt', /points outside the folder/],
      ['missing.py', 'dangling.py', /points to nothing/],
      ['lib', 'lib-link', /names a folder/],
    ];
    for (const [target, name, message] of cases) {
      await symlink(target, join(code, name));
      await assert.rejects(packageCodeFolder(code), (error: unknown) => error instanceof RunCodeError && message.test(error.message));
      await rm(join(code, name));
    }
  });

  it('refuses a missing folder and a folder over the size limit, naming the limit', async () => {
    await assert.rejects(packageCodeFolder(join(dir, 'nope')), (error: unknown) => error instanceof RunCodeError && /nope does not exist/.test(error.message));
    await writeFile(join(code, 'data.bin'), Buffer.alloc(2048));
    await assert.rejects(
      packageCodeFolder(code, { maxBytes: 1024 }),
      (error: unknown) => error instanceof RunCodeError && /fit is larger than the limit of 1024 bytes \(reached at data\.bin\)/.test(error.message),
    );
    assert.equal(DEFAULT_CODE_MAX_BYTES, 50 * 1024 * 1024);
    assert.equal((await packageCodeFolder(code)).files, 5);
  });

  it('stores the archive at code/<sha256>.tar.gz', () => {
    assert.equal(codeArchiveKey('ab'.repeat(32)), `code/${'ab'.repeat(32)}.tar.gz`);
  });
});
