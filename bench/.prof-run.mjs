import { spawn } from 'node:child_process'
import { writeFileSync, mkdirSync } from 'node:fs'
import { Pool } from 'undici'
const root = '/work/main'
mkdirSync('/tmp/prof/cfg', { recursive: true })
writeFileSync('/tmp/prof/cfg/cache.yaml', `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: p }
spec:
  cache:
    routes:
      - name: chat
        match: { paths: [/v1/chat/completions] }
        scope: shared
        ttl: 1h
`)
const demo = spawn(process.execPath, [`${root}/dist/demo/main.js`, '--host', '127.0.0.1', '--port', '18001'], { stdio: 'ignore' })
const ch = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir=/tmp/prof', `${root}/dist/cli.js`, 'serve', '--config', '/tmp/prof/cfg', '--listen', '127.0.0.1:18002', '--upstream', 'http://127.0.0.1:18001', '--admin', '127.0.0.1:18003'], { stdio: 'ignore', env: { ...process.env, NODE_ENV: 'production' } })
await new Promise((r) => setTimeout(r, 2500))
const body = JSON.stringify({ model: 'demo', temperature: 0, messages: [{ role: 'user', content: 'what are your opening hours?' }] })
const p = new Pool('http://127.0.0.1:18002', { connections: 16 })
let n = 0
const end = Date.now() + 6000
await Promise.all(Array.from({ length: 16 }, async () => { while (Date.now() < end) { const r = await p.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body }); await r.body.arrayBuffer(); n++ } }))
console.log('rps', n / 6)
ch.kill('SIGINT'); demo.kill()
await new Promise((r) => setTimeout(r, 1500))
