#!/usr/bin/env node
// Proves the suite is hermetic: answers HTTP on the default agent addresses (127.0.0.1:7480 and 7481, or
// the addresses given as arguments) with a plausible but foreign agent, so that any test or CLI call that
// falls back to a default address gets an answer it must not trust. .ci/run starts it before the suite:
//   node scripts/decoy-listeners.js & DECOY=$!; ...; kill $DECOY
// It prints "decoy listening on ADDR" per address once listening, and exits 1 if a port is taken.
import {createServer} from 'node:http'

const addrs = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['127.0.0.1:7480', '127.0.0.1:7481']
const DECOY_STATE_ID = 'decoy0000000000000000000000000000'

const body = JSON.stringify({
  status: 'pass', version: '0.0.0-decoy', releaseId: '0.0.0-decoy', serviceId: 'danube-agent', description: 'decoy: not a test agent',
  time: new Date().toISOString(), stateId: DECOY_STATE_ID, checks: {},
})

for (const addr of addrs) {
  const at = addr.lastIndexOf(':')
  const host = addr.slice(0, at)
  const port = Number(addr.slice(at + 1))
  const server = createServer((req, res) => {
    process.stderr.write(`decoy ${addr}: ${req.method} ${req.url}\n`)
    res.writeHead(200, {'Content-Type': 'application/health+json', 'Danube-State-Id': DECOY_STATE_ID})
    res.end(body)
  })
  server.on('error', (error) => {
    process.stderr.write(`decoy: cannot listen on ${addr}: ${error.code ?? error.message}\n`)
    process.exit(1)
  })
  server.listen(port, host, () => process.stdout.write(`decoy listening on ${addr}\n`))
}
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0))
