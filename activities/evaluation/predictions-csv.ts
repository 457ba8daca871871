import { EvaluationError } from '../../common/errors.ts';

/**
 * Predictions CSV files: what a user's own model hands the evaluate step in place of a model.
 * One header line naming at least the columns `id`, `label` and `score` (in any order; other
 * columns are ignored), then one row per example: `label` the true class name, `score` the
 * probability of the positive class. Plain comma-separated values only: quoting is refused
 * (ids and class names need no commas), so every problem can be named by its line.
 */

/** The columns a predictions CSV must have. */
export const PREDICTION_COLUMNS = ['id', 'label', 'score'] as const;

/** One row of a predictions CSV. */
export interface PredictionRow {
  id: string;
  /** The true class name. */
  label: string;
  /** Probability of the positive class, in [0, 1]. */
  score: number;
  /** 1-based line in the file (the header is line 1), for errors. */
  line: number;
}

/** A decimal number as CSV writers print one (no hex, no Infinity, no NaN, no blanks). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function fail(file: string, line: number | undefined, problem: string): never {
  throw new EvaluationError(`Read predictions failed: ${file}${line === undefined ? '' : ` line ${line}`}: ${problem}`);
}

/** The header's column positions; a missing or repeated column is an error naming line 1. */
function columnsOf(header: string, file: string): { id: number; label: number; score: number; count: number } {
  const names = header.split(',').map((name) => name.trim());
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) fail(file, 1, `the header names column '${name}' twice`);
    seen.add(name);
  }
  const missing = PREDICTION_COLUMNS.filter((column) => !seen.has(column));
  if (missing.length > 0) fail(file, 1, `the header '${header}' lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (expected id,label,score)`);
  return { id: names.indexOf('id'), label: names.indexOf('label'), score: names.indexOf('score'), count: names.length };
}

/**
 * Parses a predictions CSV. `file` names it in errors (its object key). Refuses, naming the
 * line: an empty file or one without rows, a header without id, label or score, quoted fields,
 * a row with another number of fields than the header, an empty id or label, a score that is
 * not a number or lies outside [0, 1], and an id that appeared before. Blank lines at the end
 * (a trailing newline) are fine; a blank line between rows is not.
 */
export function parsePredictionsCsv(text: string, file: string): PredictionRow[] {
  const lines = text.replace(/^\uFEFF/, '').split('\n').map((line) => line.replace(/\r$/, ''));
  while (lines.length > 0 && lines.at(-1)?.trim() === '') lines.pop();
  const [header, ...body] = lines;
  if (header === undefined) fail(file, undefined, 'the file is empty (expected a header id,label,score and one row per example)');
  if (header.includes('"')) fail(file, 1, 'quoted fields are not supported (plain comma-separated values only)');
  const columns = columnsOf(header, file);
  if (body.length === 0) fail(file, undefined, 'the file has a header but no rows');

  const rows: PredictionRow[] = [];
  const firstLineOf = new Map<string, number>();
  body.forEach((text, index) => {
    const line = index + 2;
    if (text.trim() === '') fail(file, line, 'the line is blank (rows must follow each other)');
    if (text.includes('"')) fail(file, line, 'quoted fields are not supported (plain comma-separated values only)');
    const fields = text.split(',').map((field) => field.trim());
    if (fields.length !== columns.count) fail(file, line, `${fields.length} field${fields.length === 1 ? '' : 's'}, the header has ${columns.count} (a missing or extra column)`);
    const id = fields[columns.id] ?? '';
    const label = fields[columns.label] ?? '';
    const rawScore = fields[columns.score] ?? '';
    if (id === '') fail(file, line, 'the id is empty');
    if (label === '') fail(file, line, 'the label is empty');
    if (!DECIMAL.test(rawScore)) fail(file, line, `score '${rawScore}' is not a number`);
    const score = Number(rawScore);
    if (!(score >= 0 && score <= 1)) fail(file, line, `score ${rawScore} is outside [0, 1] (expected the probability of the positive class)`);
    const earlier = firstLineOf.get(id);
    if (earlier !== undefined) fail(file, line, `id '${id}' appeared before, on line ${earlier}`);
    firstLineOf.set(id, line);
    rows.push({ id, label, score, line });
  });
  return rows;
}

/**
 * The two classes a predictions evaluation scores, in report order: `classes` when the step
 * names them (two, the positive class among them), else the positive class and the one other
 * label of the first file read, negative first.
 */
export function predictionClasses(rows: readonly PredictionRow[], file: string, positiveClass: string, classes: readonly string[] | undefined): string[] {
  if (classes !== undefined) {
    if (classes.length !== 2) throw new EvaluationError(`Evaluate failed: classes lists ${classes.length} classes [${classes.join(', ')}]; the evaluate step scores binary classifiers`);
    if (!classes.includes(positiveClass)) throw new EvaluationError(`Evaluate failed: positiveClass '${positiveClass}' is not one of classes [${classes.join(', ')}]`);
    return [...classes];
  }
  if (!rows.some((row) => row.label === positiveClass)) {
    const seen = [...new Set(rows.map((row) => row.label))].slice(0, 5);
    throw new EvaluationError(`Evaluate failed: positiveClass '${positiveClass}' is not among the labels of ${file} (${seen.join(', ')}); set positiveClass to the class the score is the probability of`);
  }
  const negative = rows.find((row) => row.label !== positiveClass)?.label;
  if (negative === undefined) {
    throw new EvaluationError(`Evaluate failed: every label in ${file} is the positive class '${positiveClass}'; name both classes in classes: or check positiveClass`);
  }
  return [negative, positiveClass];
}

/** Refuses a row whose label is not one of `classes`, naming the file and line. */
export function checkLabels(rows: readonly PredictionRow[], file: string, classes: readonly string[], derived: boolean): void {
  const unknown = rows.find((row) => !classes.includes(row.label));
  if (unknown === undefined) return;
  const whence = derived ? ` (derived from positiveClass and the first other label read; name both in classes: if that is not what you meant)` : '';
  fail(file, unknown.line, `label '${unknown.label}' is not one of the classes [${classes.join(', ')}]${whence}`);
}
