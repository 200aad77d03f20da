import { copyFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { startStack } from '../helpers/chaperone.js'
import { rawRequest } from '../helpers/raw-http.js'
import { chatChunk, DONE, startScriptedUpstream } from '../helpers/scripted-upstream.js'
import { BUILTIN_MODELS_DIR } from '../../src/io/classifier/loader.js'

const STOPPED = 'This response was stopped by the content policy.'
const TOXIC = 'Shut up you stupid bitch, nobody likes you hoe. '
const request = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}'

const policy = (opts: { mode?: string; model?: string; extra?: string } = {}) => `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: onnx }
spec:
  moderation:
    classifiers:
      toxicity:
        onnx: { model: "${opts.model ?? 'builtin:toxicity'}" }
    rules:
      - name: toxic
        direction: response
        classifier: { name: toxicity, thresholds: { hate: 0.8, offensive: 0.6 }, mode: ${opts.mode ?? 'inline'}, onError: block }
        action: block
${opts.extra ?? ''}`

function parse(raw: Buffer): { text: string; last: Record<string, unknown> | undefined } {
  let text = ''
  let last: Record<string, unknown> | undefined
  for (const line of raw.toString('utf8').split('\n')) {
    if (!line.startsWith('data: {')) continue
    const c = JSON.parse(line.slice(6)) as Record<string, unknown> & { choices: { delta: { content?: string } }[] }
    text += c.choices[0]?.delta.content ?? ''
    last = c
  }
  return { text, last }
}

async function scrape(adminUrl: string): Promise<string> {
  return (await fetch(`${adminUrl}/metrics`, { headers: { authorization: 'Bearer test-token' } })).text()
}

t.test('the shipped toxicity model moderating streams end to end', async (t) => {
  const upstream = await startScriptedUpstream(() => ({
    body: [chatChunk('The weather is lovely today. '), chatChunk(TOXIC), { pause: 200 }, chatChunk('More text after it.'), chatChunk(null, { finish: 'stop' }), DONE],
  }))
  t.teardown(() => upstream.close())
  const clean = await startScriptedUpstream(() => ({ body: [chatChunk('The weather is lovely today. '), chatChunk('Enjoy the garden and the sun.'), chatChunk(null, { finish: 'stop' }), DONE] }))
  t.teardown(() => clean.close())

  t.test('inline: the toxic sentence never leaves; clean text passes untouched', async (t) => {
    const stack = await startStack({ files: { 'p.yaml': policy() }, upstream: upstream.url })
    t.teardown(() => stack.close())
    t.ok(stack.chaperone.store.current(), 'the policy with the shipped model loaded')
    const r = parse((await rawRequest(stack.chaperone.proxyUrl, request)).body)
    t.equal(r.text, `The weather is lovely today.${STOPPED}`)
    t.notOk('chaperone' in (r.last ?? {}), 'nothing offending was sent, so nothing is retracted')

    const stack2 = await startStack({ files: { 'p.yaml': policy() }, upstream: clean.url })
    t.teardown(() => stack2.close())
    const ok = parse((await rawRequest(stack2.chaperone.proxyUrl, request)).body)
    t.equal(ok.text, 'The weather is lovely today. Enjoy the garden and the sun.')

    const m = await scrape(stack.chaperone.adminUrl)
    t.match(m, /chaperone_moderation_classifier_windows_total\{rule="toxic",classifier="toxicity",outcome="model"\} [1-9]/)
    t.match(m, /chaperone_classifier_batch_size_count\{classifier="toxicity"\} [1-9]/)
    t.match(m, /chaperone_classifier_inference_seconds_count\{classifier="toxicity"\} [1-9]/)
    t.match(m, /chaperone_classifier_queue_depth\{classifier="toxicity"\} 0/)
    t.match(m, /chaperone_moderation_matches_total\{rule="toxic",action="block",shadow="false",direction="response"\} 1/)
  })

  t.test('async: text flows, the late verdict retracts the stream', async (t) => {
    const stack = await startStack({ files: { 'p.yaml': policy({ mode: 'async' }) }, upstream: upstream.url })
    t.teardown(() => stack.close())
    const r = parse((await rawRequest(stack.chaperone.proxyUrl, request)).body)
    t.match(r.text, /^The weather is lovely today\. Shut up/, 'async mode sent the sentence before its verdict')
    t.notMatch(r.text, /More text/, 'the stream ends at the verdict')
    t.same((r.last as { chaperone?: unknown }).chaperone, { retracted: true })
  })

  t.test('language routing: a language the model was not trained on is flagged, counted, never scored', async (t) => {
    const german = await startScriptedUpstream(() => ({ body: [chatChunk('Ich finde das Wetter heute wirklich sehr schön und angenehm. '), chatChunk(null, { finish: 'stop' }), DONE] }))
    t.teardown(() => german.close())
    const stack = await startStack({ files: { 'p.yaml': policy() }, upstream: german.url })
    t.teardown(() => stack.close())
    const r = parse((await rawRequest(stack.chaperone.proxyUrl, request)).body)
    t.equal(r.text, 'Ich finde das Wetter heute wirklich sehr schön und angenehm. ', 'flag-only: the text passes')
    const m = await scrape(stack.chaperone.adminUrl)
    t.match(m, /chaperone_moderation_classifier_windows_total\{rule="toxic",classifier="toxicity",outcome="unsupported_language"\} 1/)
    t.match(m, /chaperone_moderation_matches_total\{rule="toxic",action="flag",shadow="false",direction="response"\} 1/)
    t.match(stack.logs.text(), /"label":"unsupported_language"/)
  })
})

t.test('a missing or corrupt model keeps the last good policy, and mounting it reloads', async (t) => {
  const upstream = await startScriptedUpstream(() => ({ body: [chatChunk('Hello.'), chatChunk(null, { finish: 'stop' }), DONE] }))
  t.teardown(() => upstream.close())
  const stack = await startStack({ files: { 'p.yaml': policy() }, upstream: upstream.url })
  t.teardown(() => stack.close())
  const good = stack.chaperone.store.current()!.version

  await writeFile(path.join(stack.dir, 'p.yaml'), policy({ model: 'models/mine.onnx' }))
  const missing = await stack.chaperone.reload('test')
  t.equal(missing.outcome, 'error')
  t.match(missing.errors?.[0], { file: 'p.yaml', path: 'spec.moderation.classifiers.toxicity.onnx.model', message: /mine\.onnx does not exist/ })
  t.equal(stack.chaperone.store.current()!.version, good, 'the last good policy stays')

  const { mkdir } = await import('node:fs/promises')
  await mkdir(path.join(stack.dir, 'models'))
  await writeFile(path.join(stack.dir, 'models/mine.onnx'), Buffer.alloc(4096, 0xff))
  const corrupt = await stack.chaperone.reload('test')
  t.equal(corrupt.outcome, 'error')
  t.match(corrupt.errors?.[0]?.message, /not a usable ONNX model/)
  t.equal(stack.chaperone.store.current()!.version, good)

  const res = parse((await rawRequest(stack.chaperone.proxyUrl, request)).body)
  t.equal(res.text, 'Hello.', 'requests are served by the last good policy meanwhile')

  await copyFile(path.join(BUILTIN_MODELS_DIR, 'toxicity.onnx'), path.join(stack.dir, 'models/mine.onnx'))
  const fixed = await stack.chaperone.reload('test')
  t.equal(fixed.outcome, 'success', 'the operator’s own model with the same contract loads')
  t.ok(stack.chaperone.store.current()!.version > good)
})
