#!/usr/bin/env node
/**
 * Runs the demo chatbot on its own: `node dist/demo/main.js [--host H] [--port N] [--pace-ms N]
 * [--deltas N] [--chunk-words N]`. Prints its URL alone on the first stdout line, so scripts
 * (the benchmarks) can read it; it runs as its own process there so that its CPU is not charged
 * to the load generator or to Chaperone.
 */
import { parseArgs } from 'node:util'
import { startDemoChatbot, type DemoChatbotOptions } from './chatbot.js'

function intOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value)) throw new Error(`--${name} wants a non-negative integer, got '${value}'`)
  return Number(value)
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'pace-ms': { type: 'string' },
      deltas: { type: 'string' },
      'chunk-words': { type: 'string' },
    },
  })
  const opts: DemoChatbotOptions = {}
  if (values.host !== undefined) opts.host = values.host
  const port = intOption('port', values.port)
  if (port !== undefined) opts.port = port
  const paceMs = intOption('pace-ms', values['pace-ms'])
  if (paceMs !== undefined) opts.paceMs = paceMs
  const deltas = intOption('deltas', values.deltas)
  if (deltas !== undefined) opts.deltas = deltas
  const chunkWords = intOption('chunk-words', values['chunk-words'])
  if (chunkWords !== undefined) opts.chunkWords = chunkWords

  const bot = await startDemoChatbot(opts)
  process.stdout.write(`${bot.url}\n`)
  const stop = () => {
    void bot.close().then(() => process.exit(0))
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

main().catch((err: unknown) => {
  process.stderr.write(`demo chatbot: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
