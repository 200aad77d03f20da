import t from 'tap'
import { clientIp } from '../../../src/core/http/client-ip.js'

t.test('the peer unless trusted hops say otherwise, and never a client-written entry', async (t) => {
  const xff = (...v: string[]) => v.flatMap((x) => ['X-Forwarded-For', x])
  t.equal(clientIp(xff('6.6.6.6'), '10.0.0.9', 0), '10.0.0.9', 'no trusted hops: a client header is ignored')
  t.equal(clientIp(xff('1.2.3.4'), '10.0.0.9', 1), '1.2.3.4', 'one ingress: the entry it appended')
  t.equal(clientIp(xff('6.6.6.6, 1.2.3.4'), '10.0.0.9', 1), '1.2.3.4', 'a forged entry to its left is never used')
  t.equal(clientIp(xff('6.6.6.6', '1.2.3.4, 10.1.1.1'), '10.0.0.9', 2), '1.2.3.4', 'two hops, over two headers')
  t.equal(clientIp([], '10.0.0.9', 1), '10.0.0.9', 'no header: not through the trusted hop, the peer')
  t.equal(clientIp(xff('1.2.3.4'), '10.0.0.9', 2), '10.0.0.9', 'fewer entries than hops: the peer')
  t.equal(clientIp(xff('1.2.3.4,'), '10.0.0.9', 1), '10.0.0.9', 'an empty entry: the peer')
})
