package consensus

import (
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// failingLogs fails its writes while full is set, as a full disk does.
type failingLogs struct {
	raft.LogStore
	full bool
}

func (f *failingLogs) StoreLogs(ls []*raft.Log) error {
	if f.full {
		return &fs.PathError{Op: "write", Path: "/var/lib/vigil/raft/raft.db", Err: syscall.ENOSPC}
	}
	return f.LogStore.StoreLogs(ls)
}

// A node whose disk fills up says so (StoreError, StoreChanges) from the
// first failed write until storeErrorHold after the last one: a write that
// still fits in the store's free pages does not end it.
func TestStoreErrorHeldAfterTheLastFailedWrite(t *testing.T) {
	var n Node
	clock := time.Unix(1764528000, 0)
	n.writes.now = func() time.Time { return clock }
	store := &failingLogs{LogStore: raft.NewInmemStore()}
	logs := watchedLogs{store, &n.writes}
	changes := n.StoreChanges()
	entry := func(i uint64) []*raft.Log { return []*raft.Log{{Index: i, Term: 1, Type: raft.LogCommand}} }
	signalled := func() bool {
		select {
		case <-changes:
			return true
		default:
			return false
		}
	}

	if err := logs.StoreLogs(entry(1)); err != nil {
		t.Fatal(err)
	}
	if msg, _, _ := n.StoreError(); msg != "" || signalled() {
		t.Fatalf("StoreError %q (or a signal) after a good write", msg)
	}

	store.full = true
	began := clock
	for i := uint64(2); i < 5; i++ {
		if err := logs.StoreLogs(entry(i)); err == nil {
			t.Fatal("the full store took a write")
		}
		clock = clock.Add(time.Second)
	}
	last := clock.Add(-time.Second)
	msg, since, until := n.StoreError()
	if msg != "write raft.db: no space left on device" || !since.Equal(began) || !until.Equal(last.Add(storeErrorHold)) {
		t.Errorf("StoreError = %q since %v until %v; want the short error since %v until %v", msg, since, until, began, last.Add(storeErrorHold))
	}
	if !signalled() {
		t.Error("no change signalled when writes began failing")
	}
	if signalled() {
		t.Error("a change signalled for every failed write")
	}

	store.full = false
	if err := logs.StoreLogs(entry(2)); err != nil {
		t.Fatal(err)
	}
	if msg, _, _ := n.StoreError(); msg == "" {
		t.Error("one good write ended the report")
	}
	clock = last.Add(storeErrorHold + time.Millisecond)
	if msg, _, _ := n.StoreError(); msg != "" {
		t.Errorf("StoreError %q a hold after the last failure", msg)
	}
	store.full = true
	_ = logs.StoreLogs(entry(3))
	if _, since, _ := n.StoreError(); !since.Equal(clock) || !signalled() {
		t.Errorf("a failure after the hold: since %v (want %v), or no signal", since, clock)
	}
	if s := shortStoreError(syscall.EIO); !strings.Contains(s, "input/output error") {
		t.Errorf("shortStoreError(EIO) = %q", s)
	}
}
