import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { canonicalJson } from '../common/canonical-json.ts';
import { PipelineValidationError, type PipelineProblem } from '../common/errors.ts';
import type { ValuePath } from '../common/expressions.ts';
import {
  fromZodIssues,
  parseSetOptions,
  pipelineSpecSchema,
  resolvePipeline,
  type PipelineSpec,
  type SpecIssue,
} from '../common/pipeline-spec/index.ts';
import type { ResolvedPipeline } from '../common/resolved-pipeline.ts';

/**
 * Loads a pipeline file: YAML → strict schema and graph rules → params and `--set` → step
 * inputs checked against their kinds → `ResolvedPipeline` with its spec hash. Every problem
 * is reported as `file:line:col: message`, at the offending node (or its nearest parent).
 */

export interface LoadedPipeline {
  /** The file as written (after schema defaults), for `plan` and schedules. */
  spec: PipelineSpec;
  /** What the workflow runs. */
  resolved: ResolvedPipeline;
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

/** Validates and resolves pipeline text; `file` is the name used in messages. */
export function loadPipelineText(text: string, file: string, settings: readonly string[] = []): LoadedPipeline {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const [syntaxError] = document.errors;
  if (syntaxError !== undefined) {
    // Only the first: later YAML errors are mostly the parser losing its footing after it.
    const { line, col } = lines.linePos(syntaxError.pos[0]);
    throw new PipelineValidationError([{ file, line, col, message: `YAML: ${syntaxError.message.split('\n')[0] ?? ''}` }]);
  }
  const positions = new Positions(document, lines, file);
  const fail = (issues: SpecIssue[]): never => {
    throw new PipelineValidationError(
      issues.map((issue) => positions.problem(issue)).sort((a, b) => a.line - b.line || a.col - b.col),
    );
  };

  const overrides = parseSetOptions(settings);
  const parsed = pipelineSpecSchema.safeParse(document.toJS());
  if (!parsed.success) return fail(fromZodIssues(parsed.error.issues));
  const spec = parsed.data;
  const { pipeline, issues } = resolvePipeline(spec, overrides);
  if (issues.length > 0) return fail(issues);
  return { spec, resolved: { ...pipeline, specHash: specHashOf(pipeline) } };
}

/** Reads and loads a pipeline file; messages use `path` as given. */
export async function loadPipelineFile(path: string, settings: readonly string[] = []): Promise<LoadedPipeline> {
  return loadPipelineText(await readFile(path, 'utf8'), path, settings);
}
