import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// `npm run train -- --check` must reproduce the shipped model bytes. Only possible beside the
// datasets (../shared/datasets), which a user's clone does not have.
const repo = fileURLToPath(new URL('../../', import.meta.url))
const datasets = fileURLToPath(new URL('../../../shared/datasets/', import.meta.url))
const main = fileURLToPath(new URL('../../dist/train/main.js', import.meta.url))

t.test('--check reproduces models/*.onnx byte for byte', { skip: existsSync(datasets) ? false : `no datasets at ${datasets}` }, (t) => {
  t.ok(existsSync(main), 'built (npm run build)')
  const run = spawnSync(process.execPath, [main, '--check'], { cwd: repo, encoding: 'utf8', timeout: 110_000 })
  t.equal(run.status, 0, `exit 0\n${run.stdout}${run.stderr}`)
  t.match(run.stdout, /toxicity: reproduces/)
  t.match(run.stdout, /injection: reproduces/)
  t.end()
})
