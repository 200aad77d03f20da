import { foldUnit, KELVIN, LONG_S } from './fold.js'

/**
 * An Aho-Corasick automaton over the trigger literals of all regex rules, stepped once per code
 * unit of the literal view. Case folding is built into the column table (every unit maps to the
 * column of its foldUnit form), so the scan loop is two loads per unit.
 *
 * States are addressed by row = id * columns. delta[row + column] holds the next state's row, or
 * ~row when that state ends at least one literal, so the loop learns about a hit from the load it
 * needs anyway.
 */
export interface TriggerAutomaton {
  /** Code unit → column; 0 for units no literal contains. */
  readonly column: Uint16Array
  readonly columns: number
  readonly delta: Int32Array
  /** By state id: the literal that ends exactly here, or -1. */
  readonly atomAt: Int32Array
  /** By state id: the nearest state down the failure chain whose atomAt is set, or -1. */
  readonly outLink: Int32Array
  /** By literal. */
  readonly atomLength: Int32Array
}

/** Cells of the transition table one automaton may use (4 bytes each). */
export const MAX_AUTOMATON_CELLS = 1 << 22

/** Builds the automaton over distinct, non-empty literals already in foldUnit form. */
export function buildTriggerAutomaton(atoms: readonly string[]): TriggerAutomaton {
  const column = new Uint16Array(65536)
  let columns = 1
  let units = 0
  for (const a of atoms) {
    units += a.length
    for (let i = 0; i < a.length; i++) {
      const u = a.charCodeAt(i)
      if (column[u] === 0) column[u] = columns++
    }
  }
  // The units that fold onto another one share its column.
  for (let u = 0x41; u <= 0x5a; u++) column[u] = column[foldUnit(u)]!
  column[KELVIN] = column[foldUnit(KELVIN)]!
  column[LONG_S] = column[foldUnit(LONG_S)]!
  const maxStates = units + 1
  if (maxStates * columns > MAX_AUTOMATON_CELLS) throw new RangeError('trigger literals too large for one automaton')

  // The trie: child state ids (0 = no edge; the root is nobody's child).
  const next = new Int32Array(maxStates * columns)
  const atomAt = new Int32Array(maxStates).fill(-1)
  let states = 1
  atoms.forEach((a, id) => {
    let s = 0
    for (let i = 0; i < a.length; i++) {
      const at = s * columns + column[a.charCodeAt(i)]!
      if (next[at] === 0) next[at] = states++
      s = next[at]!
    }
    atomAt[s] = id
  })

  // Breadth first: failure links, output links, and the missing edges filled from the failure state.
  const fail = new Int32Array(states)
  const outLink = new Int32Array(states).fill(-1)
  const queue = new Int32Array(states)
  let head = 0
  let tail = 0
  for (let c = 1; c < columns; c++) {
    const child = next[c]!
    if (child !== 0) queue[tail++] = child
  }
  while (head < tail) {
    const s = queue[head++]!
    for (let c = 1; c < columns; c++) {
      const child = next[s * columns + c]!
      const viaFail = next[fail[s]! * columns + c]!
      if (child === 0) {
        next[s * columns + c] = viaFail
        continue
      }
      fail[child] = viaFail
      outLink[child] = atomAt[viaFail]! >= 0 ? viaFail : outLink[viaFail]!
      queue[tail++] = child
    }
  }

  const delta = new Int32Array(states * columns)
  for (let s = 0; s < states; s++) {
    for (let c = 0; c < columns; c++) {
      const t = next[s * columns + c]!
      const row = t * columns
      delta[s * columns + c] = atomAt[t]! >= 0 || outLink[t]! >= 0 ? ~row : row
    }
  }
  return {
    column,
    columns,
    delta,
    atomAt: atomAt.subarray(0, states),
    outLink,
    atomLength: Int32Array.from(atoms, (a) => a.length),
  }
}
