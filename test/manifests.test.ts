import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { parse } from 'yaml'
import { validateConfigDir } from '../src/io/config/validate.js'
import { parseProcessConfig, PROCESS_CONFIG_FILE } from '../src/core/config/process-schema.js'
import { splitHostPort } from '../src/core/config/listen.js'

/**
 * The shipped config and the container image. There is no Docker engine on these machines, so
 * the Dockerfile is checked by reading it; the kustomize manifests are in test/k8s/.
 */

const root = fileURLToPath(new URL('..', import.meta.url))

t.test('the config directory npm start runs loads without errors', async (t) => {
  t.same(await validateConfigDir(join(root, 'config')), [])
})

interface Instruction {
  cmd: string
  args: string
}

/** Dockerfile instructions in order: continuation lines joined, comments and blank lines dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = []
  let pending = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (pending === '' && (line === '' || line.startsWith('#'))) continue
    if (line.startsWith('#')) continue
    pending += (pending ? ' ' : '') + line.replace(/\\$/, '').trim()
    if (line.endsWith('\\')) continue
    const m = /^(\S+)\s*(.*)$/.exec(pending)!
    out.push({ cmd: m[1]!.toUpperCase(), args: m[2]! })
    pending = ''
  }
  return out
}

/** The instructions grouped by FROM, each stage starting with its FROM. */
function stages(list: Instruction[]): Instruction[][] {
  const out: Instruction[][] = []
  for (const i of list) {
    if (i.cmd === 'FROM') out.push([i])
    else if (out.length > 0) out.at(-1)!.push(i)
  }
  return out
}

const jsonArgs = (i: Instruction | undefined): unknown => (i ? JSON.parse(i.args) : undefined)
const last = (stage: Instruction[], cmd: string) => stage.filter((i) => i.cmd === cmd).at(-1)
/** Sources of a COPY that come from the build context (not --from another stage). */
const contextSources = (i: Instruction): string[] => {
  if (/--from=/.test(i.args)) return []
  const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'))
  return words.slice(0, -1)
}

const shippedProcess = (() => {
  const parsed = parseProcessConfig(PROCESS_CONFIG_FILE, readFileSync(join(root, 'k8s/base/policies/chaperone.yaml'), 'utf8'))
  if (!parsed.ok) throw new Error('k8s/base/policies/chaperone.yaml does not parse')
  return parsed.config
})()

t.test('Dockerfile', async (t) => {
  const all = instructions(readFileSync(join(root, 'Dockerfile'), 'utf8'))
  const byStage = stages(all)
  const build = byStage.slice(0, -1)
  const runtime = byStage.at(-1)!

  t.ok(byStage.length >= 2, 'multi-stage: the toolchain stays out of the runtime image')
  for (const s of byStage) t.match(s[0]!.args, /^node:24(\.\d+)*-[a-z]+-slim(@sha256:[0-9a-f]{64})?(\s+AS\s+\S+)?$/i, `FROM ${s[0]!.args}: Node 24 LTS, slim`)

  t.test('the build stage', async (t) => {
    const steps = build.flat()
    const copyNpmrc = steps.findIndex((i) => i.cmd === 'COPY' && contextSources(i).includes('.npmrc'))
    const npmCi = steps.findIndex((i) => i.cmd === 'RUN' && /\bnpm ci\b/.test(i.args))
    t.ok(copyNpmrc >= 0, 'copies .npmrc')
    t.ok(npmCi > copyNpmrc, 'before npm ci, which must see it')
    t.ok(steps.some((i) => i.cmd === 'RUN' && /apt-get install\b.*\bpython3\b/.test(i.args) && /\bmake\b/.test(i.args) && /\bg\+\+/.test(i.args)), 'python3, make and g++ for re2')
    t.ok(steps.some((i) => i.cmd === 'RUN' && /\bnpm run build\b/.test(i.args)), 'npm run build')
    t.ok(steps.some((i) => i.cmd === 'RUN' && /\bnpm prune --omit=dev\b/.test(i.args)), 'npm prune --omit=dev')
  })

  t.test('the runtime stage', async (t) => {
    const user = last(runtime, 'USER')?.args ?? ''
    t.ok(user, 'sets a USER')
    for (const part of user.split(':')) t.notOk(['', '0', 'root'].includes(part), `USER ${user} is not root`)
    t.equal(user, '10001:10001', 'the uid/gid the manifests run as')

    t.same(jsonArgs(last(runtime, 'ENTRYPOINT')), ['/usr/bin/tini', '--', 'node', 'dist/cli.js'], 'tini is PID 1')
    t.ok(runtime.some((i) => i.cmd === 'RUN' && /apt-get install\b.*\btini\b/.test(i.args)), 'tini comes from apt')
    t.same(jsonArgs(last(runtime, 'CMD')), ['serve', '--config', '/etc/chaperone'])
    const patch = parse(readFileSync(join(root, 'k8s/overlays/sidecar/sidecar-patch.yaml'), 'utf8')) as {
      spec: { template: { spec: { containers: { name: string; volumeMounts: { name: string; mountPath: string }[] }[] } } }
    }
    const sidecar = patch.spec.template.spec.containers.find((c) => c.name === 'chaperone')
    t.equal(sidecar?.volumeMounts.find((m) => m.name === 'chaperone-config')?.mountPath, '/etc/chaperone', "CMD's directory is where the manifests mount the ConfigMap")

    const health = last(runtime, 'HEALTHCHECK')?.args ?? ''
    t.match(health, /\bCMD\b/, 'has a HEALTHCHECK')
    t.notMatch(health, /\bcurl\b|\bwget\b/, 'without curl or wget, which slim images lack')
    const adminPort = splitHostPort(shippedProcess.admin.listen)!.port
    t.match(health, new RegExp(`\\bnode\\b.*http://127\\.0\\.0\\.1:${adminPort}/healthz`), 'node fetches /healthz on the admin port')

    const exposed = runtime.filter((i) => i.cmd === 'EXPOSE').flatMap((i) => i.args.split(/\s+/))
    t.same(exposed.sort(), [String(splitHostPort(shippedProcess.listen)!.port), String(adminPort)].sort(), 'EXPOSE: the proxy and admin ports')
    t.ok(runtime.some((i) => i.cmd === 'ENV' && /\bNODE_ENV=production\b/.test(i.args)), 'NODE_ENV=production')

    t.notOk(runtime.some((i) => i.cmd === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.args)), 'no npm install in the runtime stage')
    const copied = runtime.filter((i) => i.cmd === 'COPY').map((i) => i.args.split(/\s+/).filter((w) => !w.startsWith('--'))[0])
    t.same(copied.sort(), ['/app/dist', '/app/node_modules', '/app/package.json', 'config', 'models'].sort(), 'only dist, production node_modules, package.json, config and the shipped models')
  })
})

t.test('.dockerignore keeps the context small and never drops what the Dockerfile copies', async (t) => {
  const patterns = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !l.startsWith('!'))
  for (const p of ['node_modules', 'dist', 'test', 'bench', '.git']) t.ok(patterns.includes(p), `ignores ${p}`)
  const glob = (p: string) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}(/.*)?$`)
  const sources = stages(instructions(readFileSync(join(root, 'Dockerfile'), 'utf8')))
    .flat()
    .filter((i) => i.cmd === 'COPY')
    .flatMap(contextSources)
  t.ok(sources.length > 0)
  for (const s of sources) {
    t.ok(existsSync(join(root, s)), `${s} exists`)
    t.same(patterns.filter((p) => glob(p).test(s)), [], `${s} is in the build context`)
  }
})
