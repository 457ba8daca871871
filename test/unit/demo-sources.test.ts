import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../../common/errors.ts';
import { demoPublicSources, MOBILENET_MODEL_URL, parseSha256Sums } from '../../client/demo/sources/public-sources.ts';
import { fetchProgressPrinter, formatProgress } from '../../client/demo/sources/progress-line.ts';
import { describeBeat } from '../../client/demo/follow-run.ts';
import { TINY_BACKBONE_DIR, tinyBackboneFiles } from '../../bench/tiny-backbone.ts';
import { MOBILENET_V1_DIR } from '../helpers/shared-assets.ts';

describe('the demo sources: pins, the offline backbone and progress lines', () => {
  it('pins every file of the public MobileNet, matching the development copy byte for byte', async function () {
    const { backbone } = demoPublicSources({});
    assert.equal(backbone.modelUrl, MOBILENET_MODEL_URL);
    const modelJson = JSON.parse(await readFile(join(MOBILENET_V1_DIR, 'model.json'), 'utf8').catch(() => 'null')) as { weightsManifest: { paths: string[] }[] } | null;
    if (modelJson === null) this.skip();
    const files = ['model.json', ...modelJson.weightsManifest.flatMap((group) => group.paths)];
    assert.deepEqual([...backbone.pins.keys()].sort(), files.sort());
    for (const file of files) {
      const found = createHash('sha256').update(await readFile(join(MOBILENET_V1_DIR, file))).digest('hex');
      assert.equal(backbone.pins.get(file), found, file);
    }
  });

  it('takes the public URLs from MLP_DEMO_BACKBONE_URL and MLP_DEMO_DATASET_URL when set', () => {
    const sources = demoPublicSources({ MLP_DEMO_BACKBONE_URL: 'http://mirror/m/model.json', MLP_DEMO_DATASET_URL: 'http://mirror/x.zip' });
    assert.equal(sources.backbone.modelUrl, 'http://mirror/m/model.json');
    assert.equal(sources.dataset.url, 'http://mirror/x.zip');
    assert.equal(sources.dataset.sha256, undefined, 'the archive has no pin yet: it is trusted on first use');
  });

  it('reports a malformed pin line with its file and line', () => {
    assert.throws(() => parseSha256Sums(`${'a'.repeat(64)}  model.json\nnot a pin\n`, 'pins.sha256'), (error: unknown) => error instanceof ConfigError && /^pins\.sha256:2: expected/.test(error.message));
  });

  it('ships the offline backbone exactly as bench/tiny-backbone.ts writes it', async () => {
    const { modelJson, weights } = await tinyBackboneFiles();
    assert.equal(await readFile(join(TINY_BACKBONE_DIR, 'model.json'), 'utf8'), modelJson);
    assert.deepEqual(new Uint8Array(await readFile(join(TINY_BACKBONE_DIR, 'weights.bin'))), weights);
  });

  it('prints download progress with bytes, share and rate, at most every interval and once when done', () => {
    assert.equal(formatProgress(312_400_000, 1_234_600_000, 38.6), '312.4 of 1234.6 MB (25%) · 8.1 MB/s');
    assert.equal(formatProgress(5_000_000, undefined, 0), '5.0 MB');
    const lines: string[] = [];
    let now = 0;
    const report = fetchProgressPrinter((line) => lines.push(line), 2000, () => now);
    report({ what: 'archive', bytesDone: 1_000_000, bytesTotal: 4_000_000 });
    now = 1000;
    report({ what: 'archive', bytesDone: 2_000_000, bytesTotal: 4_000_000 });
    now = 2500;
    report({ what: 'archive', bytesDone: 3_000_000, bytesTotal: 4_000_000 });
    now = 3000;
    report({ what: 'archive', bytesDone: 4_000_000, bytesTotal: 4_000_000 });
    assert.deepEqual(lines, [
      '    fetching archive  1.0 of 4.0 MB (25%)',
      '    fetching archive  3.0 of 4.0 MB (75%) · 1.2 MB/s',
      '    fetching archive  4.0 of 4.0 MB (100%) · 1.3 MB/s',
    ]);
  });

  it("shows a download step's heartbeats in the demo's follow lines as bytes, share and rate; other beats as they came", () => {
    const downloads = new Map<string, { bytes: number; at: number }>();
    assert.equal(describeBeat('download', { phase: 'download', bytesDone: 10_000_000, bytesTotal: 40_000_000 }, downloads, 1000), 'download 10.0 of 40.0 MB (25%)');
    assert.equal(describeBeat('download', { phase: 'download', bytesDone: 30_000_000, bytesTotal: 40_000_000 }, downloads, 5000), 'download 30.0 of 40.0 MB (75%) · 5.0 MB/s');
    assert.equal(describeBeat('download', { phase: 'import', imagesDone: 3, imagesTotal: 9 }, downloads, 6000), '{"phase":"import","imagesDone":3,"imagesTotal":9}');
  });
});
