/**
 * Probability calibration and its measures, as pure functions checked against scikit-learn
 * (test/fixtures/metrics/sklearn-calibration.json).
 *
 * Platt scaling on the logit of the model's probability: p' = σ(a·logit(p) + b), fitted on the
 * validation split. Temperature scaling is the special case b = 0 (a = 1/T); the bias term also
 * corrects a shifted class prior (class weights, a validation split with another class mix) at
 * the cost of one more parameter, which a few hundred validation images fix well. Both are
 * monotone, so ranking metrics (AUC) do not change. Platt's smoothed targets, as sklearn's
 * `CalibratedClassifierCV(method='sigmoid')` uses them, keep the fit finite on a separable
 * validation split, where plain maximum likelihood (Platt or temperature) sends the slope to
 * infinity: exactly the almost separable validation split carved from train that issue 14 saw.
 */

/** Probabilities are clipped to [ε, 1 − ε] before the logit: float32 softmax outputs reach 0 and 1 exactly. */
export const LOGIT_EPS = 1e-7;

/** Equal-width bins over [0, 1] for the reliability diagram and ECE, as sklearn's `calibration_curve` default. */
export const CALIBRATION_BINS = 10;

/** Platt parameters: p' = σ(a·logit(p) + b). */
export interface PlattParameters {
  a: number;
  b: number;
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

export function logit(p: number): number {
  const q = Math.min(Math.max(p, LOGIT_EPS), 1 - LOGIT_EPS);
  return Math.log(q / (1 - q));
}

function checkBinary(what: string, labels: readonly number[], scores: readonly number[]): { positives: number; negatives: number } {
  if (labels.length !== scores.length) throw new RangeError(`${what} needs as many scores as labels: ${scores.length} scores, ${labels.length} labels`);
  let positives = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 0 && labels[i] !== 1) throw new RangeError(`${what} needs binary labels (0 or 1): got ${labels[i]} at ${i}`);
    const score = scores[i] ?? NaN;
    if (!(score >= 0 && score <= 1)) throw new RangeError(`${what} needs probabilities in [0, 1]: got ${score} at ${i}`);
    positives += labels[i] ?? 0;
  }
  return { positives, negatives: labels.length - positives };
}

/**
 * Fits Platt scaling by Newton's method with step halving (the loss is convex in (a, b), so the
 * optimum is unique and the result deterministic). Targets are Platt's: (N₊ + 1)/(N₊ + 2) for
 * positives and 1/(N₋ + 2) for negatives. Starts where sklearn does: a = 0, b = log((N₊+1)/(N₋+1)).
 */
export function fitPlatt(labels: readonly number[], scores: readonly number[]): PlattParameters {
  const { positives, negatives } = checkBinary('Platt scaling', labels, scores);
  if (positives === 0 || negatives === 0) throw new RangeError(`Platt scaling needs both classes: ${positives} positives, ${negatives} negatives`);
  const f = scores.map(logit);
  const high = (positives + 1) / (positives + 2);
  const low = 1 / (negatives + 2);
  const t = labels.map((label) => (label === 1 ? high : low));
  const loss = (a: number, b: number): number => {
    let sum = 0;
    for (let i = 0; i < f.length; i++) {
      // −[t log σ(z) + (1 − t) log(1 − σ(z))] = log(1 + e^z) − t·z, computed without overflow.
      const z = a * (f[i] ?? 0) + b;
      sum += (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - (t[i] ?? 0) * z;
    }
    return sum;
  };
  let a = 0;
  let b = Math.log((positives + 1) / (negatives + 1));
  let current = loss(a, b);
  for (let iteration = 0; iteration < 200; iteration++) {
    let ga = 0;
    let gb = 0;
    let haa = 0;
    let hab = 0;
    let hbb = 0;
    for (let i = 0; i < f.length; i++) {
      const fi = f[i] ?? 0;
      const p = sigmoid(a * fi + b);
      const d = p - (t[i] ?? 0);
      const w = Math.max(p * (1 - p), 1e-300);
      ga += d * fi;
      gb += d;
      haa += w * fi * fi;
      hab += w * fi;
      hbb += w;
    }
    // A tiny ridge keeps the 2×2 system solvable when every logit is equal.
    const det = (haa + 1e-12) * (hbb + 1e-12) - hab * hab;
    const da = -((hbb + 1e-12) * ga - hab * gb) / det;
    const db = -((haa + 1e-12) * gb - hab * ga) / det;
    let step = 1;
    let next = loss(a + da, b + db);
    while (next > current && step > 1e-10) {
      step /= 2;
      next = loss(a + step * da, b + step * db);
    }
    if (next > current) break;
    a += step * da;
    b += step * db;
    const moved = Math.abs(step * da) + Math.abs(step * db);
    current = next;
    if (moved < 1e-13 * (1 + Math.abs(a) + Math.abs(b))) break;
  }
  return { a, b };
}

/** Calibrated probability of one raw probability. */
export function applyPlatt(parameters: PlattParameters, score: number): number {
  return sigmoid(parameters.a * logit(score) + parameters.b);
}

/** The raw probability whose calibrated value is `calibrated` (the inverse map; needs a > 0). */
export function invertPlatt(parameters: PlattParameters, calibrated: number): number {
  if (calibrated <= 0) return 0;
  if (calibrated >= 1) return 1;
  return sigmoid((Math.log(calibrated / (1 - calibrated)) - parameters.b) / parameters.a);
}

/** Mean squared difference between the probability and the 0/1 label (sklearn's `brier_score_loss`). */
export function brierScore(labels: readonly number[], scores: readonly number[]): number {
  checkBinary('Brier score', labels, scores);
  let sum = 0;
  for (let i = 0; i < labels.length; i++) sum += ((scores[i] ?? 0) - (labels[i] ?? 0)) ** 2;
  return labels.length === 0 ? 0 : sum / labels.length;
}

/** One non-empty bin of a reliability diagram. */
export interface ReliabilityBin {
  /** Bin index, 0 for the lowest probabilities. */
  bin: number;
  count: number;
  /** Mean predicted probability in the bin (sklearn's `prob_pred`). */
  meanPredicted: number;
  /** Share of positives in the bin (sklearn's `prob_true`). */
  fractionPositive: number;
}

/**
 * Bin index of each probability as `calibration_curve(strategy='uniform')` assigns it: edges
 * `linspace(0, 1 + 1e-8, bins + 1)` and `searchsorted(edges[1:-1], p)` (a probability equal to
 * an inner edge falls in the lower bin).
 */
function binOf(score: number, bins: number): number {
  const step = (1 + 1e-8) / bins;
  let index = 0;
  while (index < bins - 1 && score > (index + 1) * step) index++;
  return index;
}

/** The reliability curve over equal-width bins, non-empty bins only (sklearn's `calibration_curve`). */
export function reliabilityCurve(labels: readonly number[], scores: readonly number[], bins = CALIBRATION_BINS): ReliabilityBin[] {
  checkBinary('reliability curve', labels, scores);
  const count = new Array<number>(bins).fill(0);
  const sumPredicted = new Array<number>(bins).fill(0);
  const sumPositive = new Array<number>(bins).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const score = scores[i] ?? 0;
    const bin = binOf(score, bins);
    count[bin] = (count[bin] ?? 0) + 1;
    sumPredicted[bin] = (sumPredicted[bin] ?? 0) + score;
    sumPositive[bin] = (sumPositive[bin] ?? 0) + (labels[i] ?? 0);
  }
  const curve: ReliabilityBin[] = [];
  for (let bin = 0; bin < bins; bin++) {
    const n = count[bin] ?? 0;
    if (n > 0) curve.push({ bin, count: n, meanPredicted: (sumPredicted[bin] ?? 0) / n, fractionPositive: (sumPositive[bin] ?? 0) / n });
  }
  return curve;
}

/**
 * Expected calibration error of the positive-class probability over `bins` equal-width bins:
 * Σ (n_bin / N)·|fraction positive − mean predicted|, i.e. the count-weighted gap of the
 * reliability curve above (not the top-label-confidence variant).
 */
export function expectedCalibrationError(labels: readonly number[], scores: readonly number[], bins = CALIBRATION_BINS): number {
  const curve = reliabilityCurve(labels, scores, bins);
  const total = labels.length;
  if (total === 0) return 0;
  return curve.reduce((sum, b) => sum + (b.count / total) * Math.abs(b.fractionPositive - b.meanPredicted), 0);
}

/** ECE, Brier score and reliability curve of one split's probabilities. */
export interface CalibrationSummary {
  size: number;
  ece: number;
  brier: number;
  bins: number;
  curve: ReliabilityBin[];
}

export function calibrationSummary(labels: readonly number[], scores: readonly number[], bins = CALIBRATION_BINS): CalibrationSummary {
  return { size: labels.length, ece: expectedCalibrationError(labels, scores, bins), brier: brierScore(labels, scores), bins, curve: reliabilityCurve(labels, scores, bins) };
}
