import assert from 'node:assert/strict';
import { ObjectStore } from '../../activities/object-store.ts';
import { createStepLogWriter, TAIL_LINE_CHARS } from '../../activities/run/step-log.ts';
import { stepLogKey, stepLogStatusKey } from '../../common/object-keys.ts';
import { StepLogStatusSchema } from '../../common/step-log.ts';
import { startTestServers, type TestServers } from '../helpers/servers.ts';
import { waitUntil } from '../helpers/wait-until.ts';

/** Counts the writes that reach the real server: S3 has no append, so each is a whole log. */
class CountingStore extends ObjectStore {
  puts = 0;
  override async put(...args: Parameters<ObjectStore['put']>): Promise<void> {
    this.puts += 1;
    await super.put(...args);
  }
}

describe('the streamed log of a run step attempt, on the real S3 server', function () {
  this.timeout(60_000);
  let servers: TestServers;
  let store: CountingStore;
  let test = 0;
  let prefix: string;

  before(async () => {
    servers = await startTestServers({ bucketPrefix: 'steplog' });
    store = new CountingStore(servers.storage);
  });
  after(async () => {
    await servers?.stop();
  });
  beforeEach(() => {
    test += 1;
    prefix = `runs/logs-test-${test}/fit/`;
  });

  const read = async (key: string): Promise<string | undefined> => ((await store.exists(key)) ? (await store.get(key)).toString('utf8') : undefined);

  it('shows lines in the object while the command runs, then the whole log and the attempt’s status after close', async () => {
    const key = stepLogKey(prefix, 1);
    assert.equal(key, `${prefix}logs/attempt-1.log`);
    const writer = createStepLogWriter({ store, key, flushIntervalMs: 100 });
    writer.append('epoch 1 loss=0.9');
    writer.append('epoch 2 loss=0.5');
    await waitUntil('the first lines in the log object', async () => ((await read(key)) === 'epoch 1 loss=0.9\nepoch 2 loss=0.5\n' ? true : undefined), { timeoutMs: 10_000 });
    writer.append('epoch 3 loss=0.3');
    await waitUntil('the third line in the log object', async () => ((await read(key))?.endsWith('epoch 3 loss=0.3\n') === true ? true : undefined), { timeoutMs: 10_000 });
    assert.equal(await store.exists(stepLogStatusKey(prefix, 1)), false, 'no status while the attempt runs');

    writer.append('done');
    const startedAt = new Date(Date.now() - 5_000).toISOString();
    const endedAt = new Date().toISOString();
    await writer.close({ attempt: 1, exitCode: 0, signal: null, startedAt, endedAt });
    const log = 'epoch 1 loss=0.9\nepoch 2 loss=0.5\nepoch 3 loss=0.3\ndone\n';
    assert.equal(await read(key), log);
    const status = StepLogStatusSchema.parse(await store.getJson(stepLogStatusKey(prefix, 1)));
    assert.deepEqual(status, { attempt: 1, exitCode: 0, signal: null, startedAt, endedAt, bytes: Buffer.byteLength(log) });
    writer.append('after close');
    assert.equal(writer.lastLine(), 'done', 'lines after close are ignored');
  });

  it('uploads a burst of lines a few times, not once per line', async () => {
    const key = stepLogKey(prefix, 2);
    const before = store.puts;
    const writer = createStepLogWriter({ store, key, flushIntervalMs: 500 });
    for (let i = 0; i < 5_000; i++) writer.append(`line ${i}`);
    await writer.close();
    const text = await read(key);
    assert.equal(text?.split('\n').length, 5_001);
    assert.ok(text?.endsWith('line 4999\n'));
    assert.ok(store.puts - before <= 2, `${store.puts - before} uploads`);
    assert.equal(await store.exists(stepLogStatusKey(prefix, 2)), false, 'no status without one given');
  });

  it('keeps the last lines for errors and heartbeats, cut to a bounded length', async () => {
    const writer = createStepLogWriter({ store, key: stepLogKey(prefix, 1) });
    assert.equal(writer.lastLine(), undefined);
    for (let i = 1; i <= 30; i++) writer.append(`line ${i}`);
    writer.append('x'.repeat(TAIL_LINE_CHARS + 10));
    assert.deepEqual(writer.tail(3), ['line 29', 'line 30', `${'x'.repeat(TAIL_LINE_CHARS)}…`]);
    assert.equal(writer.tail(20).length, 20);
    assert.equal(writer.lastLine(), `${'x'.repeat(TAIL_LINE_CHARS)}…`);
    await writer.close();
    assert.ok((await read(stepLogKey(prefix, 1)))?.includes(`${'x'.repeat(TAIL_LINE_CHARS + 10)}\n`), 'the stored log keeps the whole line');
  });

  it('stops storing lines past maxBytes and says how many it left out', async () => {
    const key = stepLogKey(prefix, 1);
    const writer = createStepLogWriter({ store, key, maxBytes: 21 });
    for (let i = 1; i <= 6; i++) writer.append(`line ${i}`);
    writer.append('x');
    await writer.close({ attempt: 1, exitCode: 1, signal: null, startedAt: new Date().toISOString(), endedAt: new Date().toISOString() });
    const text = await read(key);
    assert.equal(text, 'line 1\nline 2\nline 3\n[mlp] the log reached 21 bytes: 4 more lines were not stored\n');
    assert.equal(writer.lastLine(), 'x');
    assert.equal(StepLogStatusSchema.parse(await store.getJson(stepLogStatusKey(prefix, 1))).bytes, Buffer.byteLength(text ?? ''));
  });
});
