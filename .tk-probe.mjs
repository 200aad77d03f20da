const t0 = performance.now()
const o = await import('gpt-tokenizer/encoding/o200k_base')
const t1 = performance.now()
const c = await import('gpt-tokenizer/encoding/cl100k_base')
const t2 = performance.now()
console.log('load o200k', (t1-t0).toFixed(0), 'cl100k', (t2-t1).toFixed(0), 'rss MB', (process.memoryUsage().rss/1e6).toFixed(0))
const s = 'hello world '.repeat(100000)
let t3 = performance.now(); console.log(o.countTokens(s), (performance.now()-t3).toFixed(0),'ms for', s.length)
const r = Array.from({length: 1<<20}, (_, i) => String.fromCharCode(97 + (i*7919)%26)).join('')
t3 = performance.now(); console.log(o.countTokens(r), (performance.now()-t3).toFixed(0),'ms for 1MiB random letters')
const sp = 'a<|endoftext|>b'
try { console.log(o.countTokens(sp)) } catch (e) { console.log('throws', e.message) }
console.log(o.countTokens(sp, { disallowedSpecial: new Set() }), c.countTokens(sp, { disallowedSpecial: new Set() }))
console.log(o.countTokens('Hello, world!'), c.countTokens('Hello, world!'), o.countTokens(''))
