import t from 'tap'
import {
  isApiKey,
  isHighEntropySecret,
  luhn,
  shannonEntropy,
  validateCard,
  validateCnpj,
  validateCpf,
  validateEmail,
  validateIban,
  validateIpv4,
  validateIpv6,
  validateJwt,
  validatePhone,
  validateSsn,
} from '../../../../src/core/moderation/pii/index.js'

function each(name: string, f: (s: string) => boolean, good: string[], bad: string[]): void {
  t.test(name, (t) => {
    for (const s of good) t.ok(f(s), `accepts ${s}`)
    for (const s of bad) t.notOk(f(s), `rejects ${s}`)
    t.end()
  })
}

t.test('luhn', (t) => {
  t.ok(luhn('79927398713'))
  t.notOk(luhn('79927398710'))
  t.notOk(luhn('7992739871x'))
  t.end()
})

each(
  'validateCard: issuer test numbers pass, checksum or issuer failures do not',
  validateCard,
  [
    '4111111111111111', // Visa
    '4111 1111 1111 1111',
    '4111-1111-1111-1111',
    '4222222222222', // Visa, 13 digits
    '5555555555554444', // Mastercard
    '2223003122003222', // Mastercard 2-series
    '378282246310005', // American Express
    '6011111111111117', // Discover
    '3530111333300000', // JCB
    '30569309025904', // Diners Club
    '6759649826438453', // Maestro
    '501864667909', // Maestro, 12 digits
  ],
  [
    '4111111111111112', // Luhn
    '0000000000000000', // no issuer starts with 0
    '7111111111111111x',
    '9111111111111113', // national range, not a card network
    '378282246310005 1', // stray digit
    '37828224631000', // Amex is 15 digits
    '51055105105100', // Mastercard is 16 digits
    '411111111111', // too short
    '41111111111111111111', // too long
  ],
)

each(
  'validateIban: registry length and mod-97',
  validateIban,
  [
    'GB82WEST12345698765432',
    'GB82 WEST 1234 5698 7654 32',
    'DE89370400440532013000',
    'FR1420041010050500013M02606',
    'NL91ABNA0417164300',
    'NO9386011117947',
    'gb82west12345698765432', // typed in lower case
  ],
  [
    'GB82WEST12345698765433', // checksum
    'GB82WEST1234569876543', // GB is 22 long
    'XX82WEST12345698765432', // no such country
    'Gb82West12345698765432', // mixed case
    'GB82-WEST-1234-5698-7654-32',
    'GB8',
  ],
)

each('validateCpf', validateCpf, ['529.982.247-25', '52998224725', '111.444.777-35'], [
  '529.982.247-24',
  '111.111.111-11', // all equal digits pass the checksum but are never issued
  '529.982.24725',
  '5299822472',
])

each('validateCnpj', validateCnpj, ['11.222.333/0001-81', '11222333000181', '45.997.418/0001-53'], [
  '11.222.333/0001-80',
  '00.000.000/0000-00',
  '11.222.333.0001-81',
])

each(
  'validateSsn: SSA rules',
  validateSsn,
  ['123-45-6789', '123 45 6789', '123456789', '772-12-3456', '856-45-6789'],
  ['000-12-3456', '666-12-3456', '912-12-3456', '123-00-4567', '123-45-0000', '123-45 6789', '1234-5-6789'],
)

each('validateIpv4', validateIpv4, ['192.168.1.1', '0.0.0.0', '255.255.255.255', '8.8.8.8'], [
  '256.1.1.1',
  '1.2.3',
  '1.2.3.4.5',
  '01.2.3.4',
  '1.2.3.a',
])

each(
  'validateIpv6',
  validateIpv6,
  [
    '2001:db8::8a2e:370:7334',
    '2001:0db8:85a3:0000:0000:8a2e:0370:7334',
    '::1',
    '::',
    'fe80::1',
    '::ffff:192.168.1.1',
    '1:2:3:4:5:6:7:8',
    '6e40:4041:c617:e898:c11:40d2:c669:2eb4',
  ],
  [
    '1:2:3:4:5:6:7', // too few without ::
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    '12345::1',
    'g::1',
    '12:30:45',
    '00:1A:2B:3C:4D:5E', // a MAC address
    '1:2:3:4:5:6:7::8',
  ],
)

each(
  'validateEmail',
  validateEmail,
  ['bob@example.com', 'first.last+tag@sub.example.co.uk', 'a_b%c-d@x-y.io', 'UPPER@EXAMPLE.ORG'],
  [
    'bob@localhost', // no dot in the domain
    'bob@example.c', // one-letter TLD
    'bob@example.123',
    '.bob@example.com',
    'bob.@example.com',
    'bo..b@example.com',
    'bob@-example.com',
    'bob@exa_mple.com',
    'bob@@example.com',
    '@example.com',
    `${'a'.repeat(65)}@example.com`,
  ],
)

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'
each(
  'validateJwt: three base64url segments, a JSON header with alg',
  validateJwt,
  [JWT, 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'],
  [
    'eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ4In0.c2ln', // header without alg
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0', // two segments
    'bm90IGpzb24gYXQgYWxs.eyJzdWIiOiJ4In0.c2ln', // header is not JSON
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e$J.c2ln',
  ],
)

each(
  'isApiKey: known prefixes and shapes',
  isApiKey,
  [
    'AKIAIOSFODNN7EXAMPLE',
    'ASIAY34FZKBOKMUTVV7A',
    'ghp_' + 'a1B2c3D4e5'.repeat(3) + 'F6g7h8',
    'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz',
    'sk-' + 'Ab1'.repeat(16),
    'sk-proj-' + 'Ab1_'.repeat(10),
    'sk_live_' + '4eC39HqLyjWDarjtT1zdp7dc',
    'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx',
    'AIza' + 'SyD-abcdefghijklmnopqrstuvwxyz12345',
  ],
  [
    'AKIAIOSFODNN7EXAMPL',
    'ghp_short',
    'sk-short',
    'task-' + 'a'.repeat(30),
    'xoxz-1234567890',
    'AIza' + 'x'.repeat(34),
  ],
)

t.test('shannonEntropy and isHighEntropySecret', (t) => {
  t.equal(shannonEntropy(''), 0)
  t.equal(shannonEntropy('aaaa'), 0)
  t.equal(shannonEntropy('abcd'), 2)
  t.ok(isHighEntropySecret('Zx8fQ2pL9mN4vB7cT1yR6wK3'))
  t.notOk(isHighEntropySecret('Zx8fQ2pL9mN4vB7cT1y'), '19 characters is too short')
  t.notOk(isHighEntropySecret('passwordpasswordpassword'), 'low entropy')
  t.end()
})

each(
  'validatePhone without context (default US)',
  (s) => validatePhone(s),
  [
    '(555) 123-4567',
    '555-123-4567',
    '555.123.4567',
    '+1.555.123.4567',
    '+44 20 7946 0958',
    '+41 (0)38 549 02 90',
    '+447700677662',
    '(898)666-3621x0135',
    '1-800-555-0199',
  ],
  [
    '5551234567', // bare digits need a context word
    '555 1234', // so do short local numbers
    '2020-06-20',
    '12.05.1999',
    '192.168.100.200',
    '123.456.789-09', // a CPF
    '+12', // too short
    '(555 123-4567',
    '555/123/4567',
  ],
)

t.test('validatePhone with another default country', (t) => {
  t.ok(validatePhone('020 7946 0958', 'GB'))
  t.notOk(validatePhone('020 7946 0958', 'US'))
  t.end()
})
