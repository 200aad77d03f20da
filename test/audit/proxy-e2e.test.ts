import { existsSync, readFileSync } from 'node:fs'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startStack, tmpConfigDir } from '../helpers/chaperone.js'
import { hmacToken } from '../helpers/jwt.js'
import { ed25519Files } from '../helpers/audit.js'
import { runAuditCommand } from '../../src/io/audit/cli-commands.js'

// The audit log wired into the proxy: every decision that matters becomes a chained record,
// without the subject or the matched text in the clear; verify and query read the result.

const SECRET = 'audit-e2e-hmac-secret-0123456789abcdef'

const policy = `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: audited }
spec:
  identity:
    jwt:
      issuers:
        - issuer: https://idp.test
          audiences: [chatbot]
          algorithms: [HS256]
          hmacSecretFile: hmac.secret
  roles:
    user: {}
  access:
    - name: users
      allow: { roles: [user] }
  rateLimits:
    - name: per-user
      key: [subject]
      rate: 2/minute
      burst: 2
      match: { paths: [/v1/chat/completions] }
  moderation:
    rules:
      - { name: no-secrets, direction: response, keywords: [forbiddenword], action: block }
      - { name: contact, direction: response, pii: [email, credit_card], action: redact }
`

function chaperoneYaml(dir: string, keys: { privateKey: string }, extra = ''): string {
  return `audit:
  enabled: true
  writer: pod-e2e
  file: { dir: ${JSON.stringify(path.join(dir, 'audit'))}, fsyncMs: 0 }
  pseudonyms: { keyFile: ${JSON.stringify(path.join(dir, 'pseudonym.key'))} }
  checkpoints: { everyRecords: 3, privateKeyFile: ${JSON.stringify(keys.privateKey)}, copy: { to: file, file: ${JSON.stringify(path.join(dir, 'checkpoints.jsonl'))} } }
${extra}`
}

async function chat(url: string, token: string | undefined, content: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content }] }),
  })
  return { status: res.status, text: await res.text() }
}

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await runAuditCommand(argv, { stdout: { write: (s: string) => ((out += s), true) }, stderr: { write: (s: string) => ((err += s), true) } })
  return { code, out, err }
}

async function auditFiles(dir: string): Promise<string[]> {
  const d = path.join(dir, 'audit', 'pod-e2e')
  return (await fs.readdir(d)).filter((f) => f.endsWith('.jsonl')).sort().map((f) => path.join(d, f))
}

t.test('decisions through the proxy are audited, chained, signed, and free of PII', async (t) => {
  const keyDir = await tmpConfigDir({})
  const keys = await ed25519Files(keyDir)
  const dir = await tmpConfigDir({})
  await fs.writeFile(path.join(dir, 'pseudonym.key'), 'a-pseudonym-key-of-at-least-32-bytes-for-tests\n')
  const files = { 'chaperone.yaml': chaperoneYaml(dir, keys), 'policy.yaml': policy, 'hmac.secret': SECRET }
  for (const [n, c] of Object.entries(files)) await fs.writeFile(path.join(dir, n), c)
  const stack = await startStack({ dir })
  let stopped = false
  t.teardown(async () => {
    if (!stopped) await stack.close()
  })

  const alice = 'alice@example.org'
  const token = await hmacToken(SECRET, 'https://idp.test', alice, { roles: ['user'] })
  const email = 'bob.secret@example.com'
  const card = '4111 1111 1111 1111'

  const denied = await chat(stack.chaperone.proxyUrl, undefined, 'hello')
  t.equal(denied.status, 401, 'no token: denied')
  const redacted = await chat(stack.chaperone.proxyUrl, token, `write to ${email} with card ${card}`)
  t.equal(redacted.status, 200)
  t.notMatch(redacted.text, new RegExp(email.replace('.', '\\.')), 'the answer was redacted')
  const blocked = await chat(stack.chaperone.proxyUrl, token, 'say forbiddenword')
  t.equal(blocked.status, 200)
  const limited = await chat(stack.chaperone.proxyUrl, token, 'again')
  t.equal(limited.status, 429, 'the third request of the minute is refused')

  // A bad edit: the reload is refused and recorded.
  await fs.writeFile(path.join(dir, 'policy.yaml'), 'apiVersion: chaperone.dev/v1\nkind: Policy\nmetadata: { name: x }\nspec: { nope: 1 }\n')
  t.equal((await stack.chaperone.reload('test')).outcome, 'error')

  const stats = (await (await fetch(`${stack.chaperone.adminUrl}/admin/audit`, { headers: { authorization: 'Bearer test-token' } })).json()) as { writer: string; accepting: boolean }
  t.match(stats, { writer: 'pod-e2e', accepting: true })
  const metrics = await (await fetch(`${stack.chaperone.adminUrl}/metrics`)).text()
  t.match(metrics, /chaperone_decisions_total\{filter="moderation",rule="contact",action="redact",region="",shadow="false"\} 2/)
  t.match(metrics, /chaperone_decisions_total\{filter="ratelimit",rule="per-user",action="refuse",region="",shadow="false"\} 1/)
  t.match(metrics, /chaperone_audit_queue_depth \d/)
  t.match(metrics, /chaperone_audit_lost_records_total\{reason="queue_full"\} 0/)
  t.match(metrics, /chaperone_time_to_first_byte_seconds_count\{route="\/v1\/chat\/completions"\} [1-9]/)
  t.match(metrics, /chaperone_event_latency_seconds_count [1-9]/)
  const forget = await fetch(`${stack.chaperone.adminUrl}/admin/audit/forget`, { method: 'POST', headers: { authorization: 'Bearer test-token' }, body: JSON.stringify({ subject: alice }) })
  t.equal(forget.status, 409, 'global pseudonyms cannot be forgotten one subject at a time')

  await stack.close() // drains the audit queue
  stopped = true

  const logFiles = await auditFiles(dir)
  const text = (await Promise.all(logFiles.map((f) => fs.readFile(f, 'utf8')))).join('')
  const records = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  const decisions = records.filter((r) => r.kind === 'decision')
  t.match(decisions, [
    { filter: 'authz', action: 'deny', rule: '(default)', route: '/v1/chat/completions' },
    { filter: 'moderation', action: 'redact', rule: 'contact' },
    { filter: 'moderation', action: 'redact', rule: 'contact' },
    { filter: 'moderation', action: 'block', rule: 'no-secrets' },
    { filter: 'ratelimit', action: 'refuse', rule: 'per-user' },
  ])
  const redact = decisions.find((d) => d.action === 'redact') as { subject: string; spans: { length: number; hash: string }[]; policyVersion: string }
  t.match(redact.subject, /^[0-9a-f]{16,}$/, 'the subject is a pseudonym')
  t.equal(redact.spans.length, 1)
  t.match(redact.spans[0], { length: Number, hash: /^[0-9a-f]{16,}$/ })
  t.match(records.filter((r) => r.kind === 'reload'), [{ outcome: 'success' }, { outcome: 'error', errors: 1 }])
  for (const secret of [alice, email, card, card.replace(/ /g, ''), 'bob.secret', 'forbiddenword']) {
    t.notOk(text.includes(secret), `the audit log never holds ${JSON.stringify(secret)} in clear`)
  }

  const verify = await cli(['verify', ...logFiles, '--public-key', keys.publicKey, '--checkpoints', path.join(dir, 'checkpoints.jsonl')])
  t.equal(verify.code, 0, `verify passes: ${verify.out}${verify.err}`)
  const query = await cli(['query', ...logFiles, '--kind', 'decision', '--action', 'redact', '--group-by', 'rule', '--json'])
  t.equal(query.code, 0)
  t.match(query.out, /contact/)

  // Tampering with one record of the real log is found and located.
  const first = logFiles[0]!
  const lines = readFileSync(first, 'utf8').split('\n')
  const i = lines.findIndex((l) => l.includes('"action":"block"'))
  lines[i] = lines[i]!.replace('"action":"block"', '"action":"flag"')
  await fs.writeFile(first, lines.join('\n'))
  const tampered = await cli(['verify', ...logFiles, '--public-key', keys.publicKey])
  t.equal(tampered.code, 1)
  t.match(tampered.out + tampered.err, new RegExp(`${path.basename(first)}:${i + 1}`), 'the edited line is named')
})

t.test('audit-required routes are refused while the log cannot keep records (onFailure: block)', async (t) => {
  const keyDir = await tmpConfigDir({})
  const keys = await ed25519Files(keyDir)
  const dir = await tmpConfigDir({})
  await fs.writeFile(path.join(dir, 'pseudonym.key'), 'a-pseudonym-key-of-at-least-32-bytes-for-tests\n')
  // The first log file is the full device: every write fails with ENOSPC.
  await fs.mkdir(path.join(dir, 'audit', 'pod-e2e'), { recursive: true })
  await fs.symlink('/dev/full', path.join(dir, 'audit', 'pod-e2e', 'audit-000001.jsonl'))
  await fs.writeFile(path.join(dir, 'chaperone.yaml'), chaperoneYaml(dir, keys, '  onFailure: block\n  requiredRoutes: ["/v1/chat/*"]\n'))
  await fs.writeFile(path.join(dir, 'policy.yaml'), 'apiVersion: chaperone.dev/v1\nkind: Policy\nmetadata: { name: p }\nspec: {}\n')
  const stack = await startStack({ dir, env: { CHAPERONE_ADMIN_TOKEN: 'test-token' } })
  t.teardown(() => stack.close())
  let refused: { status: number; text: string } | undefined
  for (let i = 0; i < 100 && refused?.status !== 503; i++) {
    refused = await chat(stack.chaperone.proxyUrl, undefined, 'hi')
    if (refused.status !== 503) await new Promise((r) => setTimeout(r, 20))
  }
  t.equal(refused?.status, 503)
  t.match(refused?.text, /"code":"audit_unavailable"/)
  const other = await fetch(`${stack.chaperone.proxyUrl}/v1/models`)
  t.not(other.status, 503, 'routes not marked audit-required are served')
  const metrics = await (await fetch(`${stack.chaperone.adminUrl}/metrics`)).text()
  t.match(metrics, /chaperone_audit_accepting 0/)
  t.match(metrics, /chaperone_audit_sink_errors_total [1-9]/)
})

t.test('the PII benchmark text through moderation leaves no original value in the audit log', { skip: existsSync(path.resolve('..', 'shared', 'datasets', 'presidio-synth', 'synth_dataset_v2.json')) ? false : 'presidio-synth is not here (../shared/datasets)' }, async (t) => {
  const data = JSON.parse(readFileSync(path.resolve('..', 'shared', 'datasets', 'presidio-synth', 'synth_dataset_v2.json'), 'utf8')) as { full_text: string; spans: { entity_type: string; entity_value: string }[] }[]
  const wanted = new Set(['EMAIL_ADDRESS', 'CREDIT_CARD', 'PHONE_NUMBER', 'IBAN_CODE', 'US_SSN', 'IP_ADDRESS'])
  const samples = data.filter((d) => d.spans.some((s) => wanted.has(s.entity_type))).slice(0, 150)
  const keyDir = await tmpConfigDir({})
  const keys = await ed25519Files(keyDir)
  const dir = await tmpConfigDir({})
  await fs.writeFile(path.join(dir, 'pseudonym.key'), 'a-pseudonym-key-of-at-least-32-bytes-for-tests\n')
  await fs.writeFile(path.join(dir, 'chaperone.yaml'), chaperoneYaml(dir, keys))
  await fs.writeFile(
    path.join(dir, 'policy.yaml'),
    'apiVersion: chaperone.dev/v1\nkind: Policy\nmetadata: { name: pii }\nspec:\n  moderation:\n    rules:\n      - { name: pii, pii: [email, phone, credit_card, iban, us_ssn, ipv4, ipv6], action: redact }\n',
  )
  const stack = await startStack({ dir, env: { CHAPERONE_ADMIN_TOKEN: 'test-token' } })
  for (const s of samples) await chat(stack.chaperone.proxyUrl, undefined, s.full_text)
  await stack.close()
  const text = (await Promise.all((await auditFiles(dir)).map((f) => fs.readFile(f, 'utf8')))).join('')
  t.ok((text.match(/"action":"redact"/g) ?? []).length > 50, 'the sentences were redacted and audited')
  const values = samples.flatMap((s) => s.spans.filter((x) => wanted.has(x.entity_type) && x.entity_value.length >= 6).map((x) => x.entity_value))
  const leaked = values.filter((v) => text.includes(v))
  t.same(leaked, [], `none of ${values.length} original values appears in the audit log`)
})
