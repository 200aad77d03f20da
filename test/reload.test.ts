import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { request } from 'undici'
import { createSseParser } from '../src/core/sse/parser.js'
import { extractDeltas, rebuildEvent } from '../src/core/formats/openai-chat.js'
import type { FilterFactory } from '../src/core/chain/types.js'
import { createKubeletVolume, updateKubeletVolume } from './helpers/kubelet.js'
import { startStack } from './helpers/chaperone.js'
import { eventually } from './helpers/eventually.js'

/**
 * A filter that exists only in this test: it tags every streamed content delta, every JSON
 * completion and a response header with a value from the policy. It drives the real chain,
 * the real SSE/JSON body pipeline and the real reload path.
 */
const tagFactory: FilterFactory<{ value: string }> = {
  name: 'tag',
  schema: z.strictObject({ value: z.string() }),
  compile: ({ value }) => ({
    name: 'tag',
    onResponseHead: (_ctx, head) => {
      head.headers['x-tag'] = value
      return { kind: 'continue' }
    },
    responseTransform: () => ({
      transform(unit, emit) {
        if (unit.kind === 'json') {
          const body = unit.body as { choices?: { message?: { content?: string } }[] }
          const m = body.choices?.[0]?.message
          if (m?.content !== undefined) m.content = `${m.content} [${value}]`
          return emit(unit)
        }
        if (unit.kind !== 'sse') return emit(unit)
        const deltas = extractDeltas(unit.event)
        if (!deltas?.length) return emit(unit)
        emit({ kind: 'sse', event: rebuildEvent(unit.event, deltas.map((d) => ({ ...d, text: `${d.text}[${value}]` }))) })
      },
      flush() {},
    }),
  }),
}

const policy = (value: unknown) => `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: tagged }
spec:
  tag:
    value: ${JSON.stringify(value)}
`

const chatBody = (stream: boolean) => JSON.stringify({ model: 'demo', stream, messages: [{ role: 'user', content: 'hello' }] })

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  if (!(await eventually(cond))) throw new Error(`timed out waiting for ${what}`)
}

async function streamedDeltas(body: AsyncIterable<Buffer>): Promise<string[]> {
  const parser = createSseParser()
  const out: string[] = []
  for await (const chunk of body) for (const ev of parser.push(chunk)) for (const d of extractDeltas(ev) ?? []) out.push(d.text)
  return out
}

t.test('kubelet swap: a reload applies to new requests while an in-flight stream keeps its snapshot', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'chaperone-kube-'))
  await createKubeletVolume(dir, { 'policy.yaml': policy('one') })
  const stack = await startStack({ dir, factories: [tagFactory], paceMs: 40 })
  t.teardown(async () => {
    await stack.close()
    await rm(dir, { recursive: true, force: true })
  })
  const base = stack.chaperone.proxyUrl
  t.equal(stack.chaperone.store.current()?.version, 1)

  const first = await request(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-demo-deltas': '15' },
    body: chatBody(true),
  })
  t.equal(first.headers['x-tag'], 'one')
  const firstDeltas = streamedDeltas(first.body)

  await updateKubeletVolume(dir, { 'policy.yaml': policy('two') })
  await waitFor(() => stack.chaperone.store.current()?.version === 2, 'the kubelet swap to load')

  const second = await request(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody(false) })
  t.equal(second.headers['x-tag'], 'two')
  const json = (await second.body.json()) as { choices: { message: { content: string } }[] }
  t.match(json.choices[0]!.message.content, / \[two\]$/, 'the JSON body went through the new policy')
  t.equal(second.headers['content-length'], String(Buffer.byteLength(JSON.stringify(json))), 'content-length matches the rewritten body')

  const deltas = await firstDeltas
  t.equal(deltas.length, 15)
  t.ok(deltas.every((d) => d.endsWith('[one]')), 'every delta of the stream started before the reload used the old policy')

  const log = stack.logs.lines.filter((l) => l.msg === 'request')
  t.same(log.map((l) => l.policyVersion), [2, 1], 'access log lines carry the version each request ran under')
})

t.test('in-place edits reload; an invalid change keeps the last good snapshot and is reported', async (t) => {
  const stack = await startStack({ files: { 'policy.yaml': policy('one') }, factories: [tagFactory] })
  t.teardown(() => stack.close())
  const { proxyUrl, adminUrl } = stack.chaperone
  const auth = { authorization: 'Bearer test-token' }

  await writeFile(join(stack.dir, 'policy.yaml'), policy('two'))
  await waitFor(() => stack.chaperone.store.current()?.version === 2, 'the in-place edit to load')

  await writeFile(join(stack.dir, 'policy.yaml'), policy(5))
  await waitFor(() => stack.chaperone.store.lastError !== undefined, 'the bad edit to be reported')
  t.equal(stack.chaperone.store.current()?.version, 2, 'the last good snapshot stays active')
  const res = await request(`${proxyUrl}/v1/models`)
  t.equal(res.headers['x-tag'], 'two', 'and keeps serving')
  await res.body.dump()

  const status = (await (await request(`${adminUrl}/admin/config`, { headers: auth })).body.json()) as {
    version: number
    digest: string
    lastError: { errors: string[] } | null
    files: { name: string }[]
  }
  t.equal(status.version, 2)
  t.match(status.digest, /^[0-9a-f]{64}$/)
  t.same(status.files.map((f) => f.name), ['policy.yaml'])
  t.match(status.lastError?.errors[0], /^policy\.yaml:spec\.tag\.value: /, 'the error names file:path')
  t.match(stack.logs.text(), /policy\.yaml:spec\.tag\.value/, 'and is logged')

  const metrics = await (await request(`${adminUrl}/metrics`)).body.text()
  t.match(metrics, /chaperone_config_reloads_total\{outcome="error"\} [1-9]/)
  t.match(metrics, /chaperone_config_reloads_total\{outcome="success"\} 2/)
  t.match(metrics, /chaperone_config_last_reload_successful 0/)
  t.match(metrics, /chaperone_policy_info\{version="2",digest="[0-9a-f]{64}"\} 1/)

  // Fixing the file clears the error.
  await writeFile(join(stack.dir, 'policy.yaml'), policy('three'))
  await waitFor(() => stack.chaperone.store.current()?.version === 3, 'the fix to load')
  t.equal(stack.chaperone.store.lastError, undefined)
})

t.test('admin API: probes and metrics are open, /admin/* needs the bearer token', async (t) => {
  const stack = await startStack()
  t.teardown(() => stack.close())
  const { adminUrl, proxyUrl } = stack.chaperone

  t.equal((await request(`${adminUrl}/healthz`)).statusCode, 200)
  t.equal((await request(`${adminUrl}/readyz`)).statusCode, 200)

  await (await request(`${proxyUrl}/v1/models`)).body.dump()
  const metrics = await (await request(`${adminUrl}/metrics`)).body.text()
  t.match(metrics, /chaperone_requests_total\{route="\/v1\/models",status="200"\} 1/)
  t.match(metrics, /chaperone_request_duration_seconds_bucket\{le="[0-9.]+",route="\/v1\/models"\}/)
  t.match(metrics, /chaperone_active_streams 0/)
  t.match(metrics, /\nprocess_cpu_seconds_total [0-9.e-]+\n/)
  t.match(metrics, /\nnodejs_eventloop_lag_p99_seconds [0-9.e-]+\n/)

  for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Basic test-token' }, { authorization: 'Bearer test-tokenX' }]) {
    const res = await request(`${adminUrl}/admin/config`, { headers })
    t.equal(res.statusCode, 401, JSON.stringify(headers))
    t.match(await res.body.json(), { error: { code: 'unauthorized' } })
  }
  const ok = await request(`${adminUrl}/admin/reload`, { method: 'POST', headers: { authorization: 'Bearer test-token' } })
  t.equal(ok.statusCode, 200)
  t.match(await ok.body.json(), { outcome: 'unchanged' })
  const wrongMethod = await request(`${adminUrl}/admin/reload`, { headers: { authorization: 'Bearer test-token' } })
  t.equal(wrongMethod.statusCode, 405)
  await wrongMethod.body.dump()
  const notFound = await request(`${adminUrl}/nope`)
  t.equal(notFound.statusCode, 404)
  await notFound.body.dump()
})

t.test('without a configured token, /admin/* is closed', async (t) => {
  const stack = await startStack({ env: {} })
  t.teardown(() => stack.close())
  const res = await request(`${stack.chaperone.adminUrl}/admin/config`, { headers: { authorization: 'Bearer ' } })
  t.equal(res.statusCode, 401)
  await res.body.dump()
})

t.test('readyz is 503 and the proxy answers not_ready until a policy loads', async (t) => {
  const stack = await startStack({ files: { 'bad.yaml': 'apiVersion: chaperone.dev/v1\nkind: Nope\n' } })
  t.teardown(() => stack.close())
  t.equal((await request(`${stack.chaperone.adminUrl}/readyz`)).statusCode, 503)
  const res = await request(`${stack.chaperone.proxyUrl}/v1/models`)
  t.equal(res.statusCode, 503)
  t.match(await res.body.json(), { error: { code: 'not_ready' } })
})

t.test('the admin token can come from a file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'chaperone-token-'))
  const tokenFile = join(dir, 'token')
  await writeFile(tokenFile, 'from-file\n')
  const stack = await startStack({ env: { CHAPERONE_ADMIN_TOKEN: 'from-env' }, adjust: (c) => ({ ...c, admin: { ...c.admin, tokenFile } }) })
  t.teardown(async () => {
    await stack.close()
    await rm(dir, { recursive: true, force: true })
  })
  const { adminUrl } = stack.chaperone
  t.equal((await request(`${adminUrl}/admin/config`, { headers: { authorization: 'Bearer from-file' } })).statusCode, 200, 'the file wins')
  t.equal((await request(`${adminUrl}/admin/config`, { headers: { authorization: 'Bearer from-env' } })).statusCode, 401)
})
