import t from 'tap'
import { HeaderEditList } from '../../../src/core/http/header-edits.js'
import { runRequestFilters, runResponseHead, collectTransforms, runComplete, chainNeedsResponseHooks } from '../../../src/core/chain/runner.js'
import { CONTINUE, refuse, type Filter, type RequestContext, type ResponseTransform } from '../../../src/core/chain/types.js'

function ctx(errors: unknown[] = []): RequestContext {
  const noop = () => {}
  return {
    id: 'r1',
    snapshot: { version: 1, digest: 'd' },
    request: { method: 'POST', url: '/v1/chat/completions', path: '/v1/chat/completions', headers: {}, remoteAddress: '127.0.0.1', clientIp: '127.0.0.1', protocol: 'http', query: '', rawHeaders: [] },
    log: { debug: noop, info: noop, warn: noop, error: (o: object) => errors.push(o) },
    state: new Map(),
    upstreamHeaders: new HeaderEditList(),
  }
}

t.test('request hooks run in order and stop at the first refusal', async (t) => {
  const seen: string[] = []
  const chain: Filter[] = [
    { name: 'a', onRequest: () => (seen.push('a'), CONTINUE) },
    { name: 'b', onRequest: async () => (seen.push('b'), refuse('forbidden')) },
    { name: 'c', onRequest: () => (seen.push('c'), CONTINUE) },
  ]
  const v = await runRequestFilters(chain, ctx())
  t.same(seen, ['a', 'b'])
  t.same(v, { kind: 'error', code: 'forbidden' })
  t.same(await runRequestFilters([], ctx()), CONTINUE)
})

t.test('response hooks, transforms and completion run in reverse order', async (t) => {
  const seen: string[] = []
  const tr = (n: string): ResponseTransform => ({ transform: () => {}, flush: () => { seen.push('flush ' + n) } })
  const chain: Filter[] = ['a', 'b', 'c'].map((n) => ({
    name: n,
    onResponseHead: () => (seen.push('head ' + n), CONTINUE),
    responseTransform: () => tr(n),
    onComplete: () => {
      seen.push('done ' + n)
      if (n === 'b') throw new Error('boom')
    },
  }))
  runResponseHead(chain, ctx(), { status: 200, headers: {} })
  const ts = collectTransforms(chain, ctx(), { status: 200, headers: {} })
  for (const x of ts) await x.flush(() => {})
  const errors: unknown[] = []
  runComplete(chain, ctx(errors), { kind: 'completed', status: 200 })
  t.same(seen, ['head c', 'head b', 'head a', 'flush c', 'flush b', 'flush a', 'done c', 'done b', 'done a'])
  t.equal(errors.length, 1, 'the failing onComplete is logged and the next one still runs')
  t.equal(chainNeedsResponseHooks(chain), true)
  t.equal(chainNeedsResponseHooks([{ name: 'x', onRequest: () => CONTINUE }]), false)
})
