package agent

import (
	"strconv"
	"strings"
	"time"
)

// metaStoreKey gossips that this node cannot write its raft stores: "unix
// seconds since it began, space, the error" (storeMeta). A full disk leaves
// the node answering heartbeats and renewing its lease, so nothing else
// would show it, while it takes no part in commits.
const metaStoreKey = "store"

// storeErrMax keeps the error within the 512 bytes of node metadata.
const storeErrMax = 80

// storeMeta gossips our raft stores' write error, if any.
func (a *Agent) storeMeta(extra map[string]string) {
	msg, since, _ := a.raft.StoreError()
	if msg == "" {
		return
	}
	if len(msg) > storeErrMax {
		msg = msg[:storeErrMax]
	}
	extra[metaStoreKey] = strconv.FormatInt(since.Unix(), 10) + " " + msg
}

// storeWarning is the status warning for a node that gossips a store error.
func storeWarning(extra map[string]string) string {
	v, ok := extra[metaStoreKey]
	if !ok {
		return ""
	}
	secs, msg, _ := strings.Cut(v, " ")
	n, err := strconv.ParseInt(secs, 10, 64)
	when := "now"
	if err == nil {
		when = "since " + time.Unix(n, 0).UTC().Format(time.RFC3339)
	}
	return "cannot write its raft log " + when + " (" + msg + "): it stores no new entry and takes no part in " +
		"commits, so one more node lost costs the quorum; free space in its data_dir (it catches up by itself)"
}

// storeCheck logs a change of our raft stores' write health and returns
// when to look again (nil: when StoreChanges signals): the error is
// reported until a while after the last failure, a time known in advance.
func (a *Agent) storeCheck(failing bool) (bool, <-chan time.Time) {
	msg, since, until := a.raft.StoreError()
	switch {
	case msg != "" && !failing:
		a.log.Error("cannot write the raft log: this node takes no part in commits",
			"error", msg, "since", since.UTC().Format(time.RFC3339))
	case msg == "" && failing:
		a.log.Info("the raft log is writable again")
	}
	if msg == "" {
		return false, nil
	}
	return true, time.After(time.Until(until) + time.Millisecond)
}
