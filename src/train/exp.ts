/**
 * exp(x) from additions, multiplications and divisions only, which IEEE 754 rounds the same
 * everywhere: Math.exp is implementation-defined and may differ between Node versions or
 * platforms, which would change the trained weights in their last bits and so the model bytes.
 * Accurate to a few ulps, plenty for softmax.
 */
const LN2_HI = 0.6931471803691238 // ln 2 with its low 21 bits clear, so k * LN2_HI is exact
const LN2_LO = 1.9082149292705877e-10
const INV_LN2 = 1.4426950408889634

const scale = new DataView(new ArrayBuffer(8))

/** 2^k for an integer k in [-1022, 1023], built from its bits. */
function pow2(k: number): number {
  scale.setUint32(0, (k + 1023) << 20)
  scale.setUint32(4, 0)
  return scale.getFloat64(0)
}

export function exp(x: number): number {
  if (Number.isNaN(x)) return x
  if (x > 709) return Infinity
  if (x < -708) return 0
  const k = Math.round(x * INV_LN2)
  const r = x - k * LN2_HI - k * LN2_LO
  // Taylor series of e^r for |r| <= ln2/2 (about 0.35): the terms after the 14th are below 2^-60.
  let term = 1
  let sum = 1
  for (let n = 1; n <= 14; n++) {
    term = (term * r) / n
    sum += term
  }
  return sum * pow2(k)
}

/** Softmax of `logits` into `out` (same length), with the deterministic exp. */
export function softmax(logits: ArrayLike<number>, out: Float64Array): void {
  let max = -Infinity
  for (let c = 0; c < logits.length; c++) if (logits[c]! > max) max = logits[c]!
  let sum = 0
  for (let c = 0; c < logits.length; c++) sum += out[c] = exp(logits[c]! - max)
  for (let c = 0; c < logits.length; c++) out[c]! /= sum
}
