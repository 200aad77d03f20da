import t from 'tap'
import { HeaderEditList } from '../../../../src/core/http/header-edits.js'
import { moderationSchema } from '../../../../src/core/filters/moderation/schema.js'
import { compileRules } from '../../../../src/core/filters/moderation/compile-rules.js'
import { createModerationFilter, MODERATION_STATE, type ModerationState } from '../../../../src/core/filters/moderation/filter.js'
import { bufferedBody } from '../../../../src/core/http/request-body.js'
import type { RequestContext } from '../../../../src/core/chain/types.js'

const quietLog = { debug() {}, info() {}, warn() {}, error() {} }

function context(body: unknown, headers: Record<string, string> = {}): RequestContext {
  return {
    id: 'r1',
    snapshot: { version: 1, digest: 'd' },
    request: { method: 'POST', url: '/v1/chat/completions', path: '/v1/chat/completions', headers, remoteAddress: '127.0.0.1', clientIp: '127.0.0.1', protocol: 'http', query: '', rawHeaders: [] },
    log: quietLog,
    state: new Map(),
    upstreamHeaders: new HeaderEditList(),
    body: bufferedBody(new TextEncoder().encode(JSON.stringify(body)), 'application/json', undefined),
  }
}

t.test('findings kept per request are bounded; every match is still counted', async (t) => {
  const config = moderationSchema.parse({ rules: [{ name: 'spam', direction: 'request', keywords: ['spam'], wordBoundary: true, action: 'flag' }] })
  let counted = 0
  const metrics = { hit: () => void counted++, onError() {}, holdback() {} }
  const filter = createModerationFilter(config, compileRules(config, {}), { moderationMetrics: metrics })
  const ctx = context({ model: 'm', messages: [{ role: 'user', content: 'spam '.repeat(300) }] })
  t.same(await filter.onRequest!(ctx), { kind: 'continue' }, 'flag rules never refuse')
  const state = ctx.state.get(MODERATION_STATE) as ModerationState
  t.equal(state.findings.length, 256, 'at most 256 findings are kept for later filters')
  t.equal(counted, 300, 'but all 300 are counted')
})

t.test('a condition on request.model makes the filter read the body, in any CEL spelling', async (t) => {
  for (const when of ['request.model == "big"', 'request["model"] == "big"']) {
    const config = moderationSchema.parse({ rules: [{ name: 'big', direction: 'response', keywords: ['x'], when }] })
    const filter = createModerationFilter(config, compileRules(config, {}), {})
    t.equal(filter.needsRequestBody, true, when)
    const ctx = context({ model: 'big', messages: [] })
    await filter.onRequest!(ctx)
    t.same([...(ctx.state.get(MODERATION_STATE) as ModerationState).active.response], [1], `${when}: the model from the body decides`)
  }
})

t.test('headers reach conditions that read them, and region comes from the trusted header', async (t) => {
  const config = moderationSchema.parse({
    principal: { regionHeader: 'x-region' },
    rules: [
      { name: 'debug', direction: 'response', keywords: ['x'], when: '"x-debug" in request.headers && request.headers["x-debug"] == "1"' },
      { name: 'eu', direction: 'response', keywords: ['x'], when: 'has(principal.region) && principal.region == "eu"' },
    ],
  })
  const filter = createModerationFilter(config, compileRules(config, {}), {})
  const active = async (headers: Record<string, string>) => {
    const ctx = context({}, headers)
    await filter.onRequest!(ctx)
    return [...(ctx.state.get(MODERATION_STATE) as ModerationState).active.response]
  }
  t.same(await active({}), [0, 0])
  t.same(await active({ 'x-debug': '1', 'x-region': 'eu' }), [1, 1])
})
