/**
 * Class prior shift: how common the positive class is on a split, estimated from the model's
 * scores alone (no labels), by the EM procedure of Saerens, Latinne & Decaestecker (2002),
 * "Adjusting the outputs of a classifier to new a priori probabilities: a simple procedure",
 * Neural Computation 14(1). Checked against an independent numpy implementation
 * (test/fixtures/metrics/make-shift-fixtures.py).
 *
 * EM needs posteriors that are calibrated *for a known prior*: it reweights each posterior by
 * the ratio of the new prior to that prior. The model's own probabilities assume whatever prior
 * training gave them (equal priors under balanced class weights, the training mix without), so
 * the evaluation feeds EM the Platt-calibrated probabilities, which are fitted on validation and
 * therefore calibrated to the validation prevalence, and passes that prevalence as the prior.
 */

/** The estimate and how EM got there. */
export interface PrevalenceEstimate {
  /** Estimated share of the positive class on the scored split. */
  prevalence: number;
  iterations: number;
  converged: boolean;
}

/** EM stops when the prior moves less than this in one iteration. */
export const EM_TOLERANCE = 1e-10;
export const EM_MAX_ITERATIONS = 10_000;

/**
 * The positive-class prior π of a split whose posteriors `posteriors` were calibrated for the
 * prior `trainingPrior`: iterate π ← mean_i p_i(π), where p_i(π) is posterior i re-weighted to
 * prior π (Bayes' rule with the likelihood ratio held fixed), from π = trainingPrior.
 */
export function estimatePrevalence(posteriors: readonly number[], trainingPrior: number, tolerance = EM_TOLERANCE, maxIterations = EM_MAX_ITERATIONS): PrevalenceEstimate {
  if (posteriors.length === 0) throw new RangeError('Prevalence estimation needs at least one score');
  if (!(trainingPrior > 0 && trainingPrior < 1)) throw new RangeError(`Prevalence estimation needs a training prior strictly between 0 and 1, got ${trainingPrior}`);
  for (let i = 0; i < posteriors.length; i++) {
    const p = posteriors[i] ?? NaN;
    if (!(p >= 0 && p <= 1)) throw new RangeError(`Prevalence estimation needs probabilities in [0, 1]: got ${p} at ${i}`);
  }
  let prior = trainingPrior;
  for (let iteration = 1; iteration <= maxIterations; iteration++) {
    const positiveRatio = prior / trainingPrior;
    const negativeRatio = (1 - prior) / (1 - trainingPrior);
    let sum = 0;
    for (const p of posteriors) {
      const positive = positiveRatio * p;
      const negative = negativeRatio * (1 - p);
      sum += positive + negative > 0 ? positive / (positive + negative) : 0;
    }
    const next = sum / posteriors.length;
    const moved = Math.abs(next - prior);
    prior = next;
    if (moved < tolerance) return { prevalence: prior, iterations: iteration, converged: true };
  }
  return { prevalence: prior, iterations: maxIterations, converged: false };
}

/** How far the estimate may sit from the validation prevalence before the evaluation warns (default of `shiftMargin`). */
export const DEFAULT_SHIFT_MARGIN = 0.1;

/** The prevalences an evaluation reports, and whether they differ enough to warn. */
export interface PriorShift {
  validation: number;
  estimated: number;
  /** From the test labels (an evaluation always has them); absent for unlabeled data. */
  actual?: number;
  margin: number;
  iterations: number;
  converged: boolean;
  /** Which probabilities EM re-weighted: Platt-calibrated (to the validation prior), or the model's own where no fit was possible. */
  posteriors: 'calibrated' | 'raw';
  /** Set when |estimated − validation| > margin: what the report and the step's outputs say. */
  warning?: string;
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** Prevalence estimate of a split against validation, with the warning when they differ by more than `margin`. */
export function priorShift(
  posteriors: readonly number[],
  validationPrevalence: number,
  options: { margin: number; actual?: number; positiveClass: string; posteriors: 'calibrated' | 'raw' },
): PriorShift {
  const { prevalence, iterations, converged } = estimatePrevalence(posteriors, validationPrevalence);
  const shifted = Math.abs(prevalence - validationPrevalence) > options.margin;
  return {
    validation: validationPrevalence,
    estimated: prevalence,
    ...(options.actual === undefined ? {} : { actual: options.actual }),
    margin: options.margin,
    iterations,
    converged,
    posteriors: options.posteriors,
    ...(shifted
      ? {
          warning:
            `class prior shift: the scored split looks ${pct(prevalence)} ${options.positiveClass} (estimated from the scores), validation is ${pct(validationPrevalence)} ` +
            `(more than ${(100 * options.margin).toFixed(1)} percentage points apart); thresholds and calibrated probabilities fitted on validation may not carry over`,
        }
      : {}),
  };
}

/**
 * The Bayes decision for a new prior, as a cut on the old posterior: a posterior p calibrated to
 * prior π_v, re-weighted to prior π̂ (p' = (π̂/π_v)·p / ((π̂/π_v)·p + ((1 − π̂)/(1 − π_v))·(1 − p)),
 * Saerens et al. 2002, eq. 2.4), is ≥ 0.5 exactly when p/(1 − p) ≥ (π_v/(1 − π_v))·((1 − π̂)/π̂).
 * Returns the p at equality: predicting positive when p ≥ it is the same as p' ≥ 0.5.
 */
export function priorAdjustedCut(fromPrior: number, toPrior: number): number {
  for (const [what, prior] of [['fromPrior', fromPrior], ['toPrior', toPrior]] as const) {
    if (!(prior > 0 && prior < 1)) throw new RangeError(`Prior adjustment needs ${what} strictly between 0 and 1, got ${prior}`);
  }
  const odds = (fromPrior / (1 - fromPrior)) * ((1 - toPrior) / toPrior);
  return odds / (1 + odds);
}
