// The test API server for the booted-Debian system test (scripts/system-test.sh): listens on the host's
// loopback, which the nspawn container shares. One Ready node, and Dex and registry pods Ready as their
// Deployments would run them (the test API server has no controllers). Writes the kubeconfig to argv[2],
// prints "ready <url>", and stops on SIGTERM.
import {KubeApiServer} from '../support/kube-api-server.js'
import {runningPod} from '../support/kube/pods.js'

const file = process.argv[2]
if (!file) throw new Error('usage: kube-server.ts KUBECONFIG_FILE')
const server = new KubeApiServer()
await server.start()
server.applied.addNode('danube-system-test', true)
server.createNamespace('danube-system')
server.createPod('danube-system', runningPod({name: 'dex-5d9c7b8f6-abcde', labels: {'app.kubernetes.io/name': 'dex'}}))
server.createPod('danube-system', runningPod({name: 'registry-7f8d9c6b5-fghij', labels: {'app.kubernetes.io/name': 'registry'}}))
server.writeKubeconfig({file})
process.stdout.write(`ready ${server.url}\n`)
process.on('SIGTERM', () => void server.stop().then(() => process.exit(0)))
