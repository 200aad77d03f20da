import t from 'tap'
import { compilePii, PII_TYPES, type PiiType } from '../../../../src/core/moderation/pii/index.js'
import { MAX_TOKEN } from '../../../../src/core/moderation/pii/token-tracker.js'
import type { Hit } from '../../../../src/core/moderation/types.js'
import { ViewBuffer } from '../../../../src/core/moderation/view-buffer.js'

/** Pushes `text` in one piece and ends; returns each hit as "type:matched text". */
function find(text: string, types: readonly PiiType[] = PII_TYPES): string[] {
  const m = compilePii(types)
  const view = new ViewBuffer()
  const s = m.scanner()
  const hits: Hit[] = []
  view.append(text, 0, text.length)
  s.scan(view, true, hits)
  return hits.map((h) => `${types[h.id]}:${text.slice(h.start, h.end)}`)
}

/** Hold-back (how many code units are held) after pushing `text` without ending. */
function held(text: string, types: readonly PiiType[] = PII_TYPES): number {
  const view = new ViewBuffer()
  const s = compilePii(types).scanner()
  view.append(text, 0, text.length)
  s.scan(view, false, [])
  return view.length - s.holdFrom()
}

t.test('finds each type with its exact span', (t) => {
  t.same(find('write to first.last+tag@mail.example.co.uk.'), ['email:first.last+tag@mail.example.co.uk'])
  t.same(find('card 4111 1111 1111 1111, or 4111-1111-1111-1111 or 378282246310005.'), [
    'credit_card:4111 1111 1111 1111',
    'credit_card:4111-1111-1111-1111',
    'credit_card:378282246310005',
  ])
  t.same(find('IBAN GB82 WEST 1234 5698 7654 32. Also DE89370400440532013000!'), [
    'iban:GB82 WEST 1234 5698 7654 32',
    'iban:DE89370400440532013000',
  ])
  t.same(find('SSN: 123-45-6789 or 123 45 6789'), ['us_ssn:123-45-6789', 'us_ssn:123 45 6789'])
  t.same(find('CPF 529.982.247-25, CNPJ 11.222.333/0001-81'), ['br_cpf:529.982.247-25', 'br_cnpj:11.222.333/0001-81'])
  t.same(find('from 10.0.0.1:8080 and [2001:db8::8a2e:370:7334] or fe80::1.'), [
    'ipv4:10.0.0.1',
    'ipv6:2001:db8::8a2e:370:7334',
    'ipv6:fe80::1',
  ])
  t.same(find('ten Canadianisms :: http://t.co/x'), [], 'a lone "::" is punctuation')
  const jwt =
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'
  t.same(find(`Authorization: ${jwt}.`), [`jwt:${jwt}`])
  t.same(find('keys AKIAIOSFODNN7EXAMPLE and xoxb-123456789012-abcdefghijkl'), [
    'api_key:AKIAIOSFODNN7EXAMPLE',
    'api_key:xoxb-123456789012-abcdefghijkl',
  ])
  t.same(find('MRN: 1234567 and MRN#00123456 and MRN 12345'), ['mrn:1234567', 'mrn:00123456'])
  t.end()
})

t.test('phones: layouts that stand alone, and numbers that need a context word', (t) => {
  t.same(find('ring (555) 123-4567, +44 20 7946 0958 or +1.555.123.4567'), [
    'phone:(555) 123-4567',
    'phone:+44 20 7946 0958',
    'phone:+1.555.123.4567',
  ])
  t.same(find('desk 345-899-3560x4587'), ['phone:345-899-3560x4587'], 'extension kept')
  t.same(find('order 5551234567 and 555 1234 shipped'), [], 'no context word: not phones')
  t.same(find('Phone: 5551234567'), ['phone:5551234567'])
  t.same(find('Please call me at 0494 92 82 32 today'), ['phone:0494 92 82 32'])
  t.same(find('the call was long and then my colleague said 555 1234'), [], 'context word too many words back')
  t.same(find('416 60 039 office\n082 490 1693-Fax'), ['phone:416 60 039', 'phone:082 490 1693'], 'context after')
  t.same(find('416 60 039 apples'), [])
  t.same(find('Phone: 2020-06-20 and 12.05.1999'), [], 'dates are not phones')
  t.same(find('Phone: 529.982.247-25', ['phone']), [], 'nor a CPF')
  t.end()
})

t.test('SSN: nine bare digits only next to a context word', (t) => {
  t.same(find('id 123456789'), [])
  t.same(find('SSN 123456789'), ['us_ssn:123456789'])
  t.same(find('social security number 078051120'), ['us_ssn:078051120'])
  t.same(find('SSN: 666-12-3456, 123-00-4567'), [], 'never-issued numbers')
  t.end()
})

t.test('numbers inside words are not numbers', (t) => {
  t.same(find('ref abc4111111111111111 and 4111111111111111abc'), [])
  t.same(find('call 555-123-4567ext'), [])
  t.same(find('v1.2.3.4 and 1.2.3.4.5'), [])
  t.end()
})

t.test('generic secrets after a key word', (t) => {
  t.same(find('api_key=Zx8fQ2pL9mN4vB7cT1yR6wK3 and token: "aZ3kL9pQ2wX7vB1nM5cT8yR4"'), [
    'api_key:Zx8fQ2pL9mN4vB7cT1yR6wK3',
    'api_key:aZ3kL9pQ2wX7vB1nM5cT8yR4',
  ])
  t.same(find('Authorization: Bearer abcdefghijklmnopqrstuvwxyzABCDEF0123'), [
    'api_key:abcdefghijklmnopqrstuvwxyzABCDEF0123',
  ])
  t.same(find('password = "hunter2", key: aaaaaaaaaaaaaaaaaaaaaaaaaa'), [], 'short or low-entropy values')
  t.same(find('the key is Zx8fQ2pL9mN4vB7cT1yR6wK3'), [], 'no = or : after the word')
  t.same(find('aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'), [
    'api_key:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  ])
  const key = 'sk-proj-Ab1_Ab1_Ab1_Ab1_Ab1_Ab1_'
  t.same(find(`OPENAI_API_KEY=${key}`), [`api_key:${key}`], 'a key after key= is one hit')
  t.end()
})

t.test('spaced IBAN groups must follow each other exactly', (t) => {
  t.same(find('GB82 WEST 1234  5698 7654 32'), [], 'two spaces')
  t.same(find('GB82 WEST 1234 5698 7654 3'), [], 'too short')
  t.same(find('GB82 WEST 1234 5698 7654 33'), [], 'checksum')
  t.end()
})

t.test('hit ids are indexes into the types given; other types are not reported', (t) => {
  const types: PiiType[] = ['phone', 'email']
  const m = compilePii(types)
  t.equal(m.view, 'literal')
  const view = new ViewBuffer()
  const text = 'bob@example.com, 4111 1111 1111 1111, (555) 123-4567'
  view.append(text, 0, text.length)
  const hits: Hit[] = []
  const s = m.scanner()
  s.scan(view, true, hits)
  t.same(hits, [
    { id: 1, start: 0, end: 15 },
    { id: 0, start: 38, end: 52 },
  ])
  t.equal(s.holdFrom(), text.length, 'nothing held after the end')
  t.throws(() => compilePii(['passport' as PiiType]), /unknown PII type "passport"/)
  t.throws(() => compilePii(['phone'], { defaultCountry: 'XX' as 'US' }), /unknown phone country/)
  t.end()
})

t.test('the default country decides which national numbers stand alone', (t) => {
  const view = new ViewBuffer()
  const text = 'ring 020 7946 0958 today'
  view.append(text, 0, text.length)
  const hits: Hit[] = []
  compilePii(['phone'], { defaultCountry: 'GB' }).scanner().scan(view, true, hits)
  t.same(hits, [{ id: 0, start: 5, end: 18 }])
  t.same(find(text, ['phone']), [])
  t.end()
})

t.test('holdFrom: only what could still become a hit is held', (t) => {
  t.equal(held('plain prose, nothing else. '), 0, 'after a space prose holds nothing')
  t.equal(held('plain prose wor'), 3, 'a word in progress may become an e-mail local part')
  t.equal(held('plain prose wor', ['phone', 'credit_card']), 0, 'unless no token type is asked for')
  t.equal(held('call 555-12'), 6, 'a number in progress')
  t.equal(held('call 555-12', ['email']), 6, 'is still a token for e-mail')
  t.equal(held('call 555 ', ['phone']), 4, 'a space may continue a number')
  t.equal(held('the year 2024 was', ['phone']), 0, 'a word after the number releases it')
  t.equal(held('IBAN GB82 WEST '), 10, 'an IBAN chain waits for its next group')
  t.equal(held('IBAN GB82 WEST\n'), 0, 'and gives up on anything else')
  t.equal(held('x eyJhbGciOi'), 10, 'a JWT in progress')
  t.equal(held('416 60 039 off', ['phone']), 14, 'a number waiting for the word after it')
  t.equal(held('key=Zx8fQ2pL9', ['api_key']), 13, 'the token around a secret value')
  t.equal(held('key=Zx8fQ2pL9', ['api_key', 'phone']), 13)
  t.end()
})

t.test('candidates are bounded: past the bound nothing is held', (t) => {
  t.equal(held('x ' + 'a'.repeat(MAX_TOKEN + 10)), 0, 'an endless token')
  t.equal(held('x ' + '7'.repeat(500), ['phone', 'credit_card']), 0, 'an endless digit run')
  // A long run of numbers with single spaces is cut and evaluated in parts.
  const phones = Array.from({ length: 6 }, (_, i) => `(555) 123-45${i}${i}`).join(' ')
  t.same(find(`call ${phones} now`, ['phone']).length, 6)
  t.end()
})

t.test('hits are reported once their candidate can no longer grow', (t) => {
  const view = new ViewBuffer()
  const s = compilePii(PII_TYPES).scanner()
  const hits: Hit[] = []
  const push = (piece: string): void => {
    view.append(piece, view.length, view.length + piece.length)
    s.scan(view, false, hits)
  }
  push('mail bob@example.co')
  t.same(hits, [], 'the domain may go on')
  push('m')
  t.same(hits, [])
  push(' now')
  t.same(hits, [{ id: 0, start: 5, end: 20 }])
  push(' 4111 1111 1111 1111')
  t.equal(hits.length, 1, 'a card number may still get a stray digit')
  s.scan(view, true, hits)
  t.same(hits[1], { id: 2, start: 25, end: 44 })
  t.end()
})
