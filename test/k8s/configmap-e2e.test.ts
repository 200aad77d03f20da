import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { createSseParser } from '../../src/core/sse/parser.js'
import { extractDeltas } from '../../src/core/formats/openai-chat.js'
import { answerFor } from '../../src/demo/reply-text.js'
import { createKubeletVolume, updateKubeletVolume, type Payload } from '../helpers/kubelet.js'
import { startStack } from '../helpers/chaperone.js'

/**
 * The ConfigMap path of a Kubernetes install, end to end on one machine: the shipped ConfigMap
 * (k8s/base/policies) projected as kubelet projects it, the admin token read from a projected
 * Secret, the real moderation filter, and an edit arriving through kubelet's atomic writer while
 * a stream is in flight. test/reload.test.ts covers the same swap with a test-only filter
 * (per-version access-log lines, JSON bodies, metrics); this test is about what an operator
 * sees after `kubectl edit configmap`.
 */

const POLICIES = fileURLToPath(new URL('../../k8s/base/policies/', import.meta.url))
const TOKEN = 'e2e-admin-token'

// Rule A is active when the stream starts; the edit replaces it with rule B. Each masks its word
// with its own letter, so the text says which rule touched it.
const moderation = (rule: 'a' | 'b', word: string) => `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: moderation }
spec:
  moderation:
    rules:
      - name: rule-${rule}
        direction: response
        keywords: [${word}]
        action: redact
        redact: { template: "[${rule.toUpperCase()}]" }
`
const RULE_A = moderation('a', 'alpha')
const RULE_B = moderation('b', 'bravo')

// The demo chatbot repeats the prompt, so both words run through the whole answer: whatever
// part of the stream arrives after the edit still carries both.
const PROMPT = Array.from({ length: 40 }, () => 'alpha bravo').join(' ')
const chat = (paceMs: number) => ({
  method: 'POST' as const,
  headers: { 'content-type': 'application/json', 'x-demo-pace-ms': String(paceMs) },
  body: JSON.stringify({ model: 'demo', stream: true, messages: [{ role: 'user', content: PROMPT }] }),
})

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')

interface ConfigStatus {
  version: number | null
  files: { name: string; sha256: string }[]
  lastError: unknown
}

/** The stream's text as it arrives, plus how it ended. */
function collect(body: AsyncIterable<Buffer>) {
  const parser = createSseParser()
  const state = { text: '', finish: undefined as string | undefined, done: false }
  const finished = (async () => {
    for await (const chunk of body) {
      for (const ev of parser.push(chunk)) {
        if (ev.commentOnly) continue
        if (ev.data === '[DONE]') {
          state.done = true
          continue
        }
        for (const d of extractDeltas(ev) ?? []) state.text += d.text
        const finish = (JSON.parse(ev.data) as { choices?: { finish_reason?: string | null }[] }).choices?.[0]?.finish_reason
        if (finish) state.finish = finish
      }
    }
  })()
  return { state, finished }
}

async function baseFiles(): Promise<Payload> {
  const files: Payload = {}
  for (const name of await readdir(POLICIES)) files[name] = await readFile(join(POLICIES, name), 'utf8')
  return files
}

t.test('kubectl edit configmap mid-stream: new requests get the new rule, the stream in flight keeps the old one', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'chaperone-k8s-e2e-'))
  const configDir = join(root, 'etc-chaperone')
  const secretDir = join(root, 'secret')
  const shipped = await baseFiles()
  t.ok(shipped['chaperone.yaml'], 'the shipped ConfigMap has chaperone.yaml')
  await createKubeletVolume(configDir, { ...shipped, 'moderation.yaml': RULE_A })
  await createKubeletVolume(secretDir, { 'admin-token': `${TOKEN}\n` })

  const stack = await startStack({
    dir: configDir,
    paceMs: 1,
    env: {},
    // chaperone.yaml names the Secret's mount path in a pod; here the Secret is projected elsewhere.
    adjust: (c) => ({ ...c, admin: { ...c.admin, tokenFile: join(secretDir, 'admin-token') } }),
  })
  t.teardown(async () => {
    await stack.close()
    await rm(root, { recursive: true, force: true })
  })
  const { proxyUrl, adminUrl } = stack.chaperone
  const adminConfig = async (): Promise<ConfigStatus> => {
    const res = await request(`${adminUrl}/admin/config`, { headers: { authorization: `Bearer ${TOKEN}` } })
    if (res.statusCode !== 200) throw new Error(`/admin/config answered ${res.statusCode}`)
    return (await res.body.json()) as ConfigStatus
  }

  const before = await adminConfig()
  t.equal(before.version, 1)
  t.same(before.files.map((f) => f.name).sort(), Object.keys(shipped).filter((n) => n !== 'chaperone.yaml').concat('moderation.yaml').sort(), 'the policies of the shipped ConfigMap and the edit load')

  const inFlight = await request(`${proxyUrl}/v1/chat/completions`, chat(40))
  t.equal(inFlight.statusCode, 200)
  const first = collect(inFlight.body)

  t.equal(await updateKubeletVolume(configDir, { ...shipped, 'moderation.yaml': RULE_B }), true, 'kubelet projects the edited ConfigMap')
  let status = before
  const deadline = Date.now() + 10_000
  while (status.version !== 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20))
    status = await adminConfig()
  }
  t.equal(status.version, 2, '/admin/config shows the new version')
  t.equal(status.lastError, null)
  t.equal(status.files.find((f) => f.name === 'moderation.yaml')?.sha256, sha256(RULE_B), 'and the edited file')
  const seenBeforeSwap = first.state.text
  t.notOk(first.state.done, 'the first stream is still in flight when the new version is active')

  const fresh = await request(`${proxyUrl}/v1/chat/completions`, chat(0))
  const second = collect(fresh.body)
  await second.finished
  t.equal(second.state.text, answerFor(PROMPT).replaceAll('bravo', '[B]'), 'a new request is moderated by rule B alone')

  await first.finished
  t.equal(first.state.text, answerFor(PROMPT).replaceAll('alpha', '[A]'), 'the stream in flight is moderated by rule A to its end')
  const afterSwap = first.state.text.slice(seenBeforeSwap.length)
  t.match(afterSwap, /\[A\].*bravo/, 'including text that arrived after the swap: rule A still masks, rule B does not')
  t.equal(first.state.finish, 'stop', 'the stream ends normally')
  t.ok(first.state.done, 'with data: [DONE]')
})

t.test("the base's placeholder Secret (an empty admin-token) keeps /admin/* closed; probes stay open", async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'chaperone-k8s-token-'))
  const configDir = join(root, 'etc-chaperone')
  const secretDir = join(root, 'secret')
  await createKubeletVolume(configDir, await baseFiles())
  await createKubeletVolume(secretDir, { 'admin-token': '' })
  const stack = await startStack({ dir: configDir, env: {}, adjust: (c) => ({ ...c, admin: { ...c.admin, tokenFile: join(secretDir, 'admin-token') } }) })
  t.teardown(async () => {
    await stack.close()
    await rm(root, { recursive: true, force: true })
  })
  const { adminUrl } = stack.chaperone
  for (const authorization of ['Bearer ', 'Bearer change-me']) {
    const res = await request(`${adminUrl}/admin/config`, { headers: { authorization } })
    t.equal(res.statusCode, 401, authorization)
    await res.body.dump()
  }
  for (const probe of ['/healthz', '/readyz']) {
    const res = await request(`${adminUrl}${probe}`)
    t.equal(res.statusCode, 200, probe)
    await res.body.dump()
  }
})
