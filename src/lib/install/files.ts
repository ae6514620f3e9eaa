// Owns the text of the files `danube install` writes from its flags: K3s's config.yaml (every server flag,
// so the upstream installer's re-runs and upgrades keep them), Cilium's Helm values and /etc/danube/config.yaml.


import {SETTINGS_BY_KEY} from '../config/settings.js'
import {yaml} from '../yaml.js'
import {K3S_CONFIG_MARKER} from './preflight.js'
import {AGENT_USER, type InstallOptions, NAMESPACES, PATHS} from './options.js'

export const POD_CIDR = '10.42.0.0/16'
export const SERVICE_CIDR = '10.43.0.0/16'

export function k3sConfig(): string {
  const config = {
    'flannel-backend': 'none',
    'disable-network-policy': true,
    'disable-kube-proxy': true,
    // Traefik and ServiceLB are not used: Dex and the registry are reached through their Services.
    disable: ['traefik', 'servicelb'],
    'cluster-cidr': POD_CIDR,
    'service-cidr': SERVICE_CIDR,
    'write-kubeconfig-mode': '0640',
    'write-kubeconfig-group': AGENT_USER,
  }
  return `${K3S_CONFIG_MARKER}; K3s reads it on every start, so re-runs and upgrades of its installer keep these flags.\n${yaml().stringify(config)}`
}

/** `cilium install --set` values: kube-proxy-free on K3s (the CLI does not auto-detect it there), one operator. */
export function ciliumValues(): string[] {
  return [
    `ipam.operator.clusterPoolIPv4PodCIDRList=${POD_CIDR}`,
    'kubeProxyReplacement=true',
    'k8sServiceHost=127.0.0.1',
    'k8sServicePort=6444',
    'operator.replicas=1',
  ]
}

/** systemd-networkd must not delete Cilium's routes and rules (it removes "foreign" ones on reload). */
export const NETWORKD_DROP_IN = '# Written by danube install: keep Cilium\'s routes and policy rules when systemd-networkd reloads.\n[Network]\nManageForeignRoutes=no\nManageForeignRoutingPolicyRules=no\n'

/** /etc/danube/config.yaml as the flags describe it. Keys the running build does not know are left out. */
export function danubeConfig(options: Pick<InstallOptions, 'httpAddr' | 'grpcAddr' | 'dexIssuer' | 'registryUrl'>): string {
  const known = (key: string) => SETTINGS_BY_KEY.has(key)
  const config: Record<string, unknown> = {
    stateDir: PATHS.stateDir,
    http: {addr: options.httpAddr},
    grpc: {addr: options.grpcAddr},
    jobs: {executor: 'local', ...(known('jobs.local.sandbox') ? {local: {sandbox: 'bubblewrap'}} : {})},
    kubernetes: {kubeconfig: PATHS.k3sKubeconfig, jobNamespace: NAMESPACES.jobs},
    health: {
      namespace: NAMESPACES.system,
      ...(options.dexIssuer ? {dex: {issuer: options.dexIssuer}} : {}),
      ...(options.registryUrl ? {registry: {url: options.registryUrl}} : {}),
    },
    ...(known('keys.dir') ? {keys: {dir: PATHS.keysDir}} : {}),
  }
  return `# Written by danube install. Edit freely: a re-run shows the difference and keeps your file unless --force.\n${yaml().stringify(config)}`
}
