import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import { canonicalJson } from '../../common/canonical-json.ts';
import { PipelineSpecError, PipelineValidationError, type PipelineProblem } from '../../common/errors.ts';
import type { ValuePath } from '../../common/expressions.ts';
import {
  fromZodIssues,
  parseSetOptions,
  pipelineSpecSchema,
  resolvePipeline,
  type PipelineSpec,
  type SpecIssue,
} from '../../common/pipeline-spec/index.ts';
import type { UnhashedPipeline } from '../../common/pipeline-spec/resolve.ts';
import type { ResolvedPipeline } from '../../common/resolved-pipeline.ts';
import { packageRunSteps, type RunCode } from './run-code.ts';

/**
 * Loads a pipeline file: YAML → strict schema and graph rules → params and `--set` → step
 * inputs checked against their kinds → (from a file) run steps' code folders checked and
 * packaged → `ResolvedPipeline` with its spec hash. Every problem is reported as
 * `file:line:col: message`, at the offending node (or its nearest parent).
 */

export interface LoadedPipeline {
  /** The file as written (after schema defaults), for `plan` and schedules. */
  spec: PipelineSpec;
  /** What the workflow runs. */
  resolved: ResolvedPipeline;
  /** The packaged code of the run steps, to upload before the run is submitted (client/pipelines/code-upload.ts). */
  code: RunCode[];
}

/** sha256 of the canonical JSON of the resolved spec (without the hash itself). */
export function specHashOf(pipeline: Omit<ResolvedPipeline, 'specHash'>): string {
  return createHash('sha256').update(canonicalJson(pipeline)).digest('hex');
}

class Positions {
  constructor(
    private readonly document: Document,
    private readonly lines: LineCounter,
    private readonly file: string,
  ) {}

  problem(issue: SpecIssue): PipelineProblem {
    const offset = this.offsetOf(issue.path, issue.atKey === true);
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col, message: issue.message };
  }

  /** Start offset of the node at `path`, else of its nearest ancestor that exists. */
  private offsetOf(path: ValuePath, atKey: boolean): number {
    if (atKey && path.length > 0) {
      const parent = this.document.getIn(path.slice(0, -1), true);
      const last = path[path.length - 1];
      if (isMap(parent)) {
        const pair = parent.items.find((item) => isScalar(item.key) && item.key.value === last);
        if (pair !== undefined && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
      }
    }
    for (let length = path.length; length > 0; length -= 1) {
      const node: unknown = this.document.getIn(path.slice(0, length), true);
      const range = isNode(node) ? node.range : undefined;
      if (range) return range[0];
    }
    return this.document.contents?.range?.[0] ?? 0;
  }
}

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && 'range' in value;
}

/** A pipeline that passed every check that needs no file system, and how to report later problems in it. */
interface ParsedPipeline {
  spec: PipelineSpec;
  pipeline: UnhashedPipeline;
  /** The error for problems found afterwards, with their file positions. */
  invalid: (issues: SpecIssue[]) => PipelineValidationError;
}

/**
 * Validates and resolves pipeline text; `file` is the name used in messages. Pure: run steps
 * keep their `code` folder as written (loadPipelineFile packages it).
 */
export function loadPipelineText(text: string, file: string, settings: readonly string[] = []): LoadedPipeline {
  const { spec, pipeline } = parsePipelineText(text, file, settings);
  return { spec, resolved: { ...pipeline, specHash: specHashOf(pipeline) }, code: [] };
}

function parsePipelineText(text: string, file: string, settings: readonly string[]): ParsedPipeline {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const [syntaxError] = document.errors;
  if (syntaxError !== undefined) {
    // Only the first: later YAML errors are mostly the parser losing its footing after it.
    const { line, col } = lines.linePos(syntaxError.pos[0]);
    throw new PipelineValidationError([{ file, line, col, message: `YAML: ${syntaxError.message.split('\n')[0] ?? ''}` }]);
  }
  const positions = new Positions(document, lines, file);
  const invalid = (issues: SpecIssue[]): PipelineValidationError =>
    new PipelineValidationError(issues.map((issue) => positions.problem(issue)).sort((a, b) => a.line - b.line || a.col - b.col));
  const fail = (issues: SpecIssue[]): never => {
    throw invalid(issues);
  };

  const overrides = parseSetOptions(settings);
  const data = toPlainData(document, lines, file);
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    const found = data === null || data === undefined ? 'an empty document' : Array.isArray(data) ? 'a list' : `a ${typeof data}`;
    return fail([{ path: [], message: `expected a pipeline (a mapping with apiVersion, name and steps), found ${found}` }]);
  }
  const parsed = pipelineSpecSchema.safeParse(data);
  if (!parsed.success) return fail(fromZodIssues(parsed.error.issues));
  const spec = parsed.data;
  const { pipeline, issues } = resolvePipeline(spec, overrides);
  if (issues.length > 0) return fail(issues);
  return { spec, pipeline, invalid };
}

/**
 * Aliases a pipeline may expand (the `yaml` default). A pipeline needs a handful; far more is a
 * "billion laughs" file that would expand into gigabytes.
 */
const MAX_ALIAS_COUNT = 100;

/** The document as plain data; an alias bomb is reported at its first alias instead of as a bare ReferenceError. */
function toPlainData(document: Document, lines: LineCounter, file: string): unknown {
  try {
    return document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    if (!(error instanceof ReferenceError)) throw error;
    let offset = 0;
    visit(document, {
      Alias(_key, node) {
        offset = node.range?.[0] ?? 0;
        return visit.BREAK;
      },
    });
    const { line, col } = lines.linePos(offset);
    throw new PipelineValidationError([
      { file, line, col, message: `YAML: aliases expand too often (more than ${MAX_ALIAS_COUNT} times): refusing a file that would blow up in memory` },
    ]);
  }
}

/** Offset of the first byte that makes `bytes` not UTF-8 text (a NUL or an invalid sequence), if any. */
function firstBinaryByte(bytes: Buffer): number | undefined {
  const nul = bytes.indexOf(0);
  if (nul !== -1) return nul;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return undefined;
  } catch {
    // Find where: the longest prefix that decodes.
    let low = 0;
    let high = bytes.length;
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, middle), { stream: true });
        low = middle;
      } catch {
        high = middle - 1;
      }
    }
    return low;
  }
}

/** Reads the file, turning a missing file, a folder or unreadable bytes into a clear PipelineSpecError. */
async function readPipelineBytes(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory, not a YAML file' : code === 'EACCES' ? 'permission denied' : String(error);
    throw new PipelineSpecError(`Cannot read pipeline file ${path}: ${why}`, { cause: error });
  }
  const binaryAt = firstBinaryByte(bytes);
  if (binaryAt !== undefined) {
    const { line, col } = bytePosition(bytes, binaryAt);
    throw new PipelineValidationError([
      { file: path, line, col, message: `not a UTF-8 text file (byte 0x${(bytes[binaryAt] ?? 0).toString(16).padStart(2, '0')} at offset ${binaryAt}): a pipeline file is YAML text` },
    ]);
  }
  return bytes.toString('utf8');
}

/** 1-based line and column of byte `offset` (columns in bytes: the line is not valid text). */
function bytePosition(bytes: Buffer, offset: number): { line: number; col: number } {
  const before = bytes.subarray(0, offset);
  let line = 1;
  for (let at = before.indexOf(10); at !== -1; at = before.indexOf(10, at + 1)) line += 1;
  return { line, col: offset - (before.lastIndexOf(10) + 1) + 1 };
}

/**
 * Reads and loads a pipeline file; messages use `path` as given. Run steps' code folders
 * (relative to the file) are checked and packaged: the resolved spec names each by its sha256.
 */
export async function loadPipelineFile(path: string, settings: readonly string[] = []): Promise<LoadedPipeline> {
  const { spec, pipeline, invalid } = parsePipelineText(await readPipelineBytes(path), path, settings);
  const packaged = await packageRunSteps(pipeline, { baseDir: dirname(path) });
  if (packaged.issues.length > 0) throw invalid(packaged.issues);
  return { spec, resolved: { ...packaged.pipeline, specHash: specHashOf(packaged.pipeline) }, code: packaged.code };
}
