// Owns checking `danube install`'s options before anything runs (one clear line per bad flag) and the
// confirmation question on a terminal.

import {existsSync, statSync} from 'node:fs'
import {createInterface} from 'node:readline/promises'

import {checkSetting, SETTINGS_BY_KEY} from '../config/settings.js'
import {usageError} from '../errors.js'
import type {InstallOptions} from './options.js'

export function checkInstallOptions(options: InstallOptions): void {
  if (!existsSync(options.root) || !statSync(options.root).isDirectory()) throw usageError(`--root ${options.root} is not a directory`, 'pass an existing directory, or / (the default)')
  for (const [flag, key, value] of [['--http-addr', 'http.addr', options.httpAddr], ['--grpc-addr', 'grpc.addr', options.grpcAddr]] as const) {
    const problem = checkSetting(SETTINGS_BY_KEY.get(key)!, value)
    if (problem) throw usageError(`invalid ${flag} ${JSON.stringify(value)}: ${problem}`)
  }
  if (!/^v\d+\.\d+\.\d+\+k3s\d+$/.test(options.k3sVersion)) throw usageError(`invalid --k3s-version ${JSON.stringify(options.k3sVersion)}: expected a K3s release such as v1.36.4+k3s1`)
  if (!/^\d+\.\d+\.\d+$/.test(options.ciliumVersion)) throw usageError(`invalid --cilium-version ${JSON.stringify(options.ciliumVersion)}: expected a Cilium release such as 1.20.2`)
  for (const [flag, file] of [['--k3s-installer', options.k3sInstaller], ['--cilium-cli', options.ciliumCli]] as const) {
    if (file !== undefined && !existsSync(file)) throw usageError(`${flag} ${file} does not exist`)
  }
  if (options.airgap !== undefined && !(existsSync(options.airgap) && statSync(options.airgap).isDirectory())) throw usageError(`--airgap ${options.airgap} is not a directory`)
  for (const [flag, url] of [['--dex-issuer', options.dexIssuer], ['--registry-url', options.registryUrl]] as const) {
    if (url && !/^https?:\/\/[^\s/]+/.test(url)) throw usageError(`invalid ${flag} ${JSON.stringify(url)}: expected an http:// or https:// URL, or "" to leave the check off`)
  }
}

export async function confirmInstall(root: string): Promise<boolean> {
  const prompt = createInterface({input: process.stdin, output: process.stderr})
  try {
    const answer = await prompt.question(`Install K3s, Cilium, Dex, the registry and the Danube agent ${root === '/' ? 'on this machine' : `under ${root}`}? [y/N] `)
    return /^y(es)?$/i.test(answer.trim())
  } finally {
    prompt.close()
  }
}
