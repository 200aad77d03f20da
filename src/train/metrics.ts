/** Held-out evaluation: per-class and weighted precision, recall, F1; accuracy; ROC AUC. */

export interface ClassReport {
  readonly precision: number
  readonly recall: number
  readonly f1: number
  readonly support: number
}

export interface Report {
  readonly accuracy: number
  readonly perClass: Readonly<Record<string, ClassReport>>
  readonly weighted: { readonly precision: number; readonly recall: number; readonly f1: number }
  readonly macroF1: number
  /** confusion[true][predicted] */
  readonly confusion: readonly (readonly number[])[]
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b)

export function classReport(truth: ArrayLike<number>, predicted: ArrayLike<number>, labels: readonly string[]): Report {
  const k = labels.length
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0))
  for (let i = 0; i < truth.length; i++) confusion[truth[i]!]![predicted[i]!]!++
  const perClass: Record<string, ClassReport> = {}
  let correct = 0
  let wp = 0
  let wr = 0
  let wf = 0
  let macro = 0
  for (let c = 0; c < k; c++) {
    const tp = confusion[c]![c]!
    correct += tp
    let predictedC = 0
    for (let t = 0; t < k; t++) predictedC += confusion[t]![c]!
    const support = confusion[c]!.reduce((a, b) => a + b, 0)
    const precision = ratio(tp, predictedC)
    const recall = ratio(tp, support)
    const f1 = ratio(2 * precision * recall, precision + recall)
    perClass[labels[c]!] = { precision, recall, f1, support }
    wp += precision * support
    wr += recall * support
    wf += f1 * support
    macro += f1 / k
  }
  const n = truth.length
  return { accuracy: ratio(correct, n), perClass, weighted: { precision: ratio(wp, n), recall: ratio(wr, n), f1: ratio(wf, n) }, macroF1: macro, confusion }
}

/** Precision and recall of "positive iff score >= threshold". */
export function thresholdReport(positive: readonly boolean[], score: ArrayLike<number>, threshold: number): { precision: number; recall: number; f1: number } {
  let tp = 0
  let fp = 0
  let fn = 0
  for (let i = 0; i < positive.length; i++) {
    const hit = score[i]! >= threshold
    if (hit && positive[i]) tp++
    else if (hit) fp++
    else if (positive[i]) fn++
  }
  const precision = ratio(tp, tp + fp)
  const recall = ratio(tp, tp + fn)
  return { precision, recall, f1: ratio(2 * precision * recall, precision + recall) }
}

/** Area under the ROC curve: the probability that a positive outranks a negative, ties half. */
export function rocAuc(positive: readonly boolean[], score: ArrayLike<number>): number {
  const order = Array.from({ length: positive.length }, (_, i) => i).sort((a, b) => score[a]! - score[b]! || a - b)
  let pos = 0
  let rankSum = 0
  let i = 0
  while (i < order.length) {
    let j = i
    while (j + 1 < order.length && score[order[j + 1]!] === score[order[i]!]) j++
    const avgRank = (i + j) / 2 + 1
    for (let t = i; t <= j; t++) {
      if (!positive[order[t]!]) continue
      pos++
      rankSum += avgRank
    }
    i = j + 1
  }
  const neg = positive.length - pos
  return pos === 0 || neg === 0 ? Number.NaN : (rankSum - (pos * (pos + 1)) / 2) / (pos * neg)
}

export function argmaxRows(scores: Float64Array, classes: number): Int32Array {
  const out = new Int32Array(scores.length / classes)
  for (let i = 0; i < out.length; i++) {
    let best = 0
    for (let c = 1; c < classes; c++) if (scores[i * classes + c]! > scores[i * classes + best]!) best = c
    out[i] = best
  }
  return out
}
