#!/usr/bin/env node
// oclif checks its own package's engines range against the running Node whenever it loads, which loads semver:
// about 20 ms of the 200 ms every command takes to start (`danube health --json` runs from cron; bench/README.md).
// danube's own range (package.json engines, >=20.19) is stricter than oclif's and is what an install checks.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= 'true'
const {execute} = await import('@oclif/core')

await execute({dir: import.meta.url})
