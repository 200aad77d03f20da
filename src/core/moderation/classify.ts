import type { Classifier, ClassifierScores } from '../ports.js'

export type ClassifyOutcome = { readonly kind: 'scores'; readonly scores: readonly ClassifierScores[] } | { readonly kind: 'timeout' } | { readonly kind: 'error'; readonly detail: string }

/** One classifier call bounded by `timeoutMs`; a late answer is aborted and never throws. */
export function classifyWithin(classifier: Classifier, texts: readonly string[], timeoutMs: number): Promise<ClassifyOutcome> {
  const ac = new AbortController()
  return new Promise<ClassifyOutcome>((resolve) => {
    const timer = setTimeout(() => {
      ac.abort()
      resolve({ kind: 'timeout' })
    }, timeoutMs)
    let call: Promise<readonly ClassifierScores[]>
    try {
      call = classifier.classify(texts, ac.signal)
    } catch (err) {
      call = Promise.reject(err)
    }
    call.then(
      (scores) => {
        clearTimeout(timer)
        if (scores.length !== texts.length) resolve({ kind: 'error', detail: `classifier ${classifier.name} returned ${scores.length} results for ${texts.length} texts` })
        else resolve({ kind: 'scores', scores })
      },
      (err: unknown) => {
        clearTimeout(timer)
        resolve({ kind: 'error', detail: err instanceof Error ? err.message : String(err) })
      },
    )
  })
}

/** The label with the highest score among those at or above their threshold. */
export function overThreshold(scores: ClassifierScores, thresholds: Readonly<Record<string, number>>): { label: string; score: number } | undefined {
  let best: { label: string; score: number } | undefined
  for (const [label, threshold] of Object.entries(thresholds)) {
    const s = scores[label]
    if (s !== undefined && s >= threshold && (!best || s > best.score)) best = { label, score: s }
  }
  return best
}
