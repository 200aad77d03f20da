import t from 'tap'
import { canonicalHost } from '../../../src/core/http/canonical-host.js'

t.test('one spelling per host', async (t) => {
  const table: [string | undefined, string | undefined][] = [
    ['Example.COM', 'example.com'],
    ['example.com:8080', 'example.com'],
    ['example.com.', 'example.com'],
    ['EXAMPLE.com.:443', 'example.com'],
    ['[::1]:8080', '[::1]'],
    ['[::1]', '[::1]'],
    ['10.0.0.1:80', '10.0.0.1'],
    ['', undefined],
    [':80', undefined],
    [undefined, undefined],
  ]
  for (const [input, want] of table) t.equal(canonicalHost(input), want, String(input))
})
