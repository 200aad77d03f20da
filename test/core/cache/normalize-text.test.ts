import t from 'tap'
import { createTextNormalizer, type TextNormalizeOptions } from '../../../src/core/cache/normalize-text.js'

const OFF: TextNormalizeOptions = { nfc: false, whitespace: false, caseFold: false, numbers: false, dates: false }
const only = (o: Partial<TextNormalizeOptions>) => createTextNormalizer({ ...OFF, ...o })

t.test('all off: the text is unchanged', async (t) => {
  const s = '  Straße\u00a0 e\u0301 1,000 007 2026/11/26 26.11.2026 '
  t.equal(createTextNormalizer(OFF)(s), s)
})

t.test('nfc', async (t) => {
  const f = only({ nfc: true })
  t.equal(f('Cafe\u0301'), 'Caf\u00e9')
  t.equal(f('\u212b'), '\u00c5', 'the Angstrom sign is canonically A with ring')
  t.equal(f('\ufb01'), '\ufb01', 'NFC, not NFKC: compatibility forms stay')
})

t.test('whitespace: trimmed, every run of Unicode white space becomes one space', async (t) => {
  const f = only({ whitespace: true })
  t.equal(f('  a \t\n b\r\n\r\nc  '), 'a b c')
  t.equal(f('a\u00a0b\u2003c\u3000d\u2028e\u2029f\u0085g\u000bh\u000ci\ufeffj'), 'a b c d e f g h i j', 'NBSP, em space, ideographic, LS, PS, NEL, VT, FF, BOM')
  t.equal(f('\u00a0\u00a0x\u00a0'), 'x')
  t.equal(f(' \t\n'), '')
  t.equal(f(''), '')
  t.equal(f('a\u200bb'), 'a\u200bb', 'zero-width space is not white space')
})

t.test('caseFold: every case variant maps to one form', async (t) => {
  const f = only({ caseFold: true })
  t.equal(f('Hello WORLD'), 'hello world')
  t.equal(f('Straße'), f('STRASSE'), 'ß folds to ss')
  t.equal(f('STRAẞE'), 'strasse', 'capital sharp s too')
  t.equal(f('ΟΔΟΣ'), f('οδοσ'), 'final sigma and sigma')
  t.equal(f('\ufb01le'), 'file', 'the fi ligature')
  t.not(only({})('Straße'), only({})('STRASSE'))
})

t.test('numbers: canonical decimals in stand-alone tokens', async (t) => {
  const f = only({ numbers: true })
  const changed: [string, string][] = [
    ['1,000,000', '1000000'],
    ['12,345.60', '12345.6'],
    ['007', '7'],
    ['0', '0'],
    ['000', '0'],
    ['0.0', '0'],
    ['3.50', '3.5'],
    ['2.0', '2'],
    ['0.050', '0.05'],
    ['$1,000.00', '$1000'],
    ['-0.50', '-0.5'],
    ['(1,234)', '(1234)'],
    ['50%', '50%'],
    ['costs 1,000, not 2,000.', 'costs 1000, not 2000.'],
    ['pi is 3.14159000.', 'pi is 3.14159.'],
    ['1.000', '1'],
  ]
  for (const [a, b] of changed) t.equal(f(a), b, a)
  const kept = [
    'gpt4o',
    'ACME-000123',
    'order_007',
    'v1.20',
    '09:05',
    '1.2.3',
    '10.0.0.1',
    '555-0123',
    '2026-01-05',
    '1,2,3',
    '3,50',
    '1,0000',
    '12,34',
    '1,234,56',
    '1e10',
    '10km',
    'x2.50',
    '٣.٥٠0',
  ]
  for (const s of kept) t.equal(f(s), s, `${s} is not a stand-alone number`)
  t.equal(f('1, 2, 3'), '1, 2, 3', 'a list with spaces: each item already canonical')
  t.equal(f('items 01, 02 and 1,000.50'), 'items 1, 2 and 1000.5')
  t.equal(f('1,000'), f('1000'))
})

t.test('dates: ymd reads only year-first and named-month forms', async (t) => {
  const f = only({ dates: 'ymd' })
  const same = ['2026-11-26', '2026/11/26', '26 Nov 2026', '26 November 2026', 'Nov 26, 2026', 'November 26 2026', 'NOVEMBER 26, 2026', 'nov. 26 2026', '26 nov 2026']
  for (const s of same) t.equal(f(`due ${s}.`), 'due 2026-11-26.', s)
  t.equal(f('2026-1-5'), '2026-01-05', 'padded')
  t.equal(f('Sept 3, 2026'), '2026-09-03')
  t.equal(f('3 May 2026'), '2026-05-03')
  t.equal(f('11/26/2026'), '11/26/2026', 'ambiguous numeric forms are left alone')
  t.equal(f('26.11.2026'), '26.11.2026')
  t.equal(f('2026-11/26'), '2026-11/26', 'mixed separators')
  const invalid = ['2026-13-01', '2026-02-30', '2023-02-29', '30 Feb 2026', 'Apr 31, 2026', '2026-00-10', '2026-11-00']
  for (const s of invalid) t.equal(f(s), s, `${s} is not a date`)
  t.equal(f('2024-02-29'), '2024-02-29', 'leap year')
  t.equal(f('29 Feb 2000'), '2000-02-29', 'a 400-year leap year')
  t.equal(f('29 Feb 1900'), '29 Feb 1900', 'a century that is not a leap year')
  t.equal(f('x2026-11-26'), 'x2026-11-26', 'not inside a word')
  t.equal(f('2026-11-267'), '2026-11-267')
  t.equal(f('Novel 26 2026'), 'Novel 26 2026')
  t.equal(f('26  \n Nov\u00a02026'), '2026-11-26', 'any white space between the parts')
})

t.test('dates: mdy and dmy also read their numeric order', async (t) => {
  const mdy = only({ dates: 'mdy' })
  t.equal(mdy('11/26/2026'), '2026-11-26')
  t.equal(mdy('11-26-2026'), '2026-11-26')
  t.equal(mdy('1/5/2026'), '2026-01-05')
  t.equal(mdy('26/11/2026'), '26/11/2026', 'month 26 is invalid')
  t.equal(mdy('26.11.2026'), '26.11.2026', 'dots are not an mdy form')
  t.equal(mdy('2026/11/26'), '2026-11-26', 'year-first still read')
  const dmy = only({ dates: 'dmy' })
  t.equal(dmy('26/11/2026'), '2026-11-26')
  t.equal(dmy('26.11.2026'), '2026-11-26')
  t.equal(dmy('5.1.2026'), '2026-01-05')
  t.equal(dmy('11/26/2026'), '11/26/2026', 'month 26 is invalid')
  t.equal(dmy('26-11-2026'), '26-11-2026', 'dashes are not a dmy form')
  t.equal(dmy('1/2/2026'), '2026-02-01')
  t.equal(mdy('1/2/2026'), '2026-01-02', 'the same text, the other order')
})

t.test('order: NFC, dates, numbers, case fold, whitespace', async (t) => {
  const all = createTextNormalizer({ nfc: true, whitespace: true, caseFold: true, numbers: true, dates: 'dmy' })
  t.equal(all('  Pay 1,000.50 EUR by 26.11.2026,\u00a0Cafe\u0301  '), 'pay 1000.5 eur by 2026-11-26, café')
  t.equal(all('26.11.2026'), '2026-11-26', 'dates first: not read as the numbers 26.11 and 2026')
  t.equal(all('26 NOVEMBER\t2026'), '2026-11-26', 'dates before case fold and whitespace')
  t.equal(all('Ship 007 on Nov 5, 2026'), all('ship   7 ON 5 november 2026'))
  t.not(all('ship 7'), all('ship 8'))
})

t.test('hostile 1 MB inputs complete (no catastrophic backtracking)', async (t) => {
  const all = createTextNormalizer({ nfc: true, whitespace: true, caseFold: true, numbers: true, dates: 'mdy' })
  const MB = 1 << 20
  const fill = (unit: string) => unit.repeat(Math.ceil(MB / unit.length)).slice(0, MB)
  const inputs: [string, string][] = [
    ['digits', fill('0')],
    ['thousands groups then a letter', '1' + fill(',000') + 'x'],
    ['a comma list', fill('1,')],
    ['commas, digits and white space', fill('12,3 ,,\u00a0 4,567\t1,000,00\n')],
    ['dots', fill('1.')],
    ['date-like numbers', fill('11/2/20 1-1-')],
    ['spaces between date parts', fill('26 ' + ' '.repeat(500) + 'Nov ')],
    ['white space', fill(' \u00a0\t\n')],
  ]
  for (const [name, s] of inputs) {
    const out = all(s)
    t.type(out, 'string', name)
    t.ok(out.length <= s.length, `${name}: never longer`)
  }
  t.equal(all(fill('0')), '0')
  t.equal(all(fill(' \u00a0\t\n')), '')
})
