import t from 'tap'
import { createLogger } from '../../src/io/logger.js'
import { LogSink } from '../helpers/chaperone.js'

t.test('credentials are redacted wherever a header object is logged', async (t) => {
  const sink = new LogSink()
  const log = createLogger('info', sink)
  log.info({ headers: { authorization: 'Bearer sk-secret', cookie: 'session=abc', 'set-cookie': 'x=1', accept: '*/*' } }, 'h')
  log.info({ req: { headers: { authorization: 'Bearer sk-secret', cookie: 'session=abc' } }, res: { headers: { 'set-cookie': 'y=2' } } }, 'r')
  log.child({ requestId: 'r1', policyVersion: 3 }).warn({ authorization: 'Bearer sk-secret' }, 'c')
  const text = sink.text()
  t.notMatch(text, /sk-secret|session=abc|x=1|y=2/)
  t.equal((sink.lines[0]!.headers as Record<string, string>).accept, '*/*', 'other headers stay')
  t.match(sink.lines[2], { requestId: 'r1', policyVersion: 3, level: 'warn', authorization: '[redacted]' })
})
