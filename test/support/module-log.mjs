// `node --import ./module-log.mjs`: logs every module the process resolves to $DANUBE_TEST_MODULE_LOG.
import {register} from 'node:module'

if (process.env.DANUBE_TEST_MODULE_LOG) {
  register('./module-log-hook.mjs', import.meta.url, {data: {file: process.env.DANUBE_TEST_MODULE_LOG}})
}
