/**
 * Feature-cache throughput on the real S3 server: per-image objects written and read back
 * (`ObjectStoreFeatureCache`), for MobileNet v1 + GAP rows (768 floats) and VGG19 + flatten rows
 * (25,088 floats). Prints JSON: rows/s and MB/s per direction.
 *
 *   npx tsx bench/feature-cache.ts [--rows 1000]
 */
import { parseArgs } from 'node:util';
import { ObjectStoreFeatureCache } from '../activities/features/feature-cache.ts';
import { ObjectStore } from '../activities/object-store.ts';
import { startTestServers } from '../test/helpers/servers.ts';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000' } } });
const rows = Number(values.rows);
const servers = await startTestServers({ bucketPrefix: 'bench-features' });
try {
  const cache = new ObjectStoreFeatureCache(new ObjectStore(servers.storage));
  const results = [];
  for (const [name, width] of [['mobilenet_v1+gap', 768], ['vgg19+flatten', 25_088]] as const) {
    const entries = Array.from({ length: rows }, (_, i) => ({ key: `${name}/${i}`, row: { shape: [width], values: new Float32Array(width).fill(i) } }));
    const mb = (rows * width * 4) / 1e6;
    let started = performance.now();
    await cache.put(entries);
    const putSeconds = (performance.now() - started) / 1000;
    started = performance.now();
    const read = await cache.get(entries.map((entry) => entry.key));
    const getSeconds = (performance.now() - started) / 1000;
    if (read.some((row, i) => row?.values[0] !== i)) throw new Error(`Feature cache bench failed: ${name} rows read back differ`);
    results.push({ features: name, floatsPerRow: width, rows, putRowsPerSecond: rows / putSeconds, putMBps: mb / putSeconds, getRowsPerSecond: rows / getSeconds, getMBps: mb / getSeconds });
  }
  console.log(JSON.stringify({ bench: 'feature-cache', s3: 'versitygw (local)', results }, null, 2));
} finally {
  await servers.stop();
}
