#!/bin/sh
# ec2sim on_stopped hook for the demo: an instance that reads "stopped" must
# really be off, so kill its node's vigil agent and haproxy (SIGKILL, like a
# power cut: no clean shutdown, and it works on a frozen agent too).
# ec2sim runs it with INSTANCE_ID set; demo.sh keeps pid files in the demo dir.
D=${VIGIL_DEMO_DIR:-/tmp/vigil-ec2-pair}
case "$INSTANCE_ID" in
i-0a1b2c3d4e5f60001) node=lb1 ;;
i-0a1b2c3d4e5f60002) node=lb2 ;;
i-0a1b2c3d4e5f60003) node=witness ;;
*) echo "power-off: unknown instance $INSTANCE_ID" >&2; exit 1 ;;
esac
for f in "$D/$node/vigil.pid" "$D/$node/haproxy.pid"; do
	pid=$(cat "$f" 2>/dev/null) || continue
	kill -KILL "$pid" 2>/dev/null
	rm -f "$f"
done
echo "power-off: $node ($INSTANCE_ID) is off"
exit 0
