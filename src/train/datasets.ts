import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseCsv } from './csv.js'

export interface Example {
  readonly text: string
  /** Index into the task's labels. */
  readonly label: number
  /** Share of annotators per label, when the dataset records votes. */
  readonly votes?: readonly number[]
}

export const TOXICITY_LABELS = ['hate', 'offensive', 'neither'] as const
export const INJECTION_LABELS = ['injection', 'benign'] as const

const DAVIDSON = 'davidson-2017/labeled_data.csv'
const DEEPSET = 'prompt-injections-deepset'

/**
 * Davidson et al. 2017: `class` 0 hate, 1 offensive, 2 neither, which is TOXICITY_LABELS'
 * order. Tweets are cleaned of what only tweets carry (see cleanTweet).
 */
export function loadDavidson(dataDir: string): Example[] {
  const rows = parseCsv(readFileSync(join(dataDir, DAVIDSON), 'utf8'))
  const header = rows[0]
  const cls = header?.indexOf('class') ?? -1
  const tweet = header?.indexOf('tweet') ?? -1
  const voteCols = ['hate_speech', 'offensive_language', 'neither'].map((c) => header?.indexOf(c) ?? -1)
  if (cls < 0 || tweet < 0) throw new Error(`${DAVIDSON}: expected columns "class" and "tweet"`)
  const out: Example[] = []
  for (let r = 1; r < rows.length; r++) {
    const row = rows[r]!
    if (row.length === 1 && row[0] === '') continue
    const label = Number(row[cls])
    if (!(label === 0 || label === 1 || label === 2)) throw new Error(`${DAVIDSON}: row ${r} has class ${JSON.stringify(row[cls])}`)
    const v = voteCols.map((c) => Number(row[c]))
    const sum = v.reduce((a, b) => a + b, 0)
    out.push({ text: cleanTweet(row[tweet] ?? ''), label, ...(sum > 0 && v.every(Number.isFinite) ? { votes: v.map((x) => x / sum) } : {}) })
  }
  return out
}

/**
 * Deepset prompt injections, `split` being the official train or test file. Label 1 (an
 * injection) maps to index 0, INJECTION_LABELS' order.
 */
export function loadDeepset(dataDir: string, split: 'train' | 'test'): Example[] {
  const lines = readFileSync(join(dataDir, DEEPSET, `${split}.jsonl`), 'utf8').split('\n')
  const out: Example[] = []
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue
    const row = JSON.parse(line) as { text?: unknown; label?: unknown }
    if (typeof row.text !== 'string' || (row.label !== 0 && row.label !== 1)) throw new Error(`${DEEPSET}/${split}.jsonl line ${i + 1}: expected {"text": string, "label": 0|1}`)
    out.push({ text: row.text, label: row.label === 1 ? 0 : 1 })
  }
  return out
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' }

/**
 * What tweets carry and chatbot answers do not: HTML entities (the dataset stores `&amp;` and
 * emoji as `&#128514;`), @mentions, and the retweet marker RT. Mentions go before folding,
 * since folding turns `@` into `a`. URLs stay: the featurizer maps them to a token at serving
 * time too.
 */
export function cleanTweet(text: string): string {
  return text
    .replace(/&#(\d{1,7});/g, (m, d: string) => codePoint(Number(d)) ?? m)
    .replace(/&#x([0-9a-f]{1,6});/gi, (m, h: string) => codePoint(Number.parseInt(h, 16)) ?? m)
    .replace(/&([a-z]+);/gi, (m, name: string) => ENTITIES[name.toLowerCase()] ?? m)
    .replace(/@[A-Za-z0-9_]+:?/g, ' ')
    .replace(/(^|\s)RT(?=\s|:|$)/g, '$1')
    .replace(/\s+/g, ' ')
    .trim()
}

function codePoint(n: number): string | undefined {
  return Number.isInteger(n) && n > 0 && n <= 0x10ffff && !(n >= 0xd800 && n <= 0xdfff) ? String.fromCodePoint(n) : undefined
}
