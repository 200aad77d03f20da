#!/usr/bin/env node
// @ts-check
// Authz benchmark: what identity and access checks cost. In process: an uncached RS256 and ES256
// verification, a cached token, and one access decision (no signature work) over a realistic rule
// set with CEL conditions. End to end, in interleaved rounds on one machine: direct to the demo
// chatbot, through Chaperone as a pass-through, and through Chaperone with authz on and a cached
// token, so the added latency is read as a difference within one run. Writes its section of
// bench/RESULTS.md (between the authz markers) and bench/results-authz.json.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SignJWT, exportJWK, generateKeyPair, createLocalJWKSet } from 'jose'
import { percentile } from './lib/stats.js'
import { stopAll } from './lib/procs.js'
import { pairedEndToEnd } from './lib/paired.js'
import { writeSection } from './lib/sections.js'
import { startUpstream } from './lib/targets.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const log = (/** @type {string} */ line) => process.stdout.write(`${line}\n`)
const hr = process.hrtime.bigint
const ISSUER = 'https://auth.bench/'

const quick = process.argv.includes('--quick')
const o = { rounds: quick ? 2 : 5, requestsPerRound: quick ? 500 : 2000, verifications: quick ? 300 : 2000, decisions: quick ? 20_000 : 200_000 }

const dist = (/** @type {string} */ p) => import(join(root, 'dist', p))

async function main() {
  const tmp = mkdtempSync(join(os.tmpdir(), 'chaperone-authzbench-'))
  try {
    const keys = { rs: await keyPair('RS256'), es: await keyPair('ES256') }
    log('authz 1/3 signature verification (in process, uncached)')
    const verify = { RS256: await verifyCost(keys.rs, 'RS256'), ES256: await verifyCost(keys.es, 'ES256') }
    for (const [alg, r] of Object.entries(verify)) log(`  ${alg} p50 ${r.p50Us.toFixed(1)} µs, p99 ${r.p99Us.toFixed(1)} µs`)
    log('authz 2/3 cached token and access decision (in process)')
    const cached = await cachedCost(keys.rs)
    log(`  cached token p50 ${cached.p50Us.toFixed(2)} µs, p99 ${cached.p99Us.toFixed(2)} µs`)
    const decision = await decisionCost()
    log(`  decision p50 ${decision.p50Us.toFixed(2)} µs, p99 ${decision.p99Us.toFixed(2)} µs (${decision.rules} rules, ${decision.conditions} with CEL)`)
    const filter = await filterCost(keys.rs)
    log(`  whole filter (cached token, decision, identity headers) p50 ${filter.p50Us.toFixed(2)} µs, p99 ${filter.p99Us.toFixed(2)} µs`)
    log('authz 3/3 end to end, interleaved')
    const e2e = await endToEnd(keys.rs, tmp)
    const run = { date: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'), options: o, verify, cached, decision, filter, e2e }
    writeFileSync(join(root, 'bench', 'results-authz.json'), JSON.stringify(run, null, 2) + '\n')
    const file = join(root, 'bench', 'RESULTS.md')
    writeSection(file, 'authz', render(run))
    log(`\nwrote the authz section of ${file} and results-authz.json`)
  } finally {
    await stopAll()
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** @param {'RS256' | 'ES256'} alg */
async function keyPair(alg) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = { ...(await exportJWK(publicKey)), kid: `${alg}-1`, alg, use: 'sig' }
  return { alg, privateKey, jwks: { keys: [jwk] }, kid: jwk.kid }
}

/** @param {{ alg: string, privateKey: CryptoKey, kid: string }} k @param {string} [sub] */
function token(k, sub = 'user-1') {
  return new SignJWT({ roles: ['analyst'], tier: 'gold', region: 'eu' })
    .setProtectedHeader({ alg: k.alg, kid: k.kid, typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience('chatbot')
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(k.privateKey)
}

const CLAIMS = { subject: 'sub', roles: 'roles', tenant: 'tenant', region: 'region', tier: 'tier' }

/** Distinct tokens, so nothing can be cached anywhere. @param {any} k @param {string} alg */
async function verifyCost(k, alg) {
  const { verifyToken } = await dist('core/filters/authz/verify.js')
  const issuers = new Map([[ISSUER, { issuer: ISSUER, audiences: ['chatbot'], algorithms: [alg], key: createLocalJWKSet(k.jwks), claims: CLAIMS }]])
  const tokens = await Promise.all(Array.from({ length: o.verifications }, (_, i) => token(k, `user-${i}`)))
  for (const t of tokens.slice(0, 50)) await verifyToken(t, issuers, 30, Date.now())
  const us = []
  for (const t of tokens) {
    const t0 = hr()
    const r = await verifyToken(t, issuers, 30, Date.now())
    us.push(Number(hr() - t0) / 1000)
    if (!r.ok) throw new Error(`verification failed: ${r.reason}`)
  }
  return { p50Us: percentile(us, 50), p99Us: percentile(us, 99), samples: us.length }
}

/** @param {any} k */
async function cachedCost(k) {
  const { Authenticator } = await dist('core/filters/authz/authenticate.js')
  const issuers = new Map([[ISSUER, { issuer: ISSUER, audiences: ['chatbot'], algorithms: ['RS256'], key: createLocalJWKSet(k.jwks), claims: CLAIMS }]])
  const auth = new Authenticator({ clockSkewSeconds: 30, maxTokenBytes: 8192, cacheEntries: 10000 }, issuers, new Map())
  const t = await token(k)
  await auth.authenticate(t, Date.now())
  const us = []
  for (let i = 0; i < o.decisions / 10; i++) {
    const t0 = hr()
    const r = await auth.authenticate(t, Date.now())
    us.push(Number(hr() - t0) / 1000)
    if (!r.ok || !r.cached) throw new Error('expected a cache hit')
  }
  return { p50Us: percentile(us, 50), p99Us: percentile(us, 99), samples: us.length }
}

/** The decision alone: matching, role sets and CEL, on a rule set shaped like a real one. */
async function decisionCost() {
  const { compileAccessRules } = await dist('core/filters/authz/rules.js')
  const { decide } = await dist('core/filters/authz/decide.js')
  const { expandRoles } = await dist('core/filters/authz/roles.js')
  const { accessRuleSchema } = await dist('core/filters/authz/schema.js')
  const closures = expandRoles({ guest: { inherits: [] }, analyst: { inherits: ['guest'] }, 'senior-analyst': { inherits: ['analyst'] }, admin: { inherits: ['senior-analyst'] } })
  const rules = compileAccessRules(benchRules().map((r) => accessRuleSchema.parse(r)), closures)
  const activation = { principal: { subject: 'user-1', roles: ['analyst', 'guest'], tier: 'gold', region: 'eu', claims: {} }, request: { method: 'POST', path: '/v1/chat/completions', model: 'large', headers: {}, body: { model: 'large' } }, time: new Date(), source: { ip: '10.0.0.1' } }
  const q = { method: 'POST', path: '/v1/chat/completions', model: () => 'large', roles: ['analyst', 'guest'], authenticated: true, condition: (/** @type {any} */ c) => c.evaluate(activation) }
  for (let i = 0; i < 10_000; i++) decide(rules, q, 'enforce')
  const us = new Float64Array(o.decisions)
  for (let i = 0; i < o.decisions; i++) {
    const t0 = hr()
    const d = decide(rules, q, 'enforce')
    us[i] = Number(hr() - t0) / 1000
    if (!d.allow) throw new Error('expected allow')
  }
  return { p50Us: percentile(Array.from(us), 50), p99Us: percentile(Array.from(us), 99), samples: us.length, rules: rules.length, conditions: rules.filter((/** @type {any} */ r) => r.when).length }
}

/** The filter's whole onRequest as the proxy runs it, with the end-to-end policy and a cached token. @param {any} k */
async function filterCost(k) {
  const { authzFactory } = await dist('core/filters/authz/index.js')
  const { HeaderEditList } = await dist('core/http/header-edits.js')
  const { parse } = await import('yaml')
  const spec = parse(authzPolicy()).spec
  const filter = authzFactory.compile(authzFactory.schema.parse(spec), { policyFiles: { read: () => new TextEncoder().encode(JSON.stringify(k.jwks)) } })
  const auth = `Bearer ${await token(k)}`
  const quiet = { debug() {}, info() {}, warn() {}, error() {} }
  const ctx = () => ({
    id: 'r', snapshot: { version: 1, digest: 'd' }, log: quiet, state: new Map(), upstreamHeaders: new HeaderEditList(),
    request: { method: 'POST', url: '/v1/chat/completions', path: '/v1/chat/completions', query: '', rawHeaders: ['Host', 'x', 'Authorization', auth, 'Content-Type', 'application/json'], headers: {}, remoteAddress: '10.0.0.1', clientIp: '10.0.0.1', protocol: 'http' },
  })
  for (let i = 0; i < 5000; i++) await filter.onRequest(ctx())
  const us = []
  for (let i = 0; i < o.decisions / 10; i++) {
    const c = ctx()
    const t0 = hr()
    const v = await filter.onRequest(c)
    us.push(Number(hr() - t0) / 1000)
    if (v.kind !== 'continue') throw new Error(`expected continue, got ${JSON.stringify(v)}`)
  }
  return { p50Us: percentile(us, 50), p99Us: percentile(us, 99), samples: us.length }
}

function benchRules() {
  return [
    { name: 'health', match: { paths: ['/healthz'], methods: ['GET'] }, allow: { anyone: true } },
    { name: 'models', match: { paths: ['/v1/models', '/v1/models/*'], methods: ['GET'] }, allow: { roles: ['guest'] } },
    { name: 'chat', match: { paths: ['/v1/chat/completions', '/v1/responses'], methods: ['POST'] }, allow: { roles: ['guest'] } },
    { name: 'embeddings', match: { paths: ['/v1/embeddings'], methods: ['POST'] }, allow: { roles: ['analyst'] } },
    { name: 'admin', match: { paths: ['/admin/**'] }, allow: { roles: ['admin'] } },
    { name: 'big-model', match: { paths: ['/v1/chat/completions'] }, deny: { roles: ['guest'] }, when: 'request.model == "huge" && !("senior-analyst" in principal.roles)' },
    { name: 'eu-only-at-night', match: { paths: ['/v1/**'] }, deny: { roles: ['guest'] }, when: 'has(principal.region) && principal.region == "us" && time.getHours("UTC") < 6' },
    { name: 'free-tier', match: { paths: ['/v1/chat/completions'], models: ['gpt-4*'] }, deny: { roles: ['guest'] }, when: '!has(principal.tier) || principal.tier == "free"' },
    { name: 'blocked-ips', match: { paths: ['/**'] }, deny: { anyone: true }, when: 'source.ip.startsWith("192.0.2.")' },
    { name: 'no-delete', match: { methods: ['DELETE'] }, deny: { roles: ['guest'] } },
  ]
}

/** @param {any} k @param {string} tmp */
async function endToEnd(k, tmp) {
  const upstream = await startUpstream(root, tmp)
  return pairedEndToEnd({
    bin: join(root, 'dist', 'cli.js'),
    tmp,
    upstream,
    name: 'authz',
    files: { 'authz.yaml': authzPolicy(), 'jwks.json': JSON.stringify(k.jwks) },
    headers: { authorization: `Bearer ${await token(k)}` },
    rounds: o.rounds,
    requestsPerRound: o.requestsPerRound,
    log,
  })
}

function authzPolicy() {
  return `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: bench-authz }
spec:
  identity:
    jwt:
      issuers:
        - issuer: ${ISSUER}
          audiences: [chatbot]
          algorithms: [RS256]
          jwksFile: jwks.json
  roles:
    guest: {}
    analyst: { inherits: [guest] }
    senior-analyst: { inherits: [analyst] }
    admin: { inherits: [senior-analyst] }
  access:
${benchRules()
  .filter((r) => !r.match.models && !String(r.when ?? '').includes('request.model'))
  .map((r) => `    - ${JSON.stringify(r)}`)
  .join('\n')}
`
}

/** @param {any} run */
function render(run) {
  const s = run.e2e.summary
  const row = (/** @type {string} */ name) => `| ${name} | ${s[name].p50Ms.toFixed(3)} | ${s[name].p99Ms.toFixed(3)} | ${s[name].samples} |`
  const verdict = (/** @type {number} */ v, /** @type {number} */ target) => (v <= target ? 'met' : `missed by ${(v - target).toFixed(1)} µs`)
  return `## Authz

Run ${run.date}, \`node bench/authz.js\`${quick ? ' --quick' : ''}. In process: ${run.options.verifications} distinct tokens per algorithm, ${run.options.decisions} decisions. End to end: ${run.options.rounds} interleaved rounds of ${run.options.requestsPerRound} sequential non-streaming chat completions per target on one keep-alive connection; \`authz\` carries an RS256 token (cached after its first use) and checks ${benchRules().length - 2} access rules, 2 of them with CEL conditions.

| target | p50 ms | p99 ms | samples |
|---|---|---|---|
${run.e2e.targets.map(row).join('\n')}

| measure | value | target | verdict |
|---|---|---|---|
| cached-token request, added p50 over pass-through (end to end, pooled pairs) | ${run.e2e.addedP50Us.toFixed(1)} µs | ≤ 50 µs | ${verdict(run.e2e.addedP50Us, 50)} |
| noise floor: p50 gap between the two identical pass-through processes | ${run.e2e.noiseFloorP50Us.toFixed(1)} µs | | |
| uncached RS256 verify, p50 (p99) | ${run.verify.RS256.p50Us.toFixed(1)} µs (${run.verify.RS256.p99Us.toFixed(1)}) | ≤ 150 µs | ${verdict(run.verify.RS256.p50Us, 150)} |
| uncached ES256 verify, p50 (p99) | ${run.verify.ES256.p50Us.toFixed(1)} µs (${run.verify.ES256.p99Us.toFixed(1)}) | ≤ 150 µs | ${verdict(run.verify.ES256.p50Us, 150)} |
| cached token (hash + lookup), p50 (p99) | ${run.cached.p50Us.toFixed(2)} µs (${run.cached.p99Us.toFixed(2)}) | | |
| access decision, ${run.decision.rules} rules (${run.decision.conditions} CEL), p99 | ${run.decision.p99Us.toFixed(2)} µs (p50 ${run.decision.p50Us.toFixed(2)}) | ≤ 20 µs | ${verdict(run.decision.p99Us, 20)} |
| whole authz filter in process (cached token, the end-to-end rules with their CEL activation, identity headers), p50 (p99) | ${run.filter.p50Us.toFixed(2)} µs (${run.filter.p99Us.toFixed(2)}) | | |

Each kind runs as two processes (\`chaperone\`, \`chaperone-b\`; \`authz\`, \`authz-b\`) and the added latency is read on their pooled samples: on this shared 2-core machine two identical processes can differ at p50 by tens of µs (the noise-floor row), as much as the target. The filter's own cost is the in-process row above it. p99 differences between processes are mostly noise.`
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`)
  process.exit(1)
})
