import t from 'tap'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { validateConfigDir } from '../src/io/config/validate.js'

const root = fileURLToPath(new URL('..', import.meta.url))

t.test('the shipped config directories load without errors', async (t) => {
  t.same(await validateConfigDir(`${root}config`), [], 'config/ (what npm start runs)')
  t.same(await validateConfigDir(`${root}k8s/config`), [], 'k8s/config (the ConfigMap)')
})

t.test('the kustomization renders a ConfigMap, a Deployment with the sidecar and a Service', async (t) => {
  let out: string
  try {
    out = execFileSync('kubectl', ['kustomize', `${root}k8s`], { encoding: 'utf8' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    t.comment('kubectl is not installed; nothing to render')
    return
  }
  t.match(out, /kind: ConfigMap[\s\S]*name: chaperone-config/)
  t.match(out, /kind: Deployment[\s\S]*name: chaperone\n[\s\S]*path: \/readyz/)
  t.match(out, /kind: Service[\s\S]*targetPort: http/)
  t.notMatch(out, /subPath/, 'the config is mounted as a directory, never with subPath')
})
