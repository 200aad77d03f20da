import { mulberry32, shuffle } from './prng.js'

/**
 * Stratified split: per label, the example indices are shuffled with the seed and the first
 * round(share * count) go to `held`. Indices come back ascending, so the order of the data
 * file, not the shuffle, fixes the order of training.
 */
export function stratifiedSplit(labels: readonly number[], share: number, seed: number): { kept: number[]; held: number[] } {
  const random = mulberry32(seed)
  const byLabel = groupByLabel(labels)
  const held: number[] = []
  const kept: number[] = []
  for (const indices of byLabel) {
    shuffle(indices, random)
    const cut = Math.round(share * indices.length)
    held.push(...indices.slice(0, cut))
    kept.push(...indices.slice(cut))
  }
  return { kept: kept.sort((a, b) => a - b), held: held.sort((a, b) => a - b) }
}

/** k stratified folds: fold f holds every k-th index of each shuffled label group. */
export function stratifiedFolds(labels: readonly number[], k: number, seed: number): number[][] {
  const random = mulberry32(seed)
  const folds: number[][] = Array.from({ length: k }, () => [])
  let next = 0
  for (const indices of groupByLabel(labels)) {
    shuffle(indices, random)
    // Continue round-robin across labels so fold sizes differ by at most one.
    for (const i of indices) folds[next++ % k]!.push(i)
  }
  return folds.map((f) => f.sort((a, b) => a - b))
}

function groupByLabel(labels: readonly number[]): number[][] {
  const groups: number[][] = []
  labels.forEach((label, i) => {
    while (groups.length <= label) groups.push([])
    groups[label]!.push(i)
  })
  return groups
}
