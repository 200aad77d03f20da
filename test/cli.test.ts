import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { startDemoChatbot } from '../src/demo/chatbot.js'
import { tmpConfigDir, PASS_THROUGH_POLICY } from './helpers/chaperone.js'
import { eventually } from './helpers/eventually.js'

// These run the built CLI (npm test builds first) as a real process, so signals are real.
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    p.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Starts `chaperone serve` and resolves with its URLs once its log says it is listening. */
async function serve(dir: string, upstream: string): Promise<{ child: ChildProcess; proxy: string; admin: string; exited: Promise<number | null>; lines: AsyncIterableIterator<string> }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--config', dir, '--listen', '127.0.0.1:0', '--upstream', upstream], {
    env: { ...process.env, CHAPERONE_ADMIN: '127.0.0.1:0', CHAPERONE_ADMIN_TOKEN: 'x' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  for (let r = await lines.next(); !r.done; r = await lines.next()) {
    const l = JSON.parse(r.value) as { msg?: string; proxy?: string; admin?: string }
    if (l.msg === 'chaperone listening') return { child, proxy: l.proxy!, admin: l.admin!, exited, lines }
  }
  throw new Error('chaperone exited before listening')
}

t.test('--help on every command', async (t) => {
  for (const args of [['--help'], ['serve', '--help'], ['validate', '--help'], ['demo', '--help'], ['check', '--help'], ['schema', '--help']]) {
    const r = await run(args)
    t.equal(r.code, 0, args.join(' '))
    t.match(r.stdout, /^Usage: chaperone/, args.join(' '))
  }
  const bad = await run(['serve', '--bogus'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /bogus/)
})

t.test('validate prints file:path: message lines and exits 1 on any error', async (t) => {
  const good = await tmpConfigDir()
  const ok = await run(['validate', good])
  t.equal(ok.code, 0)
  const bad = await tmpConfigDir({
    'chaperone.yaml': 'listen: 127.0.0.1:8080\nupstrem: {}\n',
    'a.yaml': PASS_THROUGH_POLICY.replace('spec: {}', 'spec:\n  nosuchfilter: {}'),
    'b.yaml': 'apiVersion: chaperone.dev/v2\nkind: Policy\nmetadata: { name: b }\n',
  })
  const r = await run(['validate', bad])
  t.equal(r.code, 1)
  const lines = r.stdout.trim().split('\n')
  t.ok(lines.some((l) => l.startsWith('chaperone.yaml:upstrem: ')), r.stdout)
  t.ok(lines.some((l) => l.startsWith('a.yaml:spec.nosuchfilter: ')), r.stdout)
  t.ok(lines.some((l) => l.startsWith('b.yaml:apiVersion: ')), r.stdout)
  // Same directory through the environment variable.
  const viaEnv = await run(['validate'], { CHAPERONE_CONFIG: bad })
  t.equal(viaEnv.code, 1)
})

t.test('schema prints the policy JSON Schema', async (t) => {
  const r = await run(['schema'])
  t.equal(r.code, 0)
  const s = JSON.parse(r.stdout) as { properties: Record<string, unknown> }
  t.ok(s.properties.apiVersion && s.properties.spec)
})

t.test('SIGTERM: stop accepting, let in-flight streams finish, exit 0', async (t) => {
  const bot = await startDemoChatbot({ paceMs: 25 })
  t.teardown(() => bot.close())
  const dir = await tmpConfigDir()
  const { child, proxy, exited } = await serve(dir, bot.url)
  t.teardown(() => void child.kill('SIGKILL'))

  const res = await request(`${proxy}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-demo-deltas': '30' },
    body: JSON.stringify({ model: 'demo', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  })
  const chunks: Buffer[] = []
  const it = res.body[Symbol.asyncIterator]()
  chunks.push((await it.next()).value as Buffer)
  child.kill('SIGTERM')
  for (let r = await it.next(); !r.done; r = await it.next()) chunks.push(r.value as Buffer)
  const text = Buffer.concat(chunks).toString()
  t.match(text, /data: \[DONE\]\n\n$/, 'the in-flight stream finished')
  t.equal((text.match(/"content":"[^"]+"/g) ?? []).length, 30, 'with every delta')
  await t.rejects(request(`${proxy}/v1/models`), { code: 'ECONNREFUSED' }, 'new connections are refused while draining')
  t.equal(await exited, 0)
})

t.test('SIGTERM: a stream longer than the drain timeout is cut and the process still exits 0', async (t) => {
  const bot = await startDemoChatbot({ paceMs: 100 })
  t.teardown(() => bot.close())
  const dir = await tmpConfigDir({ 'chaperone.yaml': 'limits: { drainTimeoutMs: 300 }\n', 'policy.yaml': PASS_THROUGH_POLICY })
  const { child, proxy, exited } = await serve(dir, bot.url)
  t.teardown(() => void child.kill('SIGKILL'))
  const res = await request(`${proxy}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-demo-deltas': '1000' },
    body: JSON.stringify({ model: 'demo', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  })
  const it = res.body[Symbol.asyncIterator]()
  await it.next()
  child.kill('SIGTERM')
  await t.rejects((async () => { for (let r = await it.next(); !r.done; r = await it.next()); })(), 'the stream is cut at the drain timeout')
  t.equal(await exited, 0)
  await eventually(() => bot.stats().streamsAborted > 0)
  t.equal(bot.stats().streamsAborted, 1, 'the upstream stream was aborted too')
})

t.test('SIGHUP reloads the policies', async (t) => {
  const bot = await startDemoChatbot({ paceMs: 1 })
  t.teardown(() => bot.close())
  const dir = await tmpConfigDir({ 'chaperone.yaml': 'telemetry: { logLevel: debug }\nreload: { hashCheckIntervalMs: 0 }\n', 'policy.yaml': PASS_THROUGH_POLICY })
  const { child, lines, exited } = await serve(dir, bot.url)
  t.teardown(() => void child.kill('SIGKILL'))
  child.kill('SIGHUP')
  for await (const line of lines) {
    const l = JSON.parse(line) as { reason?: string; msg?: string }
    if (l.reason === 'SIGHUP') {
      t.equal(l.msg, 'policy unchanged', 'a SIGHUP reload ran and found the same policy')
      break
    }
  }
  child.kill('SIGTERM')
  t.equal(await exited, 0)
})
