/** Host matching through the real proxy: the Host a client sends, in any case, with a port. */
import t from 'tap'
import { startStack } from '../helpers/chaperone.js'
import { rawRequest } from '../helpers/raw-http.js'

const POLICY = `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: hosts }
spec:
  identity: { anonymous: { role: guest } }
  roles: { guest: {} }
  access:
    - name: chat-host-only
      match: { hosts: [chat.example.com] }
      allow: { roles: [guest] }
`

t.test('a hosts rule matches the Host header case-insensitively, port and trailing dot aside', async (t) => {
  const stack = await startStack({ files: { 'policy.yaml': POLICY } })
  t.teardown(() => stack.close())
  const base = stack.chaperone.proxyUrl
  const get = (host: string) => rawRequest(base, `GET /echo HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
  for (const host of ['chat.example.com', 'Chat.Example.COM:8080', 'chat.example.com.']) t.equal((await get(host)).status, 200, host)
  for (const host of ['other.example.com', 'chat.example.com.evil.test']) t.equal((await get(host)).status, 401, `${host}: anonymous, no rule allows`)
})
