// @ts-check
// The three ways a request reaches the demo chatbot: directly, through Chaperone, through nginx.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { childPids } from './procfs.js'
import { freePort, startChild, waitReady } from './procs.js'
import { nginxArgs, writeNginxConfig } from './nginx.js'

/** @typedef {{ name: string, origin: string, pids: number[] }} Target name is direct, chaperone or nginx */

const ADMIN_TOKEN = 'bench'

/** The demo chatbot in its own process, so its CPU is charged to neither side. @param {string} root @param {string} tmp */
export async function startUpstream(root, tmp) {
  const port = await freePort()
  const child = startChild('demo chatbot', process.execPath, [join(root, 'dist/demo/main.js'), '--host', '127.0.0.1', '--port', String(port)], {
    logFile: join(tmp, 'upstream.log'),
  })
  const origin = `http://127.0.0.1:${port}`
  await waitReady(child, `${origin}/healthz`, 15_000)
  return { child, port, target: { name: 'direct', origin, pids: [] } }
}

/**
 * Chaperone with an empty config directory (no policy files: every request is a pass-through),
 * or with the given policy files under another target name.
 * @param {string} bin @param {string} tmp @param {number} upstreamPort
 * @param {{ name?: string, files?: Record<string, string> }} [o]
 */
export async function startChaperone(bin, tmp, upstreamPort, o = {}) {
  if (!existsSync(bin)) throw new Error(`${bin} not found: run \`npm run build\` first (or pass --chaperone-bin)`)
  const name = o.name ?? 'chaperone'
  const configDir = join(tmp, `${name}-config`)
  mkdirSync(configDir, { recursive: true })
  for (const [file, content] of Object.entries(o.files ?? {})) writeFileSync(join(configDir, file), content)
  const [port, adminPort] = [await freePort(), await freePort()]
  const args = [bin, 'serve', '--config', configDir, '--listen', `127.0.0.1:${port}`, '--upstream', `http://127.0.0.1:${upstreamPort}`, '--admin', `127.0.0.1:${adminPort}`]
  const child = startChild(name, process.execPath, args, {
    logFile: join(tmp, `${name}.log`),
    env: { ...process.env, CHAPERONE_ADMIN_TOKEN: ADMIN_TOKEN, NODE_ENV: 'production' },
  })
  await waitReady(child, `http://127.0.0.1:${adminPort}/readyz`, 30_000, { authorization: `Bearer ${ADMIN_TOKEN}` })
  return { child, target: { name, origin: `http://127.0.0.1:${port}`, pids: [child.pid] } }
}

/** @param {string} bin @param {string} tmp @param {number} upstreamPort */
export async function startNginx(bin, tmp, upstreamPort) {
  const dir = join(tmp, 'nginx')
  mkdirSync(dir, { recursive: true })
  const port = await freePort()
  const file = writeNginxConfig(dir, port, upstreamPort)
  const child = startChild('nginx', bin, nginxArgs(dir, file), { logFile: join(dir, 'stderr.log') })
  const origin = `http://127.0.0.1:${port}`
  await waitReady(child, `${origin}/healthz`, 15_000)
  // CPU and memory belong to the workers; the master only supervises.
  child.extraPids = childPids(child.pid)
  return { child, target: { name: 'nginx', origin, pids: child.extraPids } }
}
