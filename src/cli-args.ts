import { parseArgs } from 'node:util'
import { splitHostPort } from './core/config/listen.js'

export type Command =
  | { name: 'serve'; configDir: string; listen?: string; upstream?: string; admin?: string }
  | { name: 'demo'; configDir: string; paceMs?: number }
  | { name: 'validate'; configDir: string }
  | { name: 'schema'; process: boolean }
  | { name: 'inject-webhook'; listen: string; tlsCert: string; tlsKey: string; sidecarConfig?: string }
  | { name: 'check'; configDir: string; input: CheckInput; json: boolean }
  /** `audit verify|query …`: the arguments go as they are to io/audit/cli-commands.ts. */
  | { name: 'audit'; argv: string[] }
  | { name: 'help'; text: string }
  | { name: 'error'; text: string }

export const DEFAULT_CONFIG_DIR = 'config'

/** What `chaperone check` sends to the preview: the body of POST /admin/moderation/check. */
export interface CheckInput {
  text?: string
  textFile?: string
  direction: 'request' | 'response'
  principal: { roles: string[]; region?: string; tier?: string; tenant?: string; subject?: string }
  request: { path?: string; model?: string }
  time?: string
}

const TOP_HELP = `Usage: chaperone <command> [options]

Commands:
  serve      Run the proxy in front of a chatbot
  demo       Run the proxy in front of the built-in demo chatbot (what \`npm start\` runs)
  validate   Check a config directory; prints file:path: message lines, exits 1 on any error
  check      Run text through the moderation rules of a config directory and show every match
  schema     Print the JSON Schemas of policy files and chaperone.yaml
  inject-webhook
             Serve the Kubernetes admission webhook that injects the Chaperone sidecar
  audit      verify: check the audit log's hash chain and checkpoint signatures;
             query: filter and count its records (e.g. blocks per region)

Run \`chaperone <command> --help\` for the options of a command.
`

const SERVE_HELP = `Usage: chaperone serve [--config DIR] [--listen HOST:PORT] [--upstream URL] [--admin HOST:PORT]

Runs the proxy. Options win over environment variables, which win over chaperone.yaml.

  --config DIR         Config directory (a mounted ConfigMap)   env CHAPERONE_CONFIG   default ./config
  --listen HOST:PORT   Proxy listener                           env CHAPERONE_LISTEN   default 0.0.0.0:8080
  --upstream URL       The chatbot, e.g. http://127.0.0.1:8000  env CHAPERONE_UPSTREAM
  --admin HOST:PORT    Admin listener (probes, metrics, /admin) env CHAPERONE_ADMIN    default 127.0.0.1:9090
  -h, --help           Show this help

Signals: SIGTERM/SIGINT drain in-flight requests and exit 0; SIGHUP reloads policies.
`

const DEMO_HELP = `Usage: chaperone demo [--config DIR] [--pace-ms N]

Starts the built-in OpenAI-compatible demo chatbot on a free port and Chaperone in front of it,
then prints a curl command to try.

  --config DIR   Config directory   env CHAPERONE_CONFIG   default ./config
  --pace-ms N    Delay between streamed tokens of the demo chatbot (default 30)
  -h, --help     Show this help
`

const VALIDATE_HELP = `Usage: chaperone validate [DIR]

Loads and compiles every file of DIR (default: $CHAPERONE_CONFIG or ./config) exactly as a
reload would. Prints one \`file:path: message\` line per problem and exits 1 if there is any.

  -h, --help   Show this help
`

const CHECK_HELP = `Usage: chaperone check [--config DIR] (--text TEXT | --file PATH) [options]

Runs TEXT through the moderation rules of DIR exactly as the proxy would (same normalizer,
matchers and conditions) and prints every rule that matched, with spans, action, shadow flag,
and the original and normalized excerpts. Nothing is activated. Exits 0 when the text would be
allowed or only flagged, 3 when it would be redacted, 4 when blocked, 1 on a config error.

  --config DIR        Config directory                  default $CHAPERONE_CONFIG or ./config
  --text TEXT         The text to check
  --file PATH         Read the text from a file ("-" for stdin)
  --direction D       request | response                default response
  --region R          principal.region                  --tier T     principal.tier
  --role R            principal.roles (repeatable)      --tenant T   principal.tenant
  --subject S         principal.subject
  --path P            request.path                      default /v1/chat/completions
  --model M           request.model
  --time ISO          Evaluate time-of-day conditions at this instant (default: now)
  --json              Print the full result as JSON
  -h, --help          Show this help
`

const SCHEMA_HELP = `Usage: chaperone schema [--process]

Prints the JSON Schema of policy files (or, with --process, of chaperone.yaml) for editors.
`

const INJECT_WEBHOOK_HELP = `Usage: chaperone inject-webhook [--listen HOST:PORT] [--tls-cert FILE] [--tls-key FILE] [--sidecar-config FILE]

Serves the mutating admission webhook (AdmissionReview v1, POST /mutate; GET /healthz) that adds
the Chaperone sidecar to pods labelled chaperone.dev/inject: "true". The certificate and key are
re-read every 30 s, so a rotated Secret is served without a restart.

  --listen HOST:PORT      HTTPS listener       default 0.0.0.0:8443
  --tls-cert FILE         Certificate (PEM)    default /etc/chaperone-webhook/tls.crt
  --tls-key FILE          Private key (PEM)    default /etc/chaperone-webhook/tls.key
  --sidecar-config FILE   Sidecar settings (YAML: image, ports, configMap, adminSecret,
                          resources, env, nativeSidecar); without it the built-in defaults
  -h, --help              Show this help

Pod annotations: chaperone.dev/upstream-port, chaperone.dev/listen-port, chaperone.dev/admin-port,
chaperone.dev/config (policies ConfigMap). An invalid one refuses the pod with a message.
`

export const DEFAULT_WEBHOOK_LISTEN = '0.0.0.0:8443'
export const DEFAULT_WEBHOOK_CERT = '/etc/chaperone-webhook/tls.crt'
export const DEFAULT_WEBHOOK_KEY = '/etc/chaperone-webhook/tls.key'

export function parseCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Command {
  const [cmd, ...rest] = argv
  const configDefault = env.CHAPERONE_CONFIG || DEFAULT_CONFIG_DIR
  try {
    switch (cmd) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        return { name: 'help', text: TOP_HELP }
      case 'audit':
        return { name: 'audit', argv: [...rest] }
      case 'serve': {
        const { values } = parseArgs({
          args: rest as string[],
          options: { config: { type: 'string' }, listen: { type: 'string' }, upstream: { type: 'string' }, admin: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
          strict: true,
        })
        if (values.help) return { name: 'help', text: SERVE_HELP }
        const c: Command = { name: 'serve', configDir: values.config ?? configDefault }
        const listen = values.listen ?? (env.CHAPERONE_LISTEN || undefined)
        const upstream = values.upstream ?? (env.CHAPERONE_UPSTREAM || undefined)
        const admin = values.admin ?? (env.CHAPERONE_ADMIN || undefined)
        if (listen) c.listen = listen
        if (upstream) c.upstream = upstream
        if (admin) c.admin = admin
        return c
      }
      case 'demo': {
        const { values } = parseArgs({
          args: rest as string[],
          options: { config: { type: 'string' }, 'pace-ms': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
          strict: true,
        })
        if (values.help) return { name: 'help', text: DEMO_HELP }
        const c: Command = { name: 'demo', configDir: values.config ?? configDefault }
        if (values['pace-ms'] !== undefined) {
          const n = Number(values['pace-ms'])
          if (!Number.isInteger(n) || n < 0) return { name: 'error', text: '--pace-ms takes a whole number of milliseconds\n' + DEMO_HELP }
          c.paceMs = n
        }
        return c
      }
      case 'validate': {
        const { values, positionals } = parseArgs({ args: rest as string[], options: { help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true })
        if (values.help) return { name: 'help', text: VALIDATE_HELP }
        if (positionals.length > 1) return { name: 'error', text: 'validate takes one directory\n' + VALIDATE_HELP }
        return { name: 'validate', configDir: positionals[0] ?? configDefault }
      }
      case 'check': {
        const { values } = parseArgs({
          args: rest as string[],
          options: {
            config: { type: 'string' },
            text: { type: 'string' },
            file: { type: 'string' },
            direction: { type: 'string' },
            region: { type: 'string' },
            tier: { type: 'string' },
            tenant: { type: 'string' },
            subject: { type: 'string' },
            role: { type: 'string', multiple: true },
            path: { type: 'string' },
            model: { type: 'string' },
            time: { type: 'string' },
            json: { type: 'boolean' },
            help: { type: 'boolean', short: 'h' },
          },
          strict: true,
        })
        if (values.help) return { name: 'help', text: CHECK_HELP }
        if ((values.text === undefined) === (values.file === undefined)) return { name: 'error', text: 'check needs exactly one of --text and --file\n' + CHECK_HELP }
        const direction = values.direction ?? 'response'
        if (direction !== 'request' && direction !== 'response') return { name: 'error', text: '--direction is request or response\n' + CHECK_HELP }
        const input: CheckInput = {
          direction,
          principal: {
            roles: values.role ?? [],
            ...(values.region !== undefined && { region: values.region }),
            ...(values.tier !== undefined && { tier: values.tier }),
            ...(values.tenant !== undefined && { tenant: values.tenant }),
            ...(values.subject !== undefined && { subject: values.subject }),
          },
          request: { ...(values.path !== undefined && { path: values.path }), ...(values.model !== undefined && { model: values.model }) },
          ...(values.time !== undefined && { time: values.time }),
          ...(values.text !== undefined && { text: values.text }),
          ...(values.file !== undefined && { textFile: values.file }),
        }
        return { name: 'check', configDir: values.config ?? configDefault, input, json: values.json === true }
      }
      case 'schema': {
        const { values } = parseArgs({ args: rest as string[], options: { help: { type: 'boolean', short: 'h' }, process: { type: 'boolean' } }, strict: true })
        if (values.help) return { name: 'help', text: SCHEMA_HELP }
        return { name: 'schema', process: values.process === true }
      }
      case 'inject-webhook': {
        const { values } = parseArgs({
          args: rest as string[],
          options: {
            listen: { type: 'string' },
            'tls-cert': { type: 'string' },
            'tls-key': { type: 'string' },
            'sidecar-config': { type: 'string' },
            help: { type: 'boolean', short: 'h' },
          },
          strict: true,
        })
        if (values.help) return { name: 'help', text: INJECT_WEBHOOK_HELP }
        const listen = values.listen ?? DEFAULT_WEBHOOK_LISTEN
        if (!splitHostPort(listen)) return { name: 'error', text: `--listen takes host:port, e.g. 0.0.0.0:8443\n${INJECT_WEBHOOK_HELP}` }
        return {
          name: 'inject-webhook',
          listen,
          tlsCert: values['tls-cert'] ?? DEFAULT_WEBHOOK_CERT,
          tlsKey: values['tls-key'] ?? DEFAULT_WEBHOOK_KEY,
          ...(values['sidecar-config'] !== undefined && { sidecarConfig: values['sidecar-config'] }),
        }
      }
      default:
        return { name: 'error', text: `unknown command: ${cmd}\n\n${TOP_HELP}` }
    }
  } catch (err) {
    return { name: 'error', text: `${(err as Error).message}\n` }
  }
}
