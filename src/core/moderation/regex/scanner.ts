import type { Hit, StreamScanner, TextView } from '../types.js'
import { START_GROUPS_SHIFT, START_SPAN, START_TRACKED_SHIFT, type RegexProgram } from './compile.js'
import type { TriggerAutomaton } from './trigger-automaton.js'
import { regexStats } from './stats.js'

const isHigh = (u: number): boolean => (u & 0xfc00) === 0xd800
const isLow = (u: number): boolean => (u & 0xfc00) === 0xdc00

/**
 * One stream's regex state over the literal view.
 *
 * Hold-back: a position is held while it could still start a match that is not final: while its
 * first two code units fit some rule (firstInfo/pairInfo) and it is younger than that rule's span
 * (maxMatchLength, or the longest possible match if shorter, plus one unit for \b or $). A ring
 * indexed by position records what can start at each position; the hold point is the oldest
 * position still held. That is one table load and one store per code unit, whatever the number of
 * rules. For a rule of a tracked alphabet group (runs.ts) a start is held only while the run of
 * the alphabet at the end of the view also covers it: a unit outside the alphabet ends every
 * match before it, and the unit an assertion after the match reads is then in the view. Which
 * runs cover a position costs one more table load per unit, and two stores (feed, coveredAt).
 *
 * Matching: RE2 runs only for rules woken by one of their trigger literals (trigger-automaton.ts),
 * over the starts the literal allows (pendLo..pendHi), and only when the hold point is about to
 * release such a start: the text is held until then anyway, so an earlier scan would only have
 * to be repeated, and waiting lets rules woken by the same text share one RE2.Set pass. A scan
 * hands RE2 the literal's neighbourhood (from one unit before pendLo, for \b and ^, to pendHi
 * plus the span), not the stream. Rules without a selective trigger are pending everywhere.
 *
 * Hits are those of RE2's leftmost-first global search over the whole text, however the text is
 * split into pushes, as long as matches are at most maxMatchLength long: a start is decided only
 * once every unit its match and the assertion after it can read is in the view. A longer match is
 * cut at maxMatchLength (matches are searched within maxMatchLength of their start).
 */
export class RegexScanner implements StreamScanner {
  private pos = 0
  private row = 0
  /** The last code unit fed, -1 before the first. */
  private prev = -1
  private ended = false
  /** The last hold point returned; everything before it is decided for every rule. */
  private hold = 0
  /** The hold point of the scan in progress: every start below it is decidable (see ripeEnd). */
  private cut = 0
  /** The code unit at hold - 1: the view may be trimmed up to hold, and scans need one unit of context. */
  private ctxUnit = 0

  // By position (ring of the last maxSpan + 2 positions): firstInfo/pairInfo of the position's
  // units, once its second unit is known. `front` is the oldest position that may still be held.
  private readonly starts: Int32Array
  private readonly mask: number
  private front = 0

  // Alphabet runs (runs.ts): runs.inside[unit] has one bit per tracked group.
  // lastOf: by value of runs.inside, the last position that had it (a store for every unit is
  // cheaper than a branch). No tracked run covers a position up to lastOf[0]; with one group,
  // the run starts right after it.
  // With several groups, which runs cover a position p is the AND of runs.inside over
  // [p, length): the AND over [p, mid) is in `runAnd` (by position, ring) and the AND over
  // [mid, length) in `tailAnd`. Queries come for positions from `front` on, which only moves
  // forward; one at or past `mid` refills runAnd from there and moves mid to the end, so each
  // unit is refilled at most once.
  private readonly lastOf = new Int32Array(64).fill(-1)
  /** By bit 0 of runs.inside, the last position that had it: group 0's run starts after lastOut0[0]. */
  private readonly lastOut0 = new Int32Array(2).fill(-1)
  private readonly runAnd: Uint8Array
  private tailAnd = 0xff
  private mid = 0
  // Where the last scan found the front held by a tracked rule: the rule's group bit and the view
  // length at which that start ripens. Prose keeps the front on the same word start for several
  // pushes; this spares the full check there.
  private heldAt = -1
  private heldGroup = 0
  private heldUntil = 0

  // By rule: starts below `decided` are final; pending starts lie in [pendLo, pendHi]; once the
  // view reaches pendReady every trigger seen so far is complete, and a start with no match
  // now cannot get one from those triggers.
  private readonly decided: Float64Array
  private readonly pendLo: Float64Array
  private readonly pendHi: Float64Array
  private readonly pendReady: Float64Array
  private readonly inPending: Uint8Array
  private pending: number[] = []
  /** A lower bound of the pending rules' earliest starts: nothing is due before the hold passes it. */
  private minLo = Infinity
  private readonly due: Int32Array
  private readonly setHit: Uint8Array

  constructor(private readonly p: RegexProgram) {
    let size = 4
    while (size < p.maxSpan + 2) size *= 2
    this.starts = new Int32Array(size)
    this.runAnd = new Uint8Array(p.runs.count > 1 ? size : 0)
    this.mask = size - 1
    const n = p.count
    this.decided = new Float64Array(n)
    this.pendLo = new Float64Array(n)
    this.pendHi = new Float64Array(n)
    this.pendReady = new Float64Array(n)
    this.inPending = new Uint8Array(n)
    this.due = new Int32Array(n)
    this.setHit = new Uint8Array(n)
    for (const r of p.always) {
      this.pendHi[r] = Infinity
      this.pendReady[r] = Infinity
      this.inPending[r] = 1
      this.pending.push(r)
    }
    if (p.always.length > 0) this.minLo = 0
  }

  holdFrom(): number {
    return this.hold
  }

  scan(view: TextView, final: boolean, hits: Hit[]): void {
    if (this.ended) return
    const length = view.length
    this.feed(view, length)
    // Half a surrogate pair at the end waits for its other half: RE2 would read it as U+FFFD.
    const avail = !final && length > 0 && isHigh(this.prev) ? length - 1 : length
    const h = this.p.runs.count === 0 ? this.advanceUntracked(length, avail) : this.advance(view, length, avail)
    this.cut = h
    if (this.pending.length > 0 && (final || h > this.minLo)) this.runDue(view, avail, final, h, hits)
    if (final) {
      this.ended = true
      this.hold = length
      return
    }
    if (h > this.hold && h - 1 >= view.base) this.ctxUnit = view.charCodeAt(h - 1)
    this.hold = h
  }

  /**
   * Moves `front` to the oldest position still held and returns it. A position is held while a
   * rule can start there and the start is younger than the rule's span; for a tracked rule, also
   * while the run of its alphabet covers it. A position passed over is never held again (it fits
   * no rule, is ripe, or a unit outside the alphabet follows it), so the front only moves forward.
   * Positions up to length - 2 have both units known; the last one is judged by its first unit
   * (which allows at least as much as any pair).
   */
  private advance(view: TextView, length: number, avail: number): number {
    let front = this.front
    if (front === this.heldAt && avail < this.heldUntil && (this.coveredAt(front, view, length) & this.heldGroup) !== 0) return front
    const starts = this.starts
    const mask = this.mask
    const last = length - 1
    // No tracked run covers a position up to dead (the last unit outside every tracked alphabet),
    // nor one up to out0 that only group 0 can hold.
    const dead = this.lastOf[0]!
    const out0 = this.lastOut0[0]!
    // Older positions are ripe for every rule: their slots have been reused.
    front = Math.max(front, length - mask)
    // Up to dead only untracked rules can hold a position: the loop of advanceUntracked.
    const quick = Math.min(dead + 1, last)
    while (front < quick && front + (starts[front & mask]! & START_SPAN) <= avail) front++
    if (front >= quick) {
      for (; front < length; front++) {
        const v = front < last ? starts[front & mask]! : this.p.firstInfo[this.prev]!
        if (front + (v & START_SPAN) > avail) break
        const tracked = v >>> START_TRACKED_SHIFT
        if (tracked === 0 || front + (tracked & START_SPAN) <= avail || front <= dead) continue
        if (v >>> START_GROUPS_SHIFT === 1 && front <= out0) continue
        if (this.trackedHeld(v, front, view, length, avail)) break
      }
    }
    this.front = front
    return front
  }

  /** advance() when no group is tracked: the ring alone says when each position ripens. */
  private advanceUntracked(length: number, avail: number): number {
    const starts = this.starts
    const mask = this.mask
    const last = length - 1
    let front = Math.max(this.front, length - mask)
    while (front < last && front + (starts[front & mask]! & START_SPAN) <= avail) front++
    this.front = front
    if (front < last) return front
    // The last position, judged by its first unit: it is not passed over, as its pair may narrow.
    return length > 0 && last + (this.p.firstInfo[this.prev]! & START_SPAN) > avail ? last : length
  }

  /** The tracked groups whose run covers position p (front ≤ p < length). */
  private coveredAt(p: number, view: TextView, length: number): number {
    if (this.p.runs.count === 1) return p > this.lastOf[0]! ? 1 : 0
    const runAnd = this.runAnd
    const mask = this.mask
    if (p >= this.mid) {
      const inside = this.p.runs.inside
      let and = 0xff
      for (let i = length - 1; i >= p; i--) runAnd[i & mask] = and &= inside[view.charCodeAt(i)]!
      this.mid = length
      this.tailAnd = 0xff
    }
    return runAnd[p & mask]! & this.tailAnd
  }

  /**
   * True when p is held by a tracked rule (its starts info is v): a rule that can start at p, for
   * which p is young, and whose group's run covers p. Then heldAt, heldGroup (the group's bit) and
   * heldUntil (when p ripens for it) say which.
   */
  private trackedHeld(v: number, p: number, view: TextView, length: number, avail: number): boolean {
    const groups = (v >>> START_GROUPS_SHIFT) & this.coveredAt(p, view, length)
    if (groups === 0) return false
    const runs = this.p.runs
    for (let g = 0; groups >>> g !== 0; g++) {
      if (((groups >>> g) & 1) === 0) continue
      const a = view.charCodeAt(p)
      const b = p + 1 < length ? view.charCodeAt(p + 1) : -1
      let w: number
      if (a >= 128) w = runs.wideFirst[g]!.has(a) ? runs.wideSpan[g]! : 0
      else if (b >= 0 && b < 128) w = runs.pairSpan[(g << 14) | (a << 7) | b]!
      else w = runs.firstSpan[(g << 7) | a]!
      if (w !== 0 && p + w > avail) {
        // The last position is judged by its first unit only: its pair may still release it.
        this.heldAt = b >= 0 ? p : -1
        this.heldGroup = 1 << g
        this.heldUntil = p + w
        return true
      }
    }
    return false
  }

  /**
   * Feeds [pos, length) to the trigger automaton, records for each position whose two first
   * units are now known what can start there, and keeps lastOf and tailAnd up.
   */
  private feed(view: TextView, length: number): void {
    const from = this.pos
    if (from >= length) return
    regexStats.streamed += length - from
    const starts = this.starts
    const mask = this.mask
    const { firstInfo, pairInfo } = this.p
    const { inside, count } = this.p.runs
    const lastOf = this.lastOf
    const lastOut0 = this.lastOut0
    const a = this.p.automaton
    let prev = this.prev
    let row = this.row
    let and = this.tailAnd
    let i = from
    if (prev < 0) {
      prev = view.charCodeAt(i++)
      if (a) row = this.step(a, row, prev, i)
      lastOf[inside[prev]!] = i - 1
      this.lastOut0[inside[prev]! & 1] = i - 1
      and &= inside[prev]!
    }
    // Four copies of the loop: with or without the automaton, with or without tracked runs.
    if (a) {
      const { delta, column } = a
      if (count > 0) {
        for (; i < length; i++) {
          const c = view.charCodeAt(i)
          let next = delta[row + column[c]!]!
          if (next < 0) {
            next = ~next
            this.fire(next / a.columns, i + 1)
          }
          row = next
          starts[(i - 1) & mask] = (prev | c) < 128 ? pairInfo[(prev << 7) | c]! : firstInfo[prev]!
          const x = inside[c]!
          lastOf[x] = i
          lastOut0[x & 1] = i
          and &= x
          prev = c
        }
      } else {
        for (; i < length; i++) {
          const c = view.charCodeAt(i)
          let next = delta[row + column[c]!]!
          if (next < 0) {
            next = ~next
            this.fire(next / a.columns, i + 1)
          }
          row = next
          starts[(i - 1) & mask] = (prev | c) < 128 ? pairInfo[(prev << 7) | c]! : firstInfo[prev]!
          prev = c
        }
      }
    } else if (count > 0) {
      for (; i < length; i++) {
        const c = view.charCodeAt(i)
        starts[(i - 1) & mask] = (prev | c) < 128 ? pairInfo[(prev << 7) | c]! : firstInfo[prev]!
        const x = inside[c]!
        lastOf[x] = i
        lastOut0[x & 1] = i
        and &= x
        prev = c
      }
    } else {
      for (; i < length; i++) {
        const c = view.charCodeAt(i)
        starts[(i - 1) & mask] = (prev | c) < 128 ? pairInfo[(prev << 7) | c]! : firstInfo[prev]!
        prev = c
      }
    }
    this.tailAnd = and
    this.row = row
    this.prev = prev
    this.pos = length
  }




  /**
   * Starts up to this are decidable for rule r now. For an untracked rule, the ripe ones. For a
   * tracked rule, also every start below the hold point of this scan: advance() released those
   * only because they are ripe for r, fit no rule of r's group, or are followed by a unit outside
   * r's alphabet, which any match from there would end before.
   */
  private ripeEnd(r: number, avail: number, final: boolean): number {
    if (final) return Infinity
    const end = avail - this.p.span[r]!
    return this.p.runs.groupOf[r]! < 0 ? end : Math.max(end, this.cut - 1)
  }

  private step(a: TriggerAutomaton, row: number, unit: number, end: number): number {
    let next = a.delta[row + a.column[unit]!]!
    if (next < 0) {
      next = ~next
      this.fire(next / a.columns, end)
    }
    return next
  }

  /** Trigger literals ending at `end` in automaton state `state`: their rules get pending starts. */
  private fire(state: number, end: number): void {
    const a = this.p.automaton!
    for (let s = a.atomAt[state]! >= 0 ? state : a.outLink[state]!; s >= 0; s = a.outLink[s]!) {
      const atom = a.atomAt[s]!
      const start = end - a.atomLength[atom]!
      const { atomRuleStart, atomRules } = this.p
      for (let k = atomRuleStart[atom]!; k < atomRuleStart[atom + 1]!; k++) this.wake(atomRules[k]!, start, end)
    }
  }

  private wake(r: number, atomStart: number, atomEnd: number): void {
    const p = this.p
    const lo = Math.max(atomStart - p.preMax[r]!, atomEnd - p.window[r]!, this.decided[r]!)
    const hi = atomStart - p.preMin[r]!
    if (lo > hi) return
    const ready = atomEnd + p.post[r]! + (p.span[r]! - p.window[r]!)
    if (lo < this.minLo) this.minLo = lo
    if (this.inPending[r] === 0) {
      this.inPending[r] = 1
      this.pendLo[r] = lo
      this.pendHi[r] = hi
      this.pendReady[r] = ready
      this.pending.push(r)
      return
    }
    if (lo < this.pendLo[r]!) this.pendLo[r] = lo
    if (hi > this.pendHi[r]!) this.pendHi[r] = hi
    if (ready > this.pendReady[r]!) this.pendReady[r] = ready
  }

  /**
   * Decides the pending starts the new hold point `h` would release. Below h lie only positions
   * that no rule can start a match at and starts that are ripe for every rule they fit, so:
   *  - a rule whose earliest pending start is still young for it has nothing to decide below h,
   *    and its pending interval just moves up to h;
   *  - a rule with a ripe pending start below h must run RE2 now, and every other rule with a ripe
   *    pending start joins that batch. Deciding as late as the hold allows lets rules woken by the
   *    same text (digits for number formats) share one RE2.Set pass.
   */
  private runDue(view: TextView, avail: number, final: boolean, h: number, hits: Hit[]): void {
    const p = this.p
    let forced = final
    let cleared = false
    for (const r of this.pending) {
      const lo = this.startOf(r)
      if (lo > this.ripeEnd(r, avail, final)) {
        if (lo >= h) continue
        if (h > this.pendHi[r]!) {
          this.decide(r, this.pendHi[r]! + 1)
          this.inPending[r] = 0
          cleared = true
        } else {
          this.pendLo[r] = h
        }
      } else if (lo < h) {
        forced = true
      }
    }
    if (!forced) {
      this.settle(cleared)
      return
    }
    const due = this.due
    let nDue = 0
    for (const r of this.pending) {
      if (this.inPending[r] === 1 && this.startOf(r) <= this.ripeEnd(r, avail, final)) due[nDue++] = r
    }
    let set = nDue >= p.setMinDue ? p.set() : null
    if (set) {
      // One pass over the union of the due rules' texts rules out those with no match in it.
      let lo = Infinity
      let end = 0
      for (let k = 0; k < nDue; k++) {
        const r = due[k]!
        lo = Math.min(lo, this.startOf(r))
        end = Math.max(end, this.endOf(r, avail, final))
      }
      const cs = lo > 0 ? lo - 1 : 0
      if (cs < end) {
        const text = this.text(view, cs, lo, end)
        regexStats.setCalls++
        regexStats.re2Units += text.length
        try {
          for (const r of set.match(text)) this.setHit[r] = 1
        } catch {
          set = null // out of DFA memory: every due rule gets its own exec
        }
      }
    }
    for (let k = 0; k < nDue; k++) {
      const r = due[k]!
      if (set && this.setHit[r] === 0) this.noMatch(r, this.startOf(r), avail, final)
      else this.scanRule(r, view, avail, final, hits)
    }
    if (set) this.setHit.fill(0)
    this.settle(true)
  }

  /** Drops decided rules from the pending list and recomputes minLo. */
  private settle(cleared: boolean): void {
    if (cleared) this.pending = this.pending.filter((r) => this.inPending[r] === 1)
    let min = Infinity
    for (const r of this.pending) min = Math.min(min, Math.max(this.pendLo[r]!, this.decided[r]!))
    this.minLo = min
  }

  private decide(r: number, upTo: number): void {
    if (upTo > this.decided[r]!) this.decided[r] = upTo
  }

  private startOf(r: number): number {
    return Math.max(this.pendLo[r]!, this.decided[r]!, this.hold)
  }

  private endOf(r: number, avail: number, final: boolean): number {
    return final ? avail : Math.min(avail, this.pendHi[r]! + this.p.span[r]!)
  }

  /** view[cs, end) where cs = lo - 1 may lie below the trimmed base (then it is ctxUnit). */
  private text(view: TextView, cs: number, lo: number, end: number): string {
    return wellFormed(cs >= view.base ? view.slice(cs, end) : String.fromCharCode(this.ctxUnit) + view.slice(lo, end))
  }

  private scanRule(r: number, view: TextView, avail: number, final: boolean, hits: Hit[]): void {
    const p = this.p
    const hi = this.pendHi[r]!
    let lo = this.startOf(r)
    if (lo > hi || lo >= avail) return this.noMatch(r, lo, avail, final)
    let end = this.endOf(r, avail, final)
    if (end < avail && isHigh(view.charCodeAt(end - 1))) end++
    let cs = lo > 0 ? lo - 1 : 0
    // Nothing starts inside a surrogate pair; RE2 counts the pair as one character.
    if (lo > 0 && isLow(view.charCodeAt(lo)) && isHigh(cs >= view.base ? view.charCodeAt(cs) : this.ctxUnit)) {
      lo++
      cs++
      if (lo > hi || lo >= avail) return this.noMatch(r, lo, avail, final)
    }
    const text = this.text(view, cs, lo, end)
    const re = p.re[r]!
    const ripeEnd = this.ripeEnd(r, avail, final)
    const maxLength = p.maxLength[r]!
    for (;;) {
      const from = lo - cs
      re.lastIndex = from
      regexStats.execCalls++
      regexStats.re2Units += text.length - from
      const m = re.exec(text)
      if (m === null) break
      const s = cs + m.index
      if (s > hi) break
      if (s > ripeEnd) return this.tentative(r, lo, s, avail)
      let e = s + m[0].length
      if (e - s > maxLength) {
        e = s + maxLength
        if (isHigh(view.charCodeAt(e - 1))) e--
      }
      if (e > s) {
        hits.push({ id: r, start: s, end: e })
        lo = e
        this.decided[r] = e
      } else {
        lo = s + (isHigh(view.charCodeAt(s)) ? 2 : 1)
      }
      if (lo > hi || lo >= end) break
    }
    this.noMatch(r, lo, avail, final)
  }

  /** No match starts in [lo, pendHi] with the text there is: ripe starts are decided. */
  private noMatch(r: number, lo: number, avail: number, final: boolean): void {
    const hi = this.pendHi[r]!
    const ripeEnd = this.ripeEnd(r, avail, final)
    const upTo = Math.min(hi, ripeEnd) + 1
    if (upTo > this.decided[r]!) this.decided[r] = upTo
    if (final || lo > hi || hi <= ripeEnd || avail >= this.pendReady[r]!) this.inPending[r] = 0
    else this.pendLo[r] = Math.max(lo, ripeEnd + 1)
  }

  /** RE2's first match from lo starts at s but is not final yet. */
  private tentative(r: number, lo: number, s: number, avail: number): void {
    const ripeEnd = this.ripeEnd(r, avail, false)
    const upTo = Math.min(s, ripeEnd + 1)
    if (upTo > this.decided[r]!) this.decided[r] = upTo
    this.pendLo[r] = avail >= this.pendReady[r]! ? s : Math.max(lo, ripeEnd + 1)
  }
}

const HAS_SURROGATE = /[\uD800-\uDFFF]/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/**
 * The context unit before a window is often half of a surrogate pair. Node 20 hands such a string
 * to RE2 with U+FFFD in place of the lone half; Node 24 (simdutf) sizes the UTF-8 buffer for 2
 * bytes per lone surrogate, writes 3 and cuts the string short, so matches at its end were lost.
 * Replacing lone halves here keeps the length in UTF-16 units (offsets stay right) and gives RE2
 * the same text on both.
 */
function wellFormed(s: string): string {
  return HAS_SURROGATE.test(s) ? s.replace(LONE_SURROGATE, '\uFFFD') : s
}
