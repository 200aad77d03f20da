// @ts-check
// wrk, when installed, for the max-throughput number: a C load generator takes less of the shared
// cores than undici does, so the ceiling it finds belongs more to the proxy than to the client.
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { aptInstall } from './apt.js'

export const WRK_BIN = '/usr/bin/wrk'

/** wrk's version, or undefined when it is not installed. @param {boolean} install */
export function findWrk(install) {
  if (!existsSync(WRK_BIN) && install) aptInstall('wrk')
  if (!existsSync(WRK_BIN)) return undefined
  // wrk -v prints its version and exits non-zero.
  const r = spawnSync(WRK_BIN, ['-v'], { encoding: 'utf8' })
  return /wrk \S+/.exec(`${r.stdout}${r.stderr}`)?.[0] ?? 'wrk'
}

/**
 * Runs one closed-loop wrk burst.
 * @param {{ url: string, body: string, connections: number, seconds: number, tmpDir: string }} o
 * @returns {Promise<{ completed: number, errors: number, seconds: number, rps: number }>}
 */
export function runWrk(o) {
  const script = join(o.tmpDir, 'wrk-post.lua')
  writeFileSync(script, `wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\nwrk.body = ${JSON.stringify(o.body)}\n`)
  const args = ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '--timeout', '10s', '-s', script, o.url]
  return new Promise((resolve, reject) => {
    execFile(WRK_BIN, args, { encoding: 'utf8', timeout: (o.seconds + 30) * 1000 }, (err, stdout) => {
      if (err) return reject(new Error(`wrk failed: ${err.message}\n${stdout}`))
      const done = /(\d+) requests in ([\d.]+)(us|ms|s|m)\b/.exec(stdout)
      if (!done) return reject(new Error(`cannot read wrk output:\n${stdout}`))
      const unit = { us: 1e-6, ms: 1e-3, s: 1, m: 60 }[/** @type {'us' | 'ms' | 's' | 'm'} */ (done[3])]
      const seconds = Number(done[2]) * unit
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0)
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout)
      const socketErrors = sock ? sock.slice(1).reduce((s, n) => s + Number(n), 0) : 0
      const completed = Number(done[1]) - non2xx
      resolve({ completed, errors: non2xx + socketErrors, seconds, rps: completed / seconds })
    })
  })
}
