import { z } from 'zod';
import { PipelineSpecError } from '../errors.ts';
import { STEP_KINDS } from '../step-kinds/index.ts';
import { API_VERSION, pipelineCommonShape, stepCommonShape } from './schema.ts';

/**
 * JSON Schema of pipeline files for editors (`# yaml-language-server: $schema=…`), generated
 * from the same zod schemas the client validates with. Unlike the validation schema, steps are
 * a union over the registered kinds so editors complete and check each kind's `with:`; there,
 * any value a `${{ … }}` string would not pass may also be such an expression, resolved later.
 */

type Json = Record<string, unknown>;

const EXPRESSION_SCHEMA: Json = {
  type: 'string',
  pattern: '^\\s*\\$\\{\\{.*\\}\\}\\s*$',
  description: '${{ params.<name> }}, ${{ steps.<id>.outputs.<name> }} or ${{ matrix.<name> }}',
};

function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True when an expression string would not pass `node`: another type, or a constrained string. */
function rejectsExpressions(node: Json): boolean {
  const type = node['type'];
  if (type === 'string') return ['pattern', 'format', 'enum', 'const'].some((key) => key in node);
  if (typeof type === 'string') return true;
  if ('const' in node) return typeof node['const'] !== 'string';
  if (Array.isArray(node['enum'])) return node['enum'].some((item) => typeof item !== 'string');
  return false;
}

/** Lets every non-string value below `node` be an expression instead (mutates `node`). */
function allowExpressions(node: Json, wrapSelf = true): void {
  for (const key of ['anyOf', 'oneOf', 'allOf', 'prefixItems']) {
    const list = node[key];
    if (Array.isArray(list)) list.filter(isJson).forEach((child) => allowExpressions(child));
  }
  const properties = node['properties'];
  if (isJson(properties)) Object.values(properties).filter(isJson).forEach((child) => allowExpressions(child));
  for (const key of ['items', 'additionalProperties']) {
    const child = node[key];
    if (isJson(child)) allowExpressions(child);
  }
  if (wrapSelf && rejectsExpressions(node)) {
    const { description, default: defaultValue, ...rest } = node;
    for (const key of Object.keys(node)) delete node[key];
    Object.assign(node, {
      ...(description === undefined ? {} : { description }),
      ...(defaultValue === undefined ? {} : { default: defaultValue }),
      anyOf: [rest, EXPRESSION_SCHEMA],
    });
  }
}

export function pipelineJsonSchema(): Json {
  const stepVariants = STEP_KINDS.map((kind) =>
    z
      .strictObject({
        ...stepCommonShape,
        uses: z.literal(kind.uses).describe(kind.description),
        with: kind.input.optional(),
      })
      .describe(`${kind.uses}: ${kind.description}`),
  );
  const [first, ...others] = stepVariants;
  if (first === undefined) throw new PipelineSpecError('Cannot generate the pipeline JSON Schema: no step kinds registered');
  const editorSchema = z
    .strictObject({
      ...pipelineCommonShape,
      steps: z.array(z.discriminatedUnion('uses', [first, ...others])).min(1),
    })
    .describe(`ML pipeline (${API_VERSION})`);
  const json: Json = z.toJSONSchema(editorSchema, { io: 'input', unrepresentable: 'any' });
  const steps = isJson(json['properties']) ? json['properties']['steps'] : undefined;
  const variants = isJson(steps) && isJson(steps['items']) ? steps['items']['oneOf'] ?? steps['items']['anyOf'] : undefined;
  if (!Array.isArray(variants)) throw new PipelineSpecError('Cannot generate the pipeline JSON Schema: unexpected shape of the generated steps schema');
  for (const variant of variants.filter(isJson)) {
    const withSchema = isJson(variant['properties']) ? variant['properties']['with'] : undefined;
    if (isJson(withSchema)) allowExpressions(withSchema, false);
  }
  return { title: `ML pipeline ${API_VERSION}`, ...json };
}
