// Owns loading the YAML library (`yaml`): synchronously, and only when something is to be parsed or written.
// `npm run build` writes the package as one bundled file next to this module's output (scripts/build-yaml.js):
// loading its 73 modules one by one took about 25 ms of the start-up of every command run with a config file, as
// every install has one (bench/README.md, operator.js). Run from source (the tests), the package itself is loaded.

import {createRequire} from 'node:module'

import type * as Yaml from 'yaml'

export type YamlLibrary = typeof Yaml

/** The bundle's name beside this module in dist/ (scripts/build-yaml.js writes it). */
export const YAML_BUNDLE = 'yaml.bundle.cjs'

let loaded: YamlLibrary | undefined

export function yaml(): YamlLibrary {
  if (!loaded) {
    const require = createRequire(import.meta.url)
    // Built code finds the bundle or fails loudly; there is no quiet fallback to the slower package.
    loaded = (import.meta.url.endsWith('.ts') ? require('yaml') : require(`./${YAML_BUNDLE}`)) as YamlLibrary
  }
  return loaded
}
