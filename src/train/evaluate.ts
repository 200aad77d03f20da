import { featurize } from '../core/classifier/features.js'
import { ClassifierWindows } from '../core/moderation/classifier-windows.js'
import { stringView } from '../core/moderation/string-view.js'
import { thresholdReport } from './metrics.js'
import { forward, type BagModel } from './model.js'

/** Rounds for reports: four decimals are all the test sets' sizes can support. */
export const r4 = (x: number): number => Math.round(x * 1e4) / 1e4

/** Column `c` of row-major scores. */
export function column(scores: Float64Array, classes: number, c: number): Float64Array {
  const out = new Float64Array(scores.length / classes)
  for (let i = 0; i < out.length; i++) out[i] = scores[i * classes + c]!
  return out
}

/**
 * The threshold with the highest recall whose precision is at least `minPrecision`, among
 * 0.01 steps; undefined when no step reaches that precision.
 */
export function thresholdForPrecision(positive: readonly boolean[], score: ArrayLike<number>, minPrecision: number): number | undefined {
  let best: { t: number; recall: number } | undefined
  for (let k = 1; k < 100; k++) {
    const t = k / 100
    let tp = 0
    let fp = 0
    let pos = 0
    for (let i = 0; i < positive.length; i++) {
      if (positive[i]) pos++
      if (score[i]! >= t) {
        if (positive[i]) tp++
        else fp++
      }
    }
    if (tp + fp === 0 || tp / (tp + fp) < minPrecision) continue
    const recall = pos === 0 ? 0 : tp / pos
    if (!best || recall > best.recall) best = { t, recall }
  }
  return best?.t
}

/** The threshold with the best F1, among 0.01 steps. */
export function bestF1Threshold(positive: readonly boolean[], score: ArrayLike<number>): number {
  let best = { t: 0.5, f1: -1 }
  for (let k = 1; k < 100; k++) {
    const t = k / 100
    let tp = 0
    let fp = 0
    let fn = 0
    for (let i = 0; i < positive.length; i++) {
      const hit = score[i]! >= t
      if (hit && positive[i]) tp++
      else if (hit) fp++
      else if (positive[i]) fn++
    }
    const f1 = tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn)
    if (f1 > best.f1) best = { t, f1 }
  }
  return best.t
}

/**
 * Scores as the proxy serves them: the folded text cut into the windows ClassifierWindows
 * makes (sentences, at most `maxChars`), each scored alone, and per label the highest score
 * of any window.
 */
export function windowedScores(model: BagModel, folded: string, maxChars: number): Float64Array {
  const windows: Array<readonly [number, number]> = []
  new ClassifierWindows(maxChars).advance(stringView(folded), true, windows)
  const best = new Float64Array(model.labels.length)
  for (const [from, to] of windows) {
    const f = featurize(folded.slice(from, to), model.spec)
    const p = forward(model, f.ids, f.weights)
    for (let c = 0; c < best.length; c++) if (p[c]! > best[c]!) best[c] = p[c]!
  }
  return best
}

export const TABLE_THRESHOLDS = [0.3, 0.5, 0.6, 0.7, 0.8, 0.9] as const

/** Precision and recall of "score >= t" per threshold in TABLE_THRESHOLDS, for the model card. */
export function thresholdTable(positive: readonly boolean[], score: ArrayLike<number>): { threshold: number; precision: number; recall: number }[] {
  return TABLE_THRESHOLDS.map((t) => {
    const r = thresholdReport(positive, score, t)
    return { threshold: t, precision: r4(r.precision), recall: r4(r.recall) }
  })
}
