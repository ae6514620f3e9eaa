// Writes schemas/job-spec.v1.json and the generated key table of docs/job-spec.md from the zod schema in
// dist/lib/jobs/spec.js (run by `npm run build` after tsc). test/unit/lib/job-spec-reference.test.ts fails
// when the committed files differ from what this writes.
import {readFileSync, renameSync, writeFileSync, mkdirSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const {jobSpecSchemaText, jobSpecReference, REFERENCE_BEGIN, REFERENCE_END} = await import(path.join(root, 'dist/lib/jobs/spec-reference.js'))

const write = (file, text) => {
  mkdirSync(path.dirname(file), {recursive: true})
  writeFileSync(`${file}.tmp`, text)
  renameSync(`${file}.tmp`, file)
}

write(path.join(root, 'schemas/job-spec.v1.json'), jobSpecSchemaText())
const docs = path.join(root, 'docs/job-spec.md')
const text = readFileSync(docs, 'utf8')
const begin = text.indexOf(REFERENCE_BEGIN)
const end = text.indexOf(REFERENCE_END)
if (begin === -1 || end === -1) throw new Error(`${docs}: the generated-section markers are missing`)
write(docs, `${text.slice(0, begin)}${jobSpecReference()}${text.slice(end + REFERENCE_END.length)}`)
console.log('job spec: schemas/job-spec.v1.json, docs/job-spec.md')
