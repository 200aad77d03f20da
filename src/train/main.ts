#!/usr/bin/env node
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { trainInjection } from './injection.js'
import { renderModelCard, type Metrics } from './model-card.js'
import { trainToxicity } from './toxicity.js'

/**
 * npm run train: trains the shipped classifiers from ../shared/datasets and writes them, their
 * held-out metrics and the model card to models/. --check retrains in memory and fails when a
 * shipped model's bytes differ, which is how CI knows the files come from this code.
 */

const USAGE = 'usage: node dist/train/main.js [--data DIR] [--out DIR] [--check] [--only toxicity|injection]'
const TASKS = { toxicity: trainToxicity, injection: trainInjection } as const
type TaskName = keyof typeof TASKS

/** dist/train/main.js lives two levels below the repository root. */
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

interface Args {
  data: string
  out: string
  check: boolean
  only: TaskName | undefined
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { data: join(repo, '..', 'shared', 'datasets'), out: join(repo, 'models'), check: false, only: undefined }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const value = (): string => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`)
      return v
    }
    if (a === '--data') args.data = resolve(value())
    else if (a === '--out') args.out = resolve(value())
    else if (a === '--check') args.check = true
    else if (a === '--only') {
      const v = value()
      if (v !== 'toxicity' && v !== 'injection') throw new Error(`--only takes toxicity or injection, not ${v}\n${USAGE}`)
      args.only = v
    } else if (a === '--help' || a === '-h') {
      console.log(USAGE)
      process.exit(0)
    } else throw new Error(`unknown argument ${a}\n${USAGE}`)
  }
  return args
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

function main(): number {
  const args = parseArgs(process.argv.slice(2))
  if (!existsSync(args.data)) {
    console.error(`datasets not found at ${args.data} (pass --data DIR)`)
    return 2
  }
  const names = args.only ? [args.only] : (Object.keys(TASKS) as TaskName[])
  const metricsPath = join(args.out, 'metrics.json')
  const metrics: Metrics = existsSync(metricsPath) ? (JSON.parse(readFileSync(metricsPath, 'utf8')) as Metrics) : {}
  let differs = false
  for (const name of names) {
    const started = performance.now()
    const result = TASKS[name](args.data)
    const seconds = ((performance.now() - started) / 1000).toFixed(1)
    const path = join(args.out, result.file)
    if (args.check) {
      const shipped = existsSync(path) ? readFileSync(path) : undefined
      const same = shipped !== undefined && Buffer.compare(shipped, result.bytes) === 0
      if (!same) differs = true
      console.log(`${name}: ${same ? 'reproduces' : shipped ? 'DIFFERS from' : 'missing:'} ${path} (sha256 ${sha256(result.bytes)}, ${seconds} s)`)
      continue
    }
    mkdirSync(args.out, { recursive: true })
    writeFileSync(path, result.bytes)
    Object.assign(metrics, { [name]: { ...result.metrics, model: { file: result.file, bytes: result.bytes.length, sha256: sha256(result.bytes) } } })
    console.log(`${name}: wrote ${path} (${result.bytes.length} bytes, ${seconds} s)`)
    console.log(JSON.stringify(result.metrics.targets))
  }
  if (args.check) return differs ? 1 : 0
  writeFileSync(metricsPath, JSON.stringify(metrics, null, 2) + '\n')
  writeFileSync(join(args.out, 'MODEL_CARD.md'), renderModelCard(metrics))
  console.log(`wrote ${metricsPath} and MODEL_CARD.md`)
  return 0
}

try {
  process.exitCode = main()
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err))
  process.exitCode = 2
}
