import { PipelineSpecError } from '../../common/errors.ts';

/**
 * Loss weight per class index from a step's `classWeights`: `balanced` gives
 * total / (classes × count), as scikit-learn and the Keras tutorials do; a record names classes.
 */
export function resolveClassWeights(
  spec: 'balanced' | Record<string, number> | undefined,
  classes: readonly string[],
  counts: readonly number[],
): number[] | undefined {
  if (spec === undefined) return undefined;
  if (spec === 'balanced') {
    const total = counts.reduce((a, b) => a + b, 0);
    return classes.map((name, i) => {
      const count = counts[i] ?? 0;
      if (count === 0) throw new PipelineSpecError(`Resolve class weights failed: class ${name} has no training examples`);
      return total / (classes.length * count);
    });
  }
  const unknown = Object.keys(spec).filter((name) => !classes.includes(name));
  if (unknown.length > 0) throw new PipelineSpecError(`Resolve class weights failed: unknown classes ${unknown.join(', ')} (classes: ${classes.join(', ')})`);
  return classes.map((name) => spec[name] ?? 1);
}
