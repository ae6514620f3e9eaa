// Owns where the installed package keeps what `danube install` ships besides code: install/ (the systemd
// unit, manifests, gen-keys.sh) and bin/run.js, both beside dist/ in the package (see "files" in package.json).

import path from 'node:path'
import {fileURLToPath} from 'node:url'

/** The package root: dist/lib/install/ (or src/lib/install/ under tsx) is three levels below it. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
export const ASSETS_DIR = path.join(PACKAGE_ROOT, 'install')
export const DANUBE_BIN = path.join(PACKAGE_ROOT, 'bin/run.js')
