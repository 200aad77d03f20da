import t from 'tap'
import { startStack } from '../helpers/chaperone.js'
import { rawRequest } from '../helpers/raw-http.js'
import { chatChunk, DONE, startScriptedUpstream } from '../helpers/scripted-upstream.js'
import type { Classifier, ClassifierScores } from '../../src/core/ports.js'

// A stand-in for the ONNX model (the classifier work ships it): scores a window by one word.
const fake: Classifier = {
  name: 'tox',
  classify: async (texts) => {
    await new Promise((r) => setTimeout(r, 10))
    return texts.map((x): ClassifierScores => ({ hate: x.includes('awful') ? 0.97 : 0.02 }))
  },
}

const policy = (mode: string) => `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: c }
spec:
  moderation:
    rules:
      - name: tox
        direction: response
        classifier: { name: tox, thresholds: { hate: 0.8 }, mode: ${mode} }
        action: block
`

const request = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}'

function events(raw: Buffer): { content: string; last: Record<string, unknown> | undefined } {
  let content = ''
  let last: Record<string, unknown> | undefined
  for (const line of raw.toString('utf8').split('\n')) {
    if (!line.startsWith('data: {')) continue
    const c = JSON.parse(line.slice(6)) as Record<string, unknown> & { choices: { delta: { content?: string } }[] }
    content += c.choices[0]?.delta.content ?? ''
    last = c
  }
  return { content, last }
}

t.test('classifier rules through the proxy', async (t) => {
  const upstream = await startScriptedUpstream(() => ({ body: [chatChunk('Nice day. '), chatChunk('You are awful. '), { pause: 300 }, chatChunk('More text.'), chatChunk(null, { finish: 'stop' }), DONE] }))
  t.teardown(() => upstream.close())

  t.test('inline: the offending sentence never leaves', async (t) => {
    const stack = await startStack({ files: { 'p.yaml': policy('inline') }, upstream: upstream.url, classifiers: new Map([['tox', fake]]) })
    t.teardown(() => stack.close())
    const res = await rawRequest(stack.chaperone.proxyUrl, request)
    const { content, last } = events(res.body)
    t.notMatch(content, /awful/)
    t.match(content, /^Nice day\./)
    t.equal((last as { choices: { finish_reason: string }[] }).choices[0]!.finish_reason, 'content_filter')
    t.notOk('chaperone' in (last ?? {}), 'not a retraction: nothing offending was sent')
  })

  t.test('async: text flows, and the late verdict retracts', async (t) => {
    const stack = await startStack({ files: { 'p.yaml': policy('async') }, upstream: upstream.url, classifiers: new Map([['tox', fake]]) })
    t.teardown(() => stack.close())
    const res = await rawRequest(stack.chaperone.proxyUrl, request)
    const { content, last } = events(res.body)
    t.match(content, /You are awful\./, 'async mode let the sentence through before its verdict')
    t.notMatch(content, /More text/, 'the stream ends at the verdict')
    t.same((last as { chaperone?: unknown }).chaperone, { retracted: true })
    t.equal((last as { choices: { finish_reason: string }[] }).choices[0]!.finish_reason, 'content_filter')
  })
})
