/**
 * The demo chatbot's answers. Everything here is a pure function of the prompt and the shape
 * options, so that tests and benchmarks can compare runs byte for byte and a cache in front of
 * the chatbot sees identical answers for identical prompts.
 */

// Appended (and cycled) when a caller asks for more deltas than the short answer has words, so
// that long streams stay deterministic without depending on the prompt's length.
const FILLER = (
  'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut ' +
  'labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco ' +
  'laboris nisi ut aliquip ex ea commodo consequat.'
).split(' ')

export interface ReplyShape {
  /** How many content deltas to stream; by default one per group of `chunkWords` words. */
  deltas?: number | undefined
  /** Words per delta when `deltas` is not given, and the minimum when it asks for more text. */
  chunkWords?: number | undefined
}

export function answerFor(prompt: string): string {
  // Collapsing whitespace keeps the answer one line, so word splitting below is exact.
  const said = prompt.replace(/\s+/g, ' ').trim()
  return `You said: ${said}. This is Chaperone's demo chatbot, answering deterministically.`
}

/**
 * Splits the answer into the content deltas to stream; joined, they are the full content. Asking
 * for more deltas than there are words extends the answer with filler, so the non-streamed
 * content for the same request shape must be taken from here too.
 */
export function replyDeltas(prompt: string, shape: ReplyShape = {}): string[] {
  const chunkWords = Math.max(1, Math.floor(shape.chunkWords ?? 1))
  let words = answerFor(prompt).split(' ')
  const deltas = Math.max(1, Math.floor(shape.deltas ?? Math.ceil(words.length / chunkWords)))
  const wanted = deltas * chunkWords
  if (shape.deltas !== undefined && wanted > words.length) {
    const extra: string[] = []
    for (let i = 0; words.length + extra.length < wanted; i++) extra.push(FILLER[i % FILLER.length]!)
    words = words.concat(extra)
  }
  return spread(words, deltas)
}

// Spreads words as evenly as possible over n deltas, each delta carrying the space that precedes
// its first word (as real tokenizers do), so that concatenation restores the text exactly.
function spread(words: string[], n: number): string[] {
  const out: string[] = []
  const base = Math.floor(words.length / n)
  const rest = words.length % n
  let at = 0
  for (let i = 0; i < n; i++) {
    const take = base + (i < rest ? 1 : 0)
    const piece = words.slice(at, at + take).join(' ')
    out.push(at === 0 || piece === '' ? piece : ' ' + piece)
    at += take
  }
  return out
}

/** A crude token estimate (words), good enough for usage numbers that only need to be stable. */
export function countWords(text: string): number {
  const t = text.trim()
  return t === '' ? 0 : t.split(/\s+/).length
}
