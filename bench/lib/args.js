// @ts-check
// Command-line flags and the phase sizes they select.
import { parseArgs } from 'node:util'

export const USAGE = `usage: node bench/run.js [options]   (run \`npm run build\` first; \`npm run bench\` does both)

  --quick               ~1 minute smoke run (2 rounds, shorter phases) instead of ~5 minutes
  --rounds N            interleaved rounds per phase (default 5, quick 2)
  --install-nginx       apt-get install nginx when /usr/sbin/nginx is missing
  --install-wrk         apt-get install wrk when /usr/bin/wrk is missing
  --no-nginx            leave nginx out even when installed
  --no-wrk              use undici for max throughput even when /usr/bin/wrk is installed
  --chaperone-bin PATH  the Chaperone CLI to run (default dist/cli.js)
  --out DIR             where RESULTS.md and results.json go (default bench/)
  -h, --help            this text
`

/**
 * @typedef {{ quick: boolean, rounds: number, installNginx: boolean, installWrk: boolean, nginx: boolean, wrk: boolean,
 *   chaperoneBin: string, outDir: string, seqPerRound: number, openRate: number, openSeconds: number,
 *   tputConnections: number, tputSeconds: number, ttftStreams: number, latencyStreams: number, latencyBatch: number,
 *   deltas: number, paceMs: number, stallMs: number, rampMs: number, concurrency: number[], warmupRequests: number }} Options
 */

/** @param {string[]} argv @param {string} root @returns {Options | undefined} undefined for --help */
export function parseOptions(argv, root) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      'install-nginx': { type: 'boolean', default: false },
      'install-wrk': { type: 'boolean', default: false },
      'no-nginx': { type: 'boolean', default: false },
      'no-wrk': { type: 'boolean', default: false },
      'chaperone-bin': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) return undefined
  const quick = values.quick === true
  const rounds = values.rounds === undefined ? (quick ? 2 : 5) : Number(values.rounds)
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) throw new Error(`--rounds wants an integer in 1..50, got ${values.rounds}`)
  return {
    quick,
    rounds,
    installNginx: values['install-nginx'] === true,
    installWrk: values['install-wrk'] === true,
    nginx: values['no-nginx'] !== true,
    wrk: values['no-wrk'] !== true,
    chaperoneBin: values['chaperone-bin'] ?? `${root}/dist/cli.js`,
    outDir: values.out ?? `${root}/bench`,
    seqPerRound: quick ? 400 : 800,
    openRate: 300,
    openSeconds: quick ? 1.5 : 3,
    tputConnections: 64,
    // Whole seconds, because wrk takes no fractions.
    tputSeconds: quick ? 2 : 3,
    ttftStreams: quick ? 30 : 50,
    latencyStreams: quick ? 8 : 16,
    latencyBatch: 8,
    deltas: 64,
    paceMs: 20,
    stallMs: 100,
    rampMs: 500,
    concurrency: [64, 256],
    // A JIT-compiled proxy keeps getting faster for thousands of requests; a sidecar runs for
    // days, so the steady state is what counts.
    warmupRequests: quick ? 2000 : 12000,
  }
}
