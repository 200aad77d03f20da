import t from 'tap'
import { moderationSchema } from '../../../src/core/filters/moderation/schema.js'
import { compileRules } from '../../../src/core/filters/moderation/compile-rules.js'
import { ResponseModeration } from '../../../src/core/filters/moderation/response-transform.js'
import type { ResponseUnit } from '../../../src/core/chain/types.js'
import type { SseEvent } from '../../../src/core/sse/types.js'
import { moderateWhole, type Finding } from '../../../src/core/moderation/text-moderator.js'
import { responseBodyCodec } from '../../../src/core/formats/index.js'
import { FORMATS, PATHS, bodyOf, clientText, streamOf } from '../../helpers/parity.js'

const config = moderationSchema.parse({
  blockMessage: 'STOPPED',
  rules: [
    { name: 'banned', keywords: ['forbiddenword', 'another phrase'], action: 'block' },
    { name: 'mail', pii: ['email', 'credit_card'], action: 'redact' },
    { name: 'ids', regex: 'ACME-[0-9]{6}', maxMatchLength: 11, action: 'redact' },
    { name: 'watch', keywords: ['weather'], action: 'flag' },
  ],
})
const { policy } = compileRules(config, {})
const active = new Uint8Array(policy.rules.length).fill(1)

const TEXTS = [
  'A plain answer with nothing to see.',
  'Write to jane.doe@example.com or pay with 4111 1111 1111 1111 today.',
  'Ticket ACME-123456 and ACME-654321 are closed; the weather is fine.',
  'This contains the f0rb1ddenw0rd in the middle of it.',
  'Here is an0ther   phrase, spaced out: a n o t h e r phrase.',
  'Unicode: Grüße 👋🏽, 東京, and a mail: ｊｏｈｎ＠example.com.',
]

async function run(units: ResponseUnit[], path: string): Promise<{ out: ResponseUnit[]; findings: string[] }> {
  const findings: string[] = []
  const m = new ResponseModeration(policy, { active, direction: 'response', onFinding: (f: Finding) => findings.push(`${f.name}:${f.action}`) }, 'STOPPED', path)
  const out: ResponseUnit[] = []
  for (const u of units) await m.transform(u, (x) => out.push(x))
  await m.flush((x) => out.push(x))
  return { out, findings: findings.sort() }
}

// The same text gets the same verdict and the same visible result, streamed in random pieces or
// answered whole, in every format.
t.test('streamed and non-streamed answers get the same verdict and text', async (t) => {
  for (const format of FORMATS) {
    for (const [i, text] of TEXTS.entries()) {
      for (const seed of [1, 2, 3]) {
        const events = streamOf(format, text, { seed, maxPiece: 5 })
        const streamed = await run(events.map((event) => ({ kind: 'sse', event })), PATHS[format])
        const sseOut = streamed.out.filter((u): u is { kind: 'sse'; event: SseEvent } => u.kind === 'sse').map((u) => u.event)
        const ended = streamed.out.some((u) => u.kind === 'end')
        const visible = clientText(format, sseOut)
        if (format === 'plain') {
          // Plain streams have no JSON body form: compare with the text moderated whole.
          const whole = await moderateWhole(policy, { active, direction: 'response' }, text)
          if (ended) t.ok(whole.block, `plain ${i}: blocked both ways`)
          else t.equal(visible, whole.text, `plain ${i} seed ${seed}: same visible text`)
          continue
        }
        const body = bodyOf(format, text)
        const whole = await run([{ kind: 'json', body }], PATHS[format])
        const jsonBody = (whole.out[0] as { kind: 'json'; body: unknown }).body
        const codec = responseBodyCodec(jsonBody)!
        const wholeText = codec.extract(jsonBody).map((s) => s.text).join('')
        const label = `${format} text ${i} seed ${seed}`
        // A stream stops at its first block; a whole body is checked to its end.
        if (ended) t.same([...new Set(streamed.findings)], [...new Set(whole.findings)], `${label}: same rules matched`)
        else t.same(streamed.findings, whole.findings, `${label}: same rules matched, each counted once`)
        if (ended) {
          t.ok(wholeText.includes('STOPPED'), `${label}: blocked both ways`)
          t.ok(visible.endsWith('STOPPED'), `${label}: the stream ends with the message`)
        } else {
          t.equal(visible, wholeText, `${label}: same visible text`)
        }
      }
    }
  }
})
