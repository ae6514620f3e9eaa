// Test-only TLS material for the Kubernetes test API server: a throwaway CA and a server certificate
// for 127.0.0.1/localhost, made with the openssl CLI (node:crypto cannot issue X.509 certificates).
// EC P-256 keys keep generation to a few tens of milliseconds.

import {execFile} from 'node:child_process'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

const run = promisify(execFile)

export interface TlsMaterial {
  /** PEM of the CA that signed the server certificate (goes into certificate-authority-data). */
  caCert: string
  serverCert: string
  serverKey: string
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, {cwd})
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new Error('the Kubernetes test API server needs the openssl CLI on PATH to make its certificates')
    throw error
  }
}

/** Makes a fresh CA and a server certificate (SAN IP:127.0.0.1, DNS:localhost) signed by it. */
export async function generateTls(commonName = 'danube-test-ca'): Promise<TlsMaterial> {
  const dir = await mkdtemp(path.join(tmpdir(), 'danube-kube-tls-'))
  try {
    await openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'])
    await openssl(dir, ['req', '-x509', '-new', '-key', 'ca.key', '-subj', `/CN=${commonName}`, '-days', '2', '-out', 'ca.crt',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
    await openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'server.key'])
    await openssl(dir, ['req', '-new', '-key', 'server.key', '-subj', '/CN=kube-apiserver', '-out', 'server.csr'])
    await writeFile(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
    await openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
      '-extfile', 'ext.cnf', '-out', 'server.crt'])
    const [caCert, serverCert, serverKey] = await Promise.all(['ca.crt', 'server.crt', 'server.key'].map((file) => readFile(path.join(dir, file), 'utf8')))
    return {caCert: caCert!, serverCert: serverCert!, serverKey: serverKey!}
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}

let shared: Promise<TlsMaterial> | undefined

/** One CA per test process: servers in the same file share it, which keeps start() fast. */
export function sharedTls(): Promise<TlsMaterial> {
  shared ??= generateTls()
  return shared
}
