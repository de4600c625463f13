#!/bin/sh
# vigil alert hook: write each event to syslog (journald) with logger(1),
# at warning priority for failures and fencing, notice otherwise.
#
#   alert "syslog" {
#     exec = "/etc/vigil/alerts/syslog.sh"
#   }
set -eu

prio=daemon.notice
case "$VIGIL_ALERT_EVENT:$VIGIL_ALERT_RESULT" in
node-failed:* | node-offline:* | fence:* | resource-failed:* | group-failed:* | group-blocked:* | violation:*)
	prio=daemon.warning ;;
esac

exec logger -t vigil-alert -p "$prio" -- \
	"cluster=$VIGIL_ALERT_CLUSTER kind=$VIGIL_ALERT_KIND event=$VIGIL_ALERT_EVENT node=$VIGIL_ALERT_NODE group=$VIGIL_ALERT_GROUP seq=$VIGIL_ALERT_SEQUENCE: $VIGIL_ALERT_MESSAGE"
