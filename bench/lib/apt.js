// @ts-check
// Installs a Debian package on request only: the benchmark never changes the machine unless told.
import { spawnSync } from 'node:child_process'

let updated = false

/** @param {string} pkg @returns {string | undefined} why it failed, or undefined on success */
export function aptInstall(pkg) {
  process.stdout.write(`bench: installing ${pkg} with apt-get\n`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  if (!updated) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore', env })
    updated = true
  }
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: 'ignore', env })
  return r.status === 0 ? undefined : `apt-get install ${pkg} failed (exit ${r.status ?? r.signal})`
}
