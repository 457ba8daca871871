import type { PromotionDecision } from '../../common/model-registry.ts';

/** The publish step's `promote:` block. Higher metric values are better. */
export interface PromotionGate {
  metric: string;
  min?: number;
  mustBeatProduction: boolean;
}

/** The version the production alias points at now, with its metrics. */
export interface ProductionModel {
  version: number;
  metrics: Record<string, number>;
}

const f = (value: number): string => value.toFixed(4);

/**
 * Whether a new version takes the production alias, with the reason in plain words (it ends up
 * in the step outputs, the version record and the alias).
 */
export function decidePromotion(gate: PromotionGate | undefined, metrics: Record<string, number>, production: ProductionModel | undefined): PromotionDecision {
  if (!gate) return { promoted: false, reason: 'not promoted: the publish step has no promote gate (promote by hand with `mlp models promote`)' };
  const value = metrics[gate.metric];
  if (value === undefined || !Number.isFinite(value)) {
    return { promoted: false, reason: `not promoted: the gate's metric '${gate.metric}' is not among the metrics (${Object.keys(metrics).join(', ')})` };
  }
  const passed: string[] = [];
  if (gate.min !== undefined) {
    if (value < gate.min) return { promoted: false, reason: `not promoted: ${gate.metric} ${f(value)} is below the gate's minimum ${f(gate.min)}` };
    passed.push(`${gate.metric} ${f(value)} ≥ ${f(gate.min)}`);
  }
  if (gate.mustBeatProduction && production) {
    const current = production.metrics[gate.metric];
    if (current !== undefined && value <= current) {
      return { promoted: false, reason: `not promoted: ${gate.metric} ${f(value)} does not beat production version ${production.version} (${f(current)})` };
    }
    passed.push(current === undefined ? `production version ${production.version} has no ${gate.metric}` : `beats production version ${production.version} (${f(current)})`);
  } else if (gate.mustBeatProduction) {
    passed.push('no production version yet');
  }
  if (passed.length === 0) passed.push(`${gate.metric} ${f(value)}`);
  return { promoted: true, reason: `promoted: ${passed.join(', ')}` };
}
