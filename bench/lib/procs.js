// @ts-check
// Child processes of the benchmark: started here, always ended here, on success, error or signal.
import { spawn } from 'node:child_process'
import { openSync, closeSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'

/** @typedef {{ name: string, pid: number, logFile: string, extraPids: number[], exited: Promise<number | null>, stop(): Promise<void> }} Child */

/** @type {Set<Child>} */
const running = new Set()

// Last resort: a synchronous kill on exit, for when the orderly stop never ran (an uncaught error,
// a signal). Extra pids are nginx's workers, which a killed master would leave behind.
process.on('exit', () => {
  for (const child of running) {
    for (const pid of [...child.extraPids, child.pid]) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // Already gone.
      }
    }
  }
})
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: ${signal}, stopping children\n`)
    process.exit(130)
  })
}

/**
 * Spawns a process whose output goes straight to a log file, so that the benchmark process spends
 * no CPU relaying it.
 * @param {string} name @param {string} command @param {string[]} args
 * @param {{ logFile: string, env?: NodeJS.ProcessEnv, stopSignal?: NodeJS.Signals }} opts
 * @returns {Child}
 */
export function startChild(name, command, args, opts) {
  const fd = openSync(opts.logFile, 'a')
  const proc = spawn(command, args, { stdio: ['ignore', fd, fd], env: opts.env ?? process.env })
  closeSync(fd)
  if (proc.pid === undefined) throw new Error(`could not start ${name} (${command})`)
  /** @type {Promise<number | null>} */
  const exited = new Promise((resolve) => {
    proc.once('exit', (code) => resolve(code))
    proc.once('error', () => resolve(-1))
  })
  /** @type {Child} */
  const child = {
    name,
    pid: proc.pid,
    logFile: opts.logFile,
    extraPids: [],
    exited,
    async stop() {
      if (!running.delete(child)) return
      proc.kill(opts.stopSignal ?? 'SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
      for (const pid of child.extraPids) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // Exited with its parent, as it should.
        }
      }
    },
  }
  running.add(child)
  return child
}

export async function stopAll() {
  await Promise.all([...running].map((c) => c.stop()))
}

/** The last lines of a child's log, for error messages. @param {Child} child */
export function logTail(child, lines = 20) {
  try {
    return readFileSync(child.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0))
    })
  })
}

/**
 * Polls a URL until it answers 200, the child exits, or the time is up.
 * @param {Child} child @param {string} url @param {number} timeoutMs @param {Record<string, string>} [headers]
 */
export async function waitReady(child, url, timeoutMs, headers = {}) {
  const deadline = Date.now() + timeoutMs
  let exitCode = /** @type {number | null | undefined} */ (undefined)
  void child.exited.then((code) => (exitCode = code))
  let last = 'no answer'
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`${child.name} exited (code ${exitCode}) before it was ready:\n${logTail(child)}`)
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(1000) })
      await res.arrayBuffer()
      if (res.status === 200) return
      last = `status ${res.status}`
    } catch (err) {
      last = err instanceof Error ? err.message : String(err)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${child.name} not ready at ${url} after ${timeoutMs} ms (${last}):\n${logTail(child)}`)
}
