/**
 * The feature contract `hashed-ngrams-v1`, shared by training (src/train) and serving: a model
 * that declares it in its metadata receives, for each window of the folded view, the sparse
 * vector `featurize(window, spec)` computes here. Anyone can train a model for it by
 * reproducing the steps below (or by calling this function).
 *
 * Input: text already in the moderation normalizer's folded view (`foldText`): NFKC, case
 * folded, diacritics stripped, confusables and leetspeak mapped. Nothing here folds again.
 *
 * 1. Tokens, scanning UTF-16 code units left to right:
 *    - whitespace (`\s`) separates tokens and is never part of one;
 *    - where a token may start, `http://`, `https://` or `www.` and everything up to the next
 *      whitespace is a URL; it becomes the single token `<url>`;
 *    - a word is a maximal run of letters, marks and numbers (`\p{L}\p{M}\p{N}`, an astral
 *      code point judged as a whole); an apostrophe (U+0027 or U+2019) with word characters on
 *      both sides belongs to the word, as U+0027; every ASCII digit becomes `0`;
 *    - any other code point (punctuation, symbols, emoji; a lone surrogate counts as one) is a
 *      one-character symbol token, except that it is dropped when it repeats the previous
 *      token exactly (`!!!` is one `!`).
 *    No token contains a space, and `<url>` cannot be produced by text, since `<` on its own
 *    is a one-character token.
 * 2. Features, each a string hashed with a one-unit kind prefix:
 *    - word n-grams for n = 1..wordNgrams over consecutive tokens of any kind: `W` followed by
 *      the n tokens joined by single spaces;
 *    - character n-grams, for word tokens only (not symbols nor `<url>`): every substring of
 *      `<` + word + `>` whose length in code units is within [charNgramMin, charNgramMax],
 *      except the lone markers `<` and `>`, prefixed by `C`. charNgramMax = 0 disables them.
 * 3. Hash: 32-bit FNV-1a over the UTF-16 code units of prefix + feature string (offset basis
 *    2166136261, prime 16777619, each unit XORed in whole), then MurmurHash3's fmix32 finalizer
 *    (h ^= h >>> 16; h *= 0x85ebca6b; h ^= h >>> 13; h *= 0xc2b2ae35; h ^= h >>> 16, all mod
 *    2^32); the feature id is that unsigned value mod `buckets`.
 * 4. Ids are counted (a feature that occurs twice, or two features that collide, count 2).
 *    Features are generated token by token: the word n-grams starting at the token (n
 *    ascending), then its character n-grams by start position, shorter first. An id's place in
 *    the output is where it first occurred in that sequence. When more than maxFeatures distinct
 *    ids occur, the maxFeatures with the highest counts are kept (ties to the smaller id), still
 *    in first-occurrence order.
 * 5. Weight of a kept id with count c: sqrt(c / T), T the sum of the kept counts, so the vector
 *    of weights has unit L2 norm and repeated features grow sublinearly. Output: the kept ids
 *    and their weights as float32. The order does not change a model's sum; it is fixed only
 *    so that the output is.
 *
 * Empty or all-whitespace text gives no features. A batch pads shorter rows with id 0 and
 * weight 0, which adds nothing to a weighted sum.
 *
 * Hot path: this runs on every window. Counting goes through a small open-addressing table
 * reused across calls and sized to the window, so it stays in cache and a call allocates only
 * its result.
 */

export const FEATURE_CONTRACT = 'hashed-ngrams-v1'

export interface FeatureSpec {
  readonly buckets: number
  readonly wordNgrams: number
  readonly charNgramMin: number
  readonly charNgramMax: number
  readonly maxFeatures: number
}

/** Sparse vector: distinct ids in [0, buckets), in first-occurrence order; weights alongside. */
export interface Features {
  readonly ids: Int32Array
  readonly weights: Float32Array
}

/** Bounds a spec must respect; they keep the per-call work and the scratch arrays bounded. */
export const FEATURE_SPEC_LIMITS = {
  maxBuckets: 1 << 22,
  maxWordNgrams: 5,
  maxCharNgram: 10,
  maxFeatures: 1 << 16,
} as const

/** Why `spec` is outside the contract, or undefined when it is inside. */
export function featureSpecProblem(spec: FeatureSpec): string | undefined {
  const int = (v: number, lo: number, hi: number): boolean => Number.isInteger(v) && v >= lo && v <= hi
  const L = FEATURE_SPEC_LIMITS
  if (!int(spec.buckets, 1, L.maxBuckets)) return `buckets must be an integer in [1, ${L.maxBuckets}]`
  if (!int(spec.wordNgrams, 0, L.maxWordNgrams)) return `wordNgrams must be an integer in [0, ${L.maxWordNgrams}]`
  if (!int(spec.charNgramMax, 0, L.maxCharNgram)) return `charNgramMax must be an integer in [0, ${L.maxCharNgram}]`
  if (spec.charNgramMax > 0 && !int(spec.charNgramMin, 1, spec.charNgramMax)) return 'charNgramMin must be an integer in [1, charNgramMax]'
  if (!int(spec.maxFeatures, 1, L.maxFeatures)) return `maxFeatures must be an integer in [1, ${L.maxFeatures}]`
  if (spec.wordNgrams === 0 && spec.charNgramMax === 0) return 'wordNgrams and charNgramMax cannot both be 0'
  return undefined
}

const KIND_WORD = 0x57 // W
const KIND_CHAR = 0x43 // C
const FNV_BASIS = 0x811c9dc5 | 0
const FNV_PRIME = 16777619

const TOKEN_WORD = 0
const TOKEN_SYMBOL = 1
const TOKEN_URL = 2
const URL_UNITS = [0x3c, 0x75, 0x72, 0x6c, 0x3e] // <url>

const CLASS_UNKNOWN = 0
const CLASS_WORD = 1
const CLASS_SPACE = 2
const CLASS_SYMBOL = 3
const WORD_RE = /^[\p{L}\p{M}\p{N}]$/u
const SPACE_RE = /^\s$/u

/** BMP character classes, filled on first sight: one regex test per distinct character ever. */
const bmpClass = new Uint8Array(0x10000)

function classOfUnit(u: number): number {
  let k = bmpClass[u]!
  if (k === CLASS_UNKNOWN) {
    // Surrogate halves are classified by the caller; alone they are symbols.
    const s = String.fromCharCode(u)
    k = u >= 0xd800 && u <= 0xdfff ? CLASS_SYMBOL : WORD_RE.test(s) ? CLASS_WORD : SPACE_RE.test(s) ? CLASS_SPACE : CLASS_SYMBOL
    bmpClass[u] = k
  }
  return k
}

function isAstralWord(cp: number): boolean {
  return WORD_RE.test(String.fromCodePoint(cp))
}

const step = (h: number, unit: number): number => Math.imul(h ^ unit, FNV_PRIME)

function fmix(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Per-call scratch, grown on demand and reused: tokens' units and their bounds. */
let units = new Uint16Array(1024)
let tokStart = new Int32Array(256)
let tokEnd = new Int32Array(256)
let tokKind = new Uint8Array(256)

/**
 * Counting table: open addressing, slot i holding id + 1 (0 when free) at 2i and its count at
 * 2i + 1, sized to twice the most ids the call can produce. A window's few thousand ids stay in cache, where a dense array per
 * bucket would miss it on almost every one.
 */
let table = new Int32Array(2 * 4096)
let used = new Int32Array(2048)

function ensureTable(maxIds: number): number {
  let bits = 12
  while (1 << bits < 2 * maxIds) bits++
  if (2 << bits > table.length) table = new Int32Array(2 << bits)
  if (used.length < maxIds) used = new Int32Array(Math.max(maxIds, used.length * 2))
  return bits
}

function growUnits(need: number): void {
  if (need <= units.length) return
  const next = new Uint16Array(Math.max(need, units.length * 2))
  next.set(units)
  units = next
}

function growTokens(need: number): void {
  if (need <= tokStart.length) return
  const n = Math.max(need, tokStart.length * 2)
  const s = new Int32Array(n)
  const e = new Int32Array(n)
  const k = new Uint8Array(n)
  s.set(tokStart)
  e.set(tokEnd)
  k.set(tokKind)
  tokStart = s
  tokEnd = e
  tokKind = k
}

function startsUrl(text: string, i: number): boolean {
  const c = text.charCodeAt(i)
  if (c === 0x68) return text.startsWith('http://', i) || text.startsWith('https://', i)
  return c === 0x77 && text.startsWith('www.', i)
}

const isApostrophe = (u: number): boolean => u === 0x27 || u === 0x2019

/** Whether a word character (BMP or astral) starts at `i`. */
function wordStartsAt(text: string, i: number): boolean {
  if (i >= text.length) return false
  const u = text.charCodeAt(i)
  if (u < 0xd800 || u > 0xdfff) return classOfUnit(u) === CLASS_WORD
  if (u > 0xdbff || i + 1 >= text.length) return false
  const lo = text.charCodeAt(i + 1)
  return lo >= 0xdc00 && lo <= 0xdfff && isAstralWord(((u - 0xd800) << 10) + (lo - 0xdc00) + 0x10000)
}

/** Splits `text` into tokens (step 1); returns how many. */
function tokenize(text: string): number {
  const n = text.length
  growUnits(n + 8)
  let out = 0
  let count = 0
  let i = 0
  const push = (start: number, kind: number): void => {
    growTokens(count + 1)
    tokStart[count] = start
    tokEnd[count] = out
    tokKind[count] = kind
    count++
  }
  while (i < n) {
    const u = text.charCodeAt(i)
    let cls = u < 0xd800 || u > 0xdfff ? classOfUnit(u) : CLASS_SYMBOL
    let width = 1
    if (u >= 0xd800 && u <= 0xdbff && i + 1 < n) {
      const lo = text.charCodeAt(i + 1)
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        width = 2
        cls = isAstralWord(((u - 0xd800) << 10) + (lo - 0xdc00) + 0x10000) ? CLASS_WORD : CLASS_SYMBOL
      }
    }
    if (cls === CLASS_SPACE) {
      i++
      continue
    }
    if (startsUrl(text, i)) {
      while (i < n && classOfUnit(text.charCodeAt(i)) !== CLASS_SPACE) i++
      const start = out
      growUnits(out + URL_UNITS.length)
      for (const c of URL_UNITS) units[out++] = c
      push(start, TOKEN_URL)
      continue
    }
    if (cls === CLASS_SYMBOL) {
      const start = out
      units[out++] = u
      if (width === 2) units[out++] = text.charCodeAt(i + 1)
      i += width
      // A repeat of the previous token (which must then be this same symbol) is dropped.
      const prev = count - 1
      if (prev >= 0 && tokKind[prev] === TOKEN_SYMBOL && tokEnd[prev]! - tokStart[prev]! === width && units[tokStart[prev]!] === u && (width === 1 || units[tokStart[prev]! + 1] === units[start + 1])) {
        out = start
        continue
      }
      push(start, TOKEN_SYMBOL)
      continue
    }
    // A word: letters, marks, numbers, and inner apostrophes.
    const start = out
    while (i < n) {
      const c = text.charCodeAt(i)
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
        const lo = text.charCodeAt(i + 1)
        if (lo >= 0xdc00 && lo <= 0xdfff && isAstralWord(((c - 0xd800) << 10) + (lo - 0xdc00) + 0x10000)) {
          units[out++] = c
          units[out++] = lo
          i += 2
          continue
        }
        break
      }
      if (c >= 0x30 && c <= 0x39) {
        units[out++] = 0x30
        i++
        continue
      }
      if (c < 0xd800 || c > 0xdfff) {
        if (classOfUnit(c) === CLASS_WORD) {
          units[out++] = c
          i++
          continue
        }
        if (isApostrophe(c) && out > start && wordStartsAt(text, i + 1)) {
          units[out++] = 0x27
          i++
          continue
        }
      }
      break
    }
    push(start, TOKEN_WORD)
  }
  return count
}

/**
 * The contract's sparse vector for one window of folded text. Deterministic and pure (its
 * scratch buffers never outlive a call); throws RangeError for a spec outside the contract.
 */
export function featurize(foldedText: string, spec: FeatureSpec): Features {
  const problem = featureSpecProblem(spec)
  if (problem !== undefined) throw new RangeError(`feature spec: ${problem}`)
  const { buckets, wordNgrams, charNgramMin, charNgramMax, maxFeatures } = spec
  const tokens = tokenize(foldedText)
  // Most ids this call can produce, to size the table: n-grams per token plus char n-grams.
  let bound = 0
  for (let t = 0; t < tokens; t++) {
    bound += wordNgrams
    if (charNgramMax > 0 && tokKind[t] === TOKEN_WORD) bound += (tokEnd[t]! - tokStart[t]! + 2) * (charNgramMax - charNgramMin + 1)
  }
  if (bound > buckets) bound = buckets
  const bits = ensureTable(bound)
  const shift = 32 - bits
  const mask = (1 << bits) - 1
  const tab = table
  const slots = used
  let distinct = 0
  const pow2 = (buckets & (buckets - 1)) === 0
  const lowBits = buckets - 1
  const add = (h: number): void => {
    const x = fmix(h)
    // x mod buckets without a floating-point remainder: the quotient of two integers below
    // 2^32 is never rounded up to the next integer, so floor() is exact.
    const key = (pow2 ? x & lowBits : x - Math.floor(x / buckets) * buckets) + 1
    let slot = Math.imul(key, 0x9e3779b1) >>> shift
    for (;;) {
      const at = slot << 1
      const k = tab[at]!
      if (k === key) {
        tab[at + 1]!++
        return
      }
      if (k === 0) {
        tab[at] = key
        tab[at + 1] = 1
        slots[distinct++] = at
        return
      }
      slot = (slot + 1) & mask
    }
  }
  const u = units
  for (let t = 0; t < tokens; t++) {
    // Word n-grams starting at token t.
    let h = step(FNV_BASIS, KIND_WORD)
    for (let n = 0; n < wordNgrams && t + n < tokens; n++) {
      if (n > 0) h = step(h, 0x20)
      for (let k = tokStart[t + n]!, e = tokEnd[t + n]!; k < e; k++) h = step(h, u[k]!)
      add(h)
    }
    if (charNgramMax === 0 || tokKind[t] !== TOKEN_WORD) continue
    // Character n-grams of <word>: position p in [0, len+2) reads '<', the word, then '>'.
    const s = tokStart[t]!
    const len = tokEnd[t]! - s
    const padded = len + 2
    for (let p = 0; p < padded; p++) {
      let g = step(FNV_BASIS, KIND_CHAR)
      for (let q = p, m = 1; q < padded && m <= charNgramMax; q++, m++) {
        g = step(g, q === 0 ? 0x3c : q === padded - 1 ? 0x3e : u[s + q - 1]!)
        if (m >= charNgramMin && !(m === 1 && (q === 0 || q === padded - 1))) add(g)
      }
    }
  }

  // Output in first-occurrence order, which is what `slots` holds.
  let order = slots
  let n = distinct
  if (distinct > maxFeatures) {
    const byCount = slots.slice(0, distinct).sort((a, b) => tab[b + 1]! - tab[a + 1]! || tab[a]! - tab[b]!)
    const keep = byCount.subarray(0, maxFeatures)
    const firstSeen = new Int32Array(tab.length)
    for (let k = 0; k < distinct; k++) firstSeen[slots[k]!] = k
    order = keep.sort((a, b) => firstSeen[a]! - firstSeen[b]!)
    n = maxFeatures
  }
  const ids = new Int32Array(n)
  const weights = new Float32Array(n)
  let total = 0
  for (let k = 0; k < n; k++) {
    const slot = order[k]!
    ids[k] = tab[slot]! - 1
    total += tab[slot + 1]!
  }
  for (let k = 0; k < n; k++) weights[k] = Math.sqrt(tab[order[k]! + 1]! / total)
  for (let k = 0; k < distinct; k++) tab[slots[k]!] = 0
  return { ids, weights }
}
