import { createRequire } from 'node:module';
import proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root.js';

/**
 * Reads a history in proto-JSON form (as `temporal workflow show --output json` writes it).
 *
 * The SDK's `historyFromJSON` fails here with "type must be a Type": @temporalio/common and
 * @temporalio/proto each get their own nested protobufjs copy (the root one is 7.x), and the
 * JSON codec of one copy rejects the other's types. So the codec is loaded from the copy that
 * @temporalio/proto itself resolves.
 */
const protoRequire = createRequire(createRequire(import.meta.url).resolve('@temporalio/proto'));
const protojson: { fromJson(type: unknown, json: unknown, options: { ignoreUnknownFields: boolean }): unknown } =
  protoRequire('protobufjs/ext/protojson');

interface ReflectionRoot {
  lookupType(name: string): unknown;
}

function isReflectionRoot(value: unknown): value is ReflectionRoot {
  return typeof value === 'object' && value !== null && 'lookupType' in value && typeof value.lookupType === 'function';
}

const root: unknown = patchProtobufRoot(proto);
if (!isReflectionRoot(root)) throw new TypeError('@temporalio/proto no longer exposes a reflection root');
const historyType = root.lookupType('temporal.api.history.v1.History');

type History = proto.temporal.api.history.v1.IHistory;

function isHistory(value: unknown): value is History {
  return typeof value === 'object' && value !== null && 'events' in value && Array.isArray(value.events);
}

export function historyFromProtoJson(json: unknown): History {
  const history = protojson.fromJson(historyType, json, { ignoreUnknownFields: true });
  if (!isHistory(history)) throw new TypeError('Invalid history JSON: expected an object with an events array');
  return history;
}

/**
 * An exported history (`temporal workflow show --output json`) as searchable text: the export
 * itself plus every payload decoded, since payloads are base64 there and a secret inside one
 * would not show in the raw text.
 */
export function historyTextWithPayloads(exported: string): string {
  const decoded = [...exported.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)].map((match) => Buffer.from(match[1] ?? '', 'base64').toString('utf8'));
  return [exported, ...decoded].join('\n');
}
