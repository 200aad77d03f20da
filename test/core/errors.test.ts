import t from 'tap'
import { ERRORS, ChaperoneError } from '../../src/core/errors.js'
import { errorReply } from '../../src/core/reply.js'

t.test('every catalogue entry has an HTTP error status and a message', async (t) => {
  for (const [code, e] of Object.entries(ERRORS)) {
    t.ok(e.status >= 400 && e.status < 600, `${code} status`)
    t.ok(e.message.length > 0, `${code} message`)
  }
})

t.test('errorReply renders the OpenAI-style envelope with a stable code', async (t) => {
  const r = errorReply('upstream_timeout', 'req-1')
  t.equal(r.status, 504)
  t.same(JSON.parse(r.body), { error: { type: 'chaperone_error', code: 'upstream_timeout', message: ERRORS.upstream_timeout.message, request_id: 'req-1' } })
  t.equal(r.headers['content-length'], String(Buffer.byteLength(r.body)))
  const e = new ChaperoneError('body_too_large', 'read 2000 of max 1000')
  t.equal(e.status, 413)
  t.equal(e.message, 'read 2000 of max 1000')
})
