/**
 * An Aho-Corasick automaton over a set of distinct, non-empty patterns, laid out for a tight scan
 * loop. ASCII steps are one load from a dense DFA (failure transitions precomputed); other code
 * units follow trie edges and failure links, which stays linear overall because each failure
 * step gives back depth that an earlier step gained.
 *
 * States are identified by id; the ASCII table is indexed by row = id << shift, and holds the next
 * state's row, bitwise-negated when that state ends at least one pattern, so the scan loop learns
 * "something matched here" from the load it needs anyway.
 */
export interface Automaton {
  /** ASCII code unit → table column; 0 for units no pattern contains (they lead to the root). */
  readonly column: Uint8Array
  /** log2 of the row stride. */
  readonly shift: number
  /** delta[row + column]: next row, or ~row when the next state reports matches. */
  readonly delta: Int32Array
  /** By state id: length of the pattern prefix the state stands for. */
  readonly depth: Int32Array
  /** By state id: the state of the longest proper suffix that is a pattern prefix. */
  readonly fail: Int32Array
  /** By state id: whether the state ends at least one pattern (its own or a suffix). */
  readonly emits: Uint8Array
  /** By state id: the pattern that ends exactly here, or -1. */
  readonly pattern: Int32Array
  /** By state id: the nearest state down the failure chain whose `pattern` is set, or -1. */
  readonly outLink: Int32Array
  /** Non-ASCII trie edges by state id: codes wideCode[wideStart[s] .. wideStart[s + 1]), sorted. */
  readonly wideStart: Int32Array
  readonly wideCode: Uint16Array
  readonly wideNext: Int32Array
  /** By code unit: 1 when some pattern contains it; null when all patterns are ASCII. */
  readonly wideAlphabet: Uint8Array | null
  readonly states: number
  /** Length of the longest pattern. */
  readonly maxDepth: number
}

const MAX_TABLE = 0x7fffffff

export function buildAutomaton(patterns: readonly string[]): Automaton {
  // Columns rather than all 128 ASCII units: folded keywords use few of them (lower-case letters,
  // digits, a little punctuation), so rows shrink about 4× and more of the table stays in cache,
  // which is what a scan step waits on.
  const column = new Uint8Array(128)
  let columns = 1
  let totalUnits = 0
  let wideAlphabet: Uint8Array | null = null
  for (const p of patterns) {
    totalUnits += p.length
    for (let i = 0; i < p.length; i++) {
      const c = p.charCodeAt(i)
      if (c < 128) {
        if (column[c] === 0) column[c] = columns++
      } else {
        wideAlphabet ??= new Uint8Array(65536)
        wideAlphabet[c] = 1
      }
    }
  }
  let shift = 0
  while (1 << shift < columns) shift++
  const stride = 1 << shift
  const maxStates = totalUnits + 1
  if (maxStates * stride > MAX_TABLE) throw new RangeError('keyword set too large for one automaton')

  // The trie first: delta holds child ids (0 = no edge; the root is nobody's child).
  let delta = new Int32Array(maxStates * stride)
  let depth = new Int32Array(maxStates)
  let pattern = new Int32Array(maxStates).fill(-1)
  const wideEdges = new Map<number, number>()
  const wideByState: number[][] = []
  let states = 1
  for (let p = 0; p < patterns.length; p++) {
    const text = patterns[p]!
    let s = 0
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      let next: number
      if (c < 128) {
        const at = (s << shift) + column[c]!
        next = delta[at]!
        if (next === 0) delta[at] = next = states++
      } else {
        const key = s * 65536 + c
        next = wideEdges.get(key) ?? 0
        if (next === 0) {
          wideEdges.set(key, (next = states++))
          ;(wideByState[s] ??= []).push(c)
        }
      }
      depth[next] = i + 1
      s = next
    }
    pattern[s] = p
  }
  if (states < maxStates) {
    delta = delta.slice(0, states * stride)
    depth = depth.slice(0, states)
    pattern = pattern.slice(0, states)
  }

  const wideStart = new Int32Array(states + 1)
  const wideCode = new Uint16Array(wideEdges.size)
  const wideNext = new Int32Array(wideEdges.size)
  for (let s = 0, at = 0; s < states; s++) {
    wideStart[s] = at
    const codes = wideByState[s]
    if (codes) {
      codes.sort((a, b) => a - b)
      for (const c of codes) {
        wideCode[at] = c
        wideNext[at++] = wideEdges.get(s * 65536 + c)!
      }
    }
    wideStart[s + 1] = at
  }

  // Failure links and the full ASCII DFA, breadth first so that every state's failure target
  // (shallower) already has its row complete.
  const fail = new Int32Array(states)
  const outLink = new Int32Array(states).fill(-1)
  const emits = new Uint8Array(states)
  const queue = new Int32Array(states)
  let head = 0
  let tail = 0
  const link = (child: number, target: number): void => {
    fail[child] = target
    outLink[child] = pattern[target]! >= 0 ? target : outLink[target]!
    emits[child] = pattern[child]! >= 0 || outLink[child]! >= 0 ? 1 : 0
    queue[tail++] = child
  }
  for (let k = 1; k < columns; k++) {
    const child = delta[k]!
    if (child !== 0) link(child, 0)
  }
  for (let e = wideStart[0]!; e < wideStart[1]!; e++) link(wideNext[e]!, 0)
  while (head < tail) {
    const s = queue[head++]!
    const row = s << shift
    const failRow = fail[s]! << shift
    for (let k = 1; k < columns; k++) {
      const child = delta[row + k]!
      if (child !== 0) link(child, delta[failRow + k]!)
      else delta[row + k] = delta[failRow + k]!
    }
    for (let e = wideStart[s]!; e < wideStart[s + 1]!; e++) {
      link(wideNext[e]!, wideStep(wideStart, wideCode, wideNext, fail, fail[s]!, wideCode[e]!))
    }
  }

  // Ids to rows, flagging states that report.
  for (let i = 0; i < delta.length; i++) {
    const next = delta[i]!
    delta[i] = emits[next] === 1 ? ~(next << shift) : next << shift
  }

  return {
    column,
    shift,
    delta,
    depth,
    fail,
    emits,
    pattern,
    outLink,
    wideStart,
    wideCode,
    wideNext,
    wideAlphabet,
    states,
    maxDepth: patterns.reduce((m, p) => Math.max(m, p.length), 0),
  }
}

/** The trie edge from state `s` on non-ASCII code unit `c`, or -1. */
export function wideEdge(wideStart: Int32Array, wideCode: Uint16Array, wideNext: Int32Array, s: number, c: number): number {
  let lo = wideStart[s]!
  let hi = wideStart[s + 1]! - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const m = wideCode[mid]!
    if (m === c) return wideNext[mid]!
    if (m < c) lo = mid + 1
    else hi = mid - 1
  }
  return -1
}

/** The automaton transition from state `s` on non-ASCII code unit `c`, as a state id. */
export function wideStep(
  wideStart: Int32Array,
  wideCode: Uint16Array,
  wideNext: Int32Array,
  fail: Int32Array,
  s: number,
  c: number,
): number {
  for (;;) {
    const next = wideEdge(wideStart, wideCode, wideNext, s, c)
    if (next >= 0) return next
    if (s === 0) return 0
    s = fail[s]!
  }
}
