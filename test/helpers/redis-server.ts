import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createConnection, createServer } from 'node:net'

export interface RedisServer {
  url: string
  port: number
  /** SIGTERM and wait for the exit; safe to call twice, or after kill(). */
  stop(): Promise<void>
  /** SIGKILL and wait for the exit: a crash, as clients see it. */
  kill(): Promise<void>
  /** SIGSTOP: the socket stays open but nothing answers, as with a hung Redis. */
  pause(): void
  resume(): void
  /** Stops and starts again on the same port, empty (no persistence). */
  restart(): Promise<void>
  flush(): Promise<void>
}

const READY_TIMEOUT_MS = 10_000
/** Output kept to explain a failed start. */
const OUTPUT_KEPT = 4096

async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

/** Sends one inline command and resolves to the first line of the reply, or rejects. */
function command(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: '127.0.0.1' })
    let reply = ''
    socket.setTimeout(1000, () => socket.destroy(new Error('no reply')))
    socket.on('connect', () => socket.write(`${line}\r\n`))
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1')
      const end = reply.indexOf('\r\n')
      if (end >= 0) {
        socket.destroy()
        resolve(reply.slice(0, end))
      }
    })
    socket.on('error', reject)
  })
}

async function spawnServer(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--save', '', '--appendonly', 'no', '--port', String(port), '--bind', '127.0.0.1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const keep = (chunk: Buffer) => void (output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEPT))
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  let failure: Error | undefined
  child.once('error', (err: NodeJS.ErrnoException) => {
    failure =
      err.code === 'ENOENT'
        ? new Error('redis-server is not installed (not on PATH); install it (e.g. apt-get install redis-server) to run the Redis tests')
        : err
  })
  child.once('exit', (code, signal) => void (failure ??= new Error(`redis-server exited (${code ?? signal}) before answering PING:\n${output}`)))
  const deadline = performance.now() + READY_TIMEOUT_MS
  for (;;) {
    if (failure) throw failure
    if ((await command(port, 'PING').catch(() => '')) === '+PONG') return child
    if (performance.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms:\n${output}`)
    }
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The port is free when picked, but another process may take it before redis-server binds it. */
async function spawnOnFreePort(attempts = 3): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort()
  try {
    return { port, child: await spawnServer(port) }
  } catch (err) {
    if (attempts <= 1 || /not installed/.test((err as Error).message)) throw err
    return spawnOnFreePort(attempts - 1)
  }
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit').then(() => undefined)
}

/**
 * A real redis-server on a free loopback port, without persistence. The caller stops it in
 * t.teardown; an exit hook kills it too, should the test process end first.
 */
export async function startRedisServer(): Promise<RedisServer> {
  const started = await spawnOnFreePort()
  const port = started.port
  let child = started.child
  const killOnExit = () => child.kill('SIGKILL')
  process.on('exit', killOnExit)

  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return
    // A stopped process only acts on SIGTERM once continued.
    if (signal === 'SIGTERM') child.kill('SIGCONT')
    child.kill(signal)
    await exited(child)
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      await end('SIGTERM')
      process.off('exit', killOnExit)
    },
    kill: () => end('SIGKILL'),
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    async restart() {
      await end('SIGTERM')
      child = await spawnServer(port)
    },
    async flush() {
      const reply = await command(port, 'FLUSHALL')
      if (reply !== '+OK') throw new Error(`FLUSHALL answered ${reply}`)
    },
  }
}
