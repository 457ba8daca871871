/**
 * Keras weight layouts turned into ONNX's, with an optional batch-norm folded in. Keras convs are
 * channels-last: Conv2D kernels are HWIO `[kh, kw, in, out]` and depthwise kernels
 * `[kh, kw, channels, multiplier]`; ONNX `Conv` wants OIHW `[out, in / group, kh, kw]`, and a
 * depthwise conv is a grouped one with `group = channels`, output channel `c · multiplier + m`.
 */

/**
 * An inference-mode batch-norm, y = (x − mean) · factor + offset with factor = γ/√(σ²+ε), in the
 * float32 steps `foldedInference` takes in tfjs: the folded weights come out bit-identical to the
 * ones the tfjs engine runs, so the two engines differ only in how kernels sum. (Folding in
 * float64 instead moved MobileNet's flatten features by 2e-4.)
 */
export interface ChannelAffine {
  factor: Float32Array;
  mean: Float32Array;
  offset: Float32Array;
}

export interface BatchNormWeights {
  gamma: Float32Array | undefined;
  beta: Float32Array | undefined;
  movingMean: Float32Array;
  movingVariance: Float32Array;
  /** The layer's own epsilon (Keras' default is 1e-3, not PyTorch's 1e-5). */
  epsilon: number;
}

export function batchNormAffine({ gamma, beta, movingMean, movingVariance, epsilon }: BatchNormWeights): ChannelAffine {
  const n = movingMean.length;
  const factor = new Float32Array(n);
  for (let c = 0; c < n; c++) {
    factor[c] = (gamma?.[c] ?? 1) / Math.fround(Math.sqrt(Math.fround((movingVariance[c] ?? 1) + Math.fround(epsilon))));
  }
  return { factor, mean: Float32Array.from(movingMean), offset: beta ? Float32Array.from(beta) : new Float32Array(n) };
}

/** The batch-norm alone as y = x · scale + shift (for one that follows no conv). */
export function affineScaleShift({ factor, mean, offset }: ChannelAffine): { scale: Float32Array; shift: Float32Array } {
  const shift = offset.map((beta, c) => beta - Math.fround((mean[c] ?? 0) * (factor[c] ?? 1)));
  return { scale: factor, shift };
}

export interface OnnxConvWeights {
  /** OIHW `[out, in / group, kh, kw]`. */
  dims: [number, number, number, number];
  weight: Float32Array;
  bias: Float32Array;
  group: number;
}

/** Bias after a batch-norm: b' = (b − mean) · factor + offset (b = 0 when the conv has none). */
function foldBias(outChannels: number, bias: Float32Array | undefined, affine: ChannelAffine | undefined): Float32Array {
  const out = new Float32Array(outChannels);
  for (let o = 0; o < outChannels; o++) {
    const b = bias?.[o] ?? 0;
    out[o] = affine ? Math.fround(Math.fround(b - (affine.mean[o] ?? 0)) * (affine.factor[o] ?? 1)) + (affine.offset[o] ?? 0) : b;
  }
  return out;
}

/** Conv2D: HWIO → OIHW, output channels scaled by a folded batch-norm when given. */
export function conv2dWeights(kernel: Float32Array, [kh, kw, inC, outC]: readonly [number, number, number, number], bias: Float32Array | undefined, affine?: ChannelAffine): OnnxConvWeights {
  const weight = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < inC; i++) {
        const from = ((y * kw + x) * inC + i) * outC;
        for (let o = 0; o < outC; o++) {
          weight[((o * inC + i) * kh + y) * kw + x] = (kernel[from + o] ?? 0) * (affine?.factor[o] ?? 1);
        }
      }
    }
  }
  return { dims: [outC, inC, kh, kw], weight, bias: foldBias(outC, bias, affine), group: 1 };
}

/** DepthwiseConv2D: `[kh, kw, C, M]` → `[C·M, 1, kh, kw]` with `group = C`, optionally folded. */
export function depthwiseWeights(kernel: Float32Array, [kh, kw, channels, multiplier]: readonly [number, number, number, number], bias: Float32Array | undefined, affine?: ChannelAffine): OnnxConvWeights {
  const outC = channels * multiplier;
  const weight = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let o = 0; o < outC; o++) {
        // Keras' flattened last two axes (c, m) are exactly output channel c·M + m.
        weight[(o * kh + y) * kw + x] = (kernel[(y * kw + x) * outC + o] ?? 0) * (affine?.factor[o] ?? 1);
      }
    }
  }
  return { dims: [outC, 1, kh, kw], weight, bias: foldBias(outC, bias, affine), group: channels };
}
