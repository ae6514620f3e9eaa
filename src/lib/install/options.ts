// Owns what `danube install` can be told (flags), the pinned versions it installs, and where it puts
// things on the machine. One table of paths so that install, uninstall and the docs agree.

export const PINNED = {
  k3s: 'v1.36.4+k3s1',
  cilium: '1.20.2',
  ciliumCli: 'v0.20.0',
} as const

export const PATHS = {
  k3sConfig: '/etc/rancher/k3s/config.yaml',
  k3sKubeconfig: '/etc/rancher/k3s/k3s.yaml',
  k3sBinary: '/usr/local/bin/k3s',
  k3sUninstall: '/usr/local/bin/k3s-uninstall.sh',
  k3sKillall: '/usr/local/bin/k3s-killall.sh',
  k3sImages: '/var/lib/rancher/k3s/agent/images',
  ciliumCli: '/usr/local/bin/cilium',
  configDir: '/etc/danube',
  config: '/etc/danube/config.yaml',
  keysDir: '/etc/danube/keys',
  dexClientSecret: '/etc/danube/keys/dex-client-secret',
  provenanceKey: '/etc/danube/keys/provenance.key',
  stateDir: '/var/lib/danube',
  tokenFile: '/var/lib/danube/agent.token',
  database: '/var/lib/danube/danube.db',
  unit: '/etc/systemd/system/danube.service',
  networkdDropIn: '/etc/systemd/networkd.conf.d/10-danube.conf',
  danubeBinary: '/usr/local/bin/danube',
} as const

export const AGENT_USER = 'danube'
export const FIELD_MANAGER = 'danube-install'
export const NAMESPACES = {system: 'danube-system', jobs: 'danube-jobs'} as const

export interface InstallOptions {
  /** Prefix for every file (default /). */
  root: string
  dryRun: boolean
  /** Overwrite operator edits of /etc/danube/config.yaml (the diff is shown). */
  force: boolean
  forceOs: boolean
  skipPreflight: string[]
  k3sVersion: string
  /** The upstream K3s install script (offline); otherwise downloaded from the release tag. */
  k3sInstaller?: string
  /** Directory with the k3s binary and k3s-airgap-images-<arch>.tar[.zst|.gz]. */
  airgap?: string
  ciliumVersion: string
  /** The cilium CLI binary or its release tarball (offline). */
  ciliumCli?: string
  ciliumCliVersion: string
  httpAddr: string
  grpcAddr: string
  dexIssuer?: string
  registryUrl?: string
  timeouts: {k3sMs: number; apiMs: number; ciliumMs: number; nodeReadyMs: number; healthMs: number}
  /** Where the installed package keeps install/ (unit, manifests, gen-keys.sh). */
  assetsDir: string
  /** The command that runs `danube health` (the installed binary, or this process's own). */
  danubeCommand: readonly string[]
}
