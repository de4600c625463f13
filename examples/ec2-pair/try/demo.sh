#!/bin/sh
# Try the EC2 pair on one Linux machine, without an AWS account: the EC2
# simulator (test/ec2sim) plays EC2 and IMDS, three vigil agents play lb1,
# lb2 and the witness on loopback addresses, each with its own IMDS.
#
#   demo.sh up            build, make keys and configs, start the simulator and the agents
#   demo.sh status        vigil status (from the first agent that answers)
#   demo.sh fail NODE     hang NODE's agent (SIGSTOP): the cluster must stop its instance, then move the EIP
#   demo.sh start NODE    boot NODE again (its instance reads running, its agent starts)
#   demo.sh log           the simulator's event log (API calls and state changes)
#   demo.sh down          stop everything
#
# Settings (environment): VIGIL_DEMO_DIR (default /tmp/vigil-ec2-pair),
# VIGIL and EC2SIM (prebuilt binaries; default: built with go into the demo dir).
# Run it from anywhere; no root needed. Needs go (unless VIGIL and EC2SIM are
# set), haproxy and curl.
set -eu
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
EX=$ROOT/examples/ec2-pair
D=${VIGIL_DEMO_DIR:-/tmp/vigil-ec2-pair}
export VIGIL_DEMO_DIR=$D
VIGIL=${VIGIL:-$D/bin/vigil}
EC2SIM=${EC2SIM:-$D/bin/ec2sim}
API=http://127.0.0.1:8900
NODES="lb1 lb2 witness"

ip_of() { case $1 in lb1) echo 11 ;; lb2) echo 12 ;; witness) echo 13 ;; *) echo "unknown node $1" >&2; exit 2 ;; esac; }
instance_of() { echo "i-0a1b2c3d4e5f6000$(($(ip_of "$1") - 10))"; }
alive() { pid=$(cat "$1" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; }

# node_config NODE: examples/ec2-pair/vigil.hcl with the demo's addresses
# (10.0.1.x -> 127.0.0.x, 10.0.9.x -> 127.0.1.x) and paths.
node_config() {
	n=$1 dir=$D/$1
	sed -e "s|^node_name *=.*|node_name = \"$n\"|" \
		-e 's|10\.0\.1\.1\([0-9]\)|127.0.0.1\1|g' -e 's|10\.0\.9\.1\([0-9]\)|127.0.1.1\1|g' \
		-e "s|/etc/vigil/|$dir/|g" -e "s|/var/lib/vigil|$dir/data|g" -e "s|/run/vigil/vigil.sock|$dir/vigil.sock|g" \
		-e "s|/etc/haproxy/haproxy.cfg|$dir/haproxy.cfg|g" -e "s|/run/vigil-haproxy.pid|$dir/haproxy.pid|g" \
		"$EX/vigil.hcl" >"$dir/vigil.hcl"
	# Each "instance" serves a page naming itself on its own address.
	cat >"$dir/haproxy.cfg" <<CFG
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend www
    bind 127.0.0.$(ip_of "$n"):8080
    http-request return status 200 content-type text/plain string "served by $n\n"
CFG
}

start_agent() {
	n=$1
	alive "$D/$n/vigil.pid" && { echo "$n is already running"; return 0; }
	(
		cd "$D/$n"
		env AWS_ENDPOINT_URL_EC2=$API AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:89$(ip_of "$n") \
			AWS_REGION=eu-west-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
			"$VIGIL" agent -config "$D/$n/vigil.hcl" </dev/null >>"$D/$n/agent.log" 2>&1 &
		echo $! >"$D/$n/vigil.pid"
	)
	echo "started $n (log $D/$n/agent.log)"
}

up() {
	mkdir -p "$D/bin"
	if [ ! -x "$VIGIL" ] || [ ! -x "$EC2SIM" ]; then
		(cd "$ROOT" && go build -o "$D/bin/vigil" ./cmd/vigil && go build -o "$D/bin/ec2sim" ./test/ec2sim/cmd/ec2sim)
	fi
	if [ ! -f "$D/gossip.key" ]; then
		mkdir -p "$D/tls"
		"$VIGIL" keygen -out "$D/gossip.key" >/dev/null
		"$VIGIL" tls ca create -dir "$D/tls" >/dev/null
	fi
	for n in $NODES; do
		mkdir -p "$D/$n/tls" "$D/$n/data"
		chmod 700 "$D/$n" "$D/$n/data"
		[ -f "$D/tls/$n.pem" ] || "$VIGIL" tls cert create -dir "$D/tls" -node "$n" -ip "127.0.0.$(ip_of "$n")" -ip "127.0.1.$(ip_of "$n")" >/dev/null
		install -m 600 "$D/gossip.key" "$D/$n/gossip.key"
		install -m 644 "$D/tls/ca.pem" "$D/$n/tls/ca.pem"
		install -m 644 "$D/tls/$n.pem" "$D/$n/tls/node.pem"
		install -m 600 "$D/tls/$n-key.pem" "$D/$n/tls/node-key.pem"
		node_config "$n"
		"$VIGIL" config validate "$D/$n/vigil.hcl" >/dev/null
	done
	if ! alive "$D/ec2sim.pid"; then
		# The stop hook path in ec2sim.json is relative to the repository root.
		(cd "$ROOT" && "$EC2SIM" -config "$EX/try/ec2sim.json" </dev/null >>"$D/ec2sim.log" 2>&1 & echo $! >"$D/ec2sim.pid")
		i=0
		until curl -sf "$API/_sim/knobs" >/dev/null; do
			i=$((i + 1))
			[ $i -lt 100 ] || { echo "ec2sim did not come up; see $D/ec2sim.log" >&2; exit 1; }
			sleep 0.1
		done
		echo "ec2sim serving on $API (log $D/ec2sim.log)"
	fi
	for n in $NODES; do start_agent "$n"; done
	echo "try: $0 status; curl http://127.0.0.11:8080/; $0 fail lb1; $0 status; $0 log"
}

status() {
	for n in $NODES; do
		if [ -S "$D/$n/vigil.sock" ] && "$VIGIL" status -address "unix://$D/$n/vigil.sock" "$@" 2>/dev/null; then
			return 0
		fi
	done
	echo "no agent answers" >&2
	return 1
}

case ${1:-} in
up) up ;;
status) shift; status "$@" ;;
fail)
	n=${2:?usage: demo.sh fail NODE}
	ip_of "$n" >/dev/null
	kill -STOP "$(cat "$D/$n/vigil.pid")"
	echo "$n hangs (agent frozen, haproxy still running): watch $0 status"
	;;
start)
	n=${2:?usage: demo.sh start NODE}
	curl -sf -X POST "$API/_sim/instances/$(instance_of "$n")/state?state=running" >/dev/null
	start_agent "$n"
	;;
log) curl -sf "$API/_sim/log" ;;
down)
	for f in "$D"/*/vigil.pid "$D"/*/haproxy.pid "$D/ec2sim.pid"; do
		pid=$(cat "$f" 2>/dev/null) || continue
		kill -KILL "$pid" 2>/dev/null || true
		rm -f "$f"
	done
	echo "stopped; remove $D to start from scratch"
	;;
*)
	sed -n '2,16p' "$0"
	exit 2
	;;
esac
