/**
 * Worker-thread side of the ONNX Runtime feature extractor (ort-extractor.ts): owns one
 * inference session. `InferenceSession.run()` of onnxruntime-node holds the thread that calls it
 * for the whole run, so it runs here and the activity's event loop (heartbeats, cancellation)
 * stays free.
 */
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { imageRuns, ortSessionOptions, OrtSettingsSchema, type OrtSettings } from './ort-session-options.ts';

const InitSchema = z.object({
  type: z.literal('init'),
  model: z.instanceof(Uint8Array),
  inputName: z.string(),
  outputName: z.string(),
  settings: OrtSettingsSchema,
});
const RunSchema = z.object({
  type: z.literal('run'),
  id: z.number(),
  data: z.instanceof(Float32Array),
  shape: z.array(z.number().int().min(0)),
});
const CloseSchema = z.object({ type: z.literal('close') });
const MessageSchema = z.discriminatedUnion('type', [InitSchema, RunSchema, CloseSchema]);

let session: { session: ort.InferenceSession; inputName: string; outputName: string } | undefined;
let settings: OrtSettings | undefined;

async function handle(message: z.infer<typeof MessageSchema>): Promise<void> {
  if (message.type === 'init') {
    const created = await ort.InferenceSession.create(message.model, ortSessionOptions(message.settings));
    session = { session: created, inputName: message.inputName, outputName: message.outputName };
    settings = message.settings;
    parentPort?.postMessage({ type: 'ready' });
    return;
  }
  if (message.type === 'close') {
    // Frees the session's native memory now rather than whenever the thread's finalizers run.
    await session?.session.release();
    session = undefined;
    parentPort?.close();
    return;
  }
  if (!session) throw new Error('the worker got a batch before its session');
  const { data, shape } = message;
  const [images = 0, ...example] = shape;
  const perImage = example.reduce((a, b) => a * b, 1);
  // Runs of `imagesPerRun` images, each on a view of the batch (no copy); outputs are copied
  // out, since an output tensor's buffer belongs to the runtime.
  const parts: Float32Array<ArrayBuffer>[] = [];
  let outShape: number[] = [];
  for (const { first, count } of imageRuns(images, settings?.imagesPerRun)) {
    const input = new ort.Tensor('float32', data.subarray(first * perImage, (first + count) * perImage), [count, ...example]);
    const outputs = await session.session.run({ [session.inputName]: input });
    input.dispose();
    const output = outputs[session.outputName];
    if (!output || output.type !== 'float32' || !(output.data instanceof Float32Array)) {
      throw new Error(`the session gave no float32 output '${session.outputName}'`);
    }
    parts.push(new Float32Array(output.data));
    outShape = [images, ...output.dims.slice(1).map(Number)];
    output.dispose();
  }
  const joined = parts.length === 1 && parts[0] ? parts[0] : new Float32Array(parts.reduce((n, part) => n + part.length, 0));
  if (joined !== parts[0]) {
    let offset = 0;
    for (const part of parts) {
      joined.set(part, offset);
      offset += part.length;
    }
  }
  parentPort?.postMessage({ type: 'result', id: message.id, data: joined, shape: outShape }, [joined.buffer]);
}

// One message at a time, in order: `session.run()` awaits, and a batch that started during that
// await would interleave its runs with the previous batch's (measured: batches then finish no
// sooner, each later). Queued batches start the moment the one before them ends.
let queue: Promise<void> = Promise.resolve();
parentPort?.on('message', (raw: unknown) => {
  const parsed = MessageSchema.safeParse(raw);
  const id = parsed.success && parsed.data.type === 'run' ? parsed.data.id : undefined;
  const work = queue.then(() => (parsed.success ? handle(parsed.data) : Promise.reject(new Error(`unexpected message: ${parsed.error.message}`))));
  queue = work.catch((error: unknown) => {
    parentPort?.postMessage({ type: 'error', ...(id !== undefined ? { id } : {}), message: error instanceof Error ? error.message : String(error) });
  });
});
