// @ts-check
// nginx as a reference proxy: same machine, same upstream, a minimal streaming-friendly config.
import { spawnSync } from 'node:child_process'
import { existsSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { aptInstall } from './apt.js'

export const NGINX_BIN = '/usr/sbin/nginx'
export const NGINX_WORKERS = 1

/**
 * Finds nginx, installing it with apt-get only when asked to.
 * @param {boolean} install
 * @returns {{ bin: string, version: string } | { skipped: string }}
 */
export function findNginx(install) {
  if (!existsSync(NGINX_BIN) && install) {
    const failed = aptInstall('nginx')
    if (failed) return { skipped: failed }
  }
  if (!existsSync(NGINX_BIN)) return { skipped: `${NGINX_BIN} not found (pass --install-nginx to install it with apt-get)` }
  const v = spawnSync(NGINX_BIN, ['-v'], { encoding: 'utf8' })
  const version = /nginx\/(\S+)/.exec(`${v.stdout}${v.stderr}`)?.[1] ?? 'unknown'
  return { bin: NGINX_BIN, version }
}

/**
 * Writes nginx.conf into `dir`. Keep-alive on both sides and no response buffering, as one would
 * configure nginx in front of an SSE upstream; access logging is off because Chaperone's request
 * log is not what is being compared.
 * @param {string} dir @param {number} listenPort @param {number} upstreamPort
 */
export function writeNginxConfig(dir, listenPort, upstreamPort) {
  mkdirSync(join(dir, 'temp'), { recursive: true })
  const conf = `daemon off;
worker_processes ${NGINX_WORKERS};
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'temp', 'body')};
  proxy_temp_path ${join(dir, 'temp', 'proxy')};
  fastcgi_temp_path ${join(dir, 'temp', 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'temp', 'uwsgi')};
  scgi_temp_path ${join(dir, 'temp', 'scgi')};
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  upstream chatbot {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${listenPort};
    location / {
      proxy_pass http://chatbot;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
`
  const file = join(dir, 'nginx.conf')
  writeFileSync(file, conf)
  const test = spawnSync(NGINX_BIN, ['-t', '-p', dir, '-c', file, '-e', join(dir, 'error.log')], { encoding: 'utf8' })
  if (test.status !== 0) throw new Error(`nginx rejected its config:\n${test.stderr}`)
  return file
}

/** @param {string} dir @param {string} file */
export function nginxArgs(dir, file) {
  return ['-p', dir, '-c', file, '-e', join(dir, 'error.log')]
}

