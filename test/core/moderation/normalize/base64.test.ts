import t from 'tap'
import { MAX_BASE64_RUN, decodeBase64Run } from '../../../../src/core/moderation/normalize/base64.js'
import { createNormalizer } from '../../../../src/core/moderation/normalize/index.js'
import type { IncrementalNormalizer } from '../../../../src/core/moderation/types.js'

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64')
const b64url = (s: string): string => Buffer.from(s, 'utf8').toString('base64url')

function fold(parts: string[], decodeBase64 = true): IncrementalNormalizer {
  const n = createNormalizer({ decodeBase64, composeAcrossPushes: true })
  for (const p of parts) n.push(p)
  n.end()
  return n
}

t.test('decodeBase64Run accepts text in either alphabet, with or without padding', async (t) => {
  t.equal(decodeBase64Run(b64('hate speech is bad')), 'hate speech is bad')
  t.equal(decodeBase64Run(b64('kill the process!')), 'kill the process!')
  t.equal(decodeBase64Run(b64('kill the process!').replace(/=+$/, '')), 'kill the process!')
  t.equal(decodeBase64Run(b64url('¿¿¿ héllo wörld ???')), '¿¿¿ héllo wörld ???')
  t.equal(decodeBase64Run(b64('¿¿¿ héllo wörld ???')), '¿¿¿ héllo wörld ???')
  t.equal(decodeBase64Run(b64('line one\nline two\ttab')), 'line one\nline two\ttab')
})

t.test('decodeBase64Run rejects what is not base64 text', async (t) => {
  t.equal(decodeBase64Run(b64('short')), null, 'fewer than 16 characters')
  t.equal(decodeBase64Run(b64('0123456789')), '0123456789', '16 characters with padding')
  t.equal(decodeBase64Run(b64('012345678')), null, '12 characters')
  t.equal(decodeBase64Run('internationalization'), null, 'an English word decodes to invalid UTF-8')
  t.equal(decodeBase64Run('Pz8/Pz8/Pz8-Pz8_'), null, 'both alphabets mixed')
  t.equal(decodeBase64Run('aGF0ZSBzcGVlY2ggaXMgYmFkx'), null, 'a length no encoder produces')
  t.equal(decodeBase64Run('aGF0ZSBzcGVlY2ggaXMgYmF=='), null, 'padding that does not complete a quantum')
  t.equal(decodeBase64Run(Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87]).toString('base64')), null, 'binary')
  t.equal(decodeBase64Run(b64('\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u000e\u000f\u0010\u0011ab')), null, 'mostly controls')
  t.equal(decodeBase64Run('deadbeefcafebabe0123456789abcdef'), null, 'hex')
})

t.test('a decoded run is folded and appended right after the run', async (t) => {
  const run = b64('I H4TE you')
  const text = `Decode ${run} please`
  const n = fold([text])
  t.equal(n.folded.slice(0), `decode ${n.folded.slice(7, 7 + run.length)} i hate you please`)
  const runStart = text.indexOf(run)
  const runEnd = runStart + run.length
  const inserted = n.folded.slice(0).indexOf(' i hate you')
  for (let i = 7; i < inserted + ' i hate you'.length; i++) {
    t.same([n.folded.origStart(i), n.folded.origEnd(i)], [runStart, runEnd], `folded unit ${i} maps to the whole run`)
  }
  t.same([n.folded.origStart(inserted + 11), n.folded.origEnd(inserted + 11)], [runEnd, runEnd + 1], 'the space after the run')
  t.equal(n.literal.slice(0), text, 'the literal view is unchanged')
})

t.test('the run is held until it is decided, and the result is the same in any pieces', async (t) => {
  const text = `x ${b64url('forbidden word here')}, ok`
  const whole = fold([text])
  const n = createNormalizer({ decodeBase64: true, composeAcrossPushes: true })
  for (let i = 0; i < text.length; i += 3) {
    n.push(text.slice(i, i + 3))
    const runOpen = i + 3 > 2 && i + 3 <= 2 + b64url('forbidden word here').length
    if (runOpen) t.ok(n.pending <= 2, `pending ${n.pending} stays at the run start while it is open`)
  }
  n.end()
  t.equal(n.folded.slice(0), whole.folded.slice(0))
  t.match(whole.folded.slice(0), / forbidden word here, ok$/)
})

t.test('without the option, or past the bound, nothing is decoded', async (t) => {
  const run = b64('hate speech is bad')
  t.notMatch(fold([`see ${run}`], false).folded.slice(0), /hate/)
  const long = b64('hate '.repeat(Math.ceil((MAX_BASE64_RUN * 3) / 4 / 5) + 3))
  t.ok(long.length > MAX_BASE64_RUN)
  const n = createNormalizer({ decodeBase64: true, composeAcrossPushes: true })
  let maxLag = 0
  for (let i = 0; i < long.length; i += 7) {
    n.push(long.slice(i, i + 7))
    maxLag = Math.max(maxLag, Math.min(i + 7, long.length) - n.pending)
  }
  n.end()
  t.notMatch(n.folded.slice(0), / hate/)
  t.ok(maxLag <= MAX_BASE64_RUN + 8, `held at most ${maxLag} code units`)
  const fits = b64('hate '.repeat(Math.floor((MAX_BASE64_RUN * 3) / 4 / 5) - 1))
  t.ok(fits.length <= MAX_BASE64_RUN)
  t.match(fold([fits]).folded.slice(0), / hate hate/)
})

t.test('two runs in a row each get their text', async (t) => {
  const text = `${b64('first secret text')}\n${b64url('second secret text?')} end`
  const folded = fold(text.match(/.{1,5}/gs)!).folded.slice(0)
  t.match(folded, / first secret text /)
  t.match(folded, / second secret text\? end$/)
  t.ok(folded.indexOf('first secret') < folded.indexOf('second secret'))
})
