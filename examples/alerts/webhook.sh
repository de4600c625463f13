#!/bin/sh
# vigil alert hook: POST each event as JSON to the URL in the alert's
# recipient (a Slack/Mattermost-compatible "text" field plus the details).
#
#   alert "webhook" {
#     exec      = "/etc/vigil/alerts/webhook.sh"
#     recipient = "https://hooks.example.org/services/T000/B000/XXXX"
#     timeout   = "10s"
#     events    = ["node", "group", "fence", "leader"]
#   }
#
# The agent kills the hook after its timeout; curl's own timeout is shorter
# so that the failure is curl's message in the agent's log.
set -eu

json() { # a JSON string: escape backslashes, quotes and control characters
	printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' | tr -d '\n\r')"
}

body=$(printf '{"text":%s,"cluster":%s,"kind":%s,"event":%s,"node":%s,"group":%s,"result":%s,"time":%s,"sequence":%s,"reported_by":%s}' \
	"$(json "[$VIGIL_ALERT_CLUSTER] $VIGIL_ALERT_MESSAGE")" \
	"$(json "$VIGIL_ALERT_CLUSTER")" "$(json "$VIGIL_ALERT_KIND")" "$(json "$VIGIL_ALERT_EVENT")" \
	"$(json "$VIGIL_ALERT_NODE")" "$(json "$VIGIL_ALERT_GROUP")" "$(json "$VIGIL_ALERT_RESULT")" \
	"$(json "$VIGIL_ALERT_TIME")" "$VIGIL_ALERT_SEQUENCE" "$(json "$VIGIL_ALERT_LOCAL_NODE")")

exec curl --silent --show-error --fail --max-time 8 \
	-H 'Content-Type: application/json' --data-binary "$body" "$VIGIL_ALERT_RECIPIENT"
