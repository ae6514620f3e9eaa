// Writes oclif.manifest.json so that `danube --help` and every command start without loading all
// command modules. Does what the `oclif manifest` dev tool does, with @oclif/core alone: that tool
// pulls in hundreds of packages (AWS SDK and all) for this one file.
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {Plugin} from '@oclif/core'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const plugin = new Plugin({root, type: 'core', isRoot: true, ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true})
await plugin.load()
const file = path.join(root, 'oclif.manifest.json')
writeFileSync(`${file}.tmp`, `${JSON.stringify(plugin.manifest, null, 2)}\n`)
const {renameSync} = await import('node:fs')
renameSync(`${file}.tmp`, file)
console.log(`oclif.manifest.json: ${Object.keys(plugin.manifest.commands).length} commands`)
