package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// stores are raft's log, stable and snapshot stores plus how to close them.
type stores struct {
	logs   raft.LogStore
	stable raft.StableStore
	snaps  raft.SnapshotStore
	close  func() error
}

// openStores opens the stores in cfg.DataDir; w, if set, notes every write
// to the log and stable stores (under the log cache: raft's cache wraps the
// store's errors in text).
func openStores(cfg *Config, log hclog.Logger, w *writeHealth) (*stores, error) {
	if cfg.InMem {
		m := raft.NewInmemStore()
		return &stores{logs: m, stable: m, snaps: raft.NewInmemSnapshotStore(), close: func() error { return nil }}, nil
	}
	dir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create raft data dir: %w", err)
	}
	dbPath := filepath.Join(dir, "raft.db")
	if err := checkBoltFile(dbPath); err != nil {
		return nil, err
	}
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path:        dbPath,
		BoltOptions: &bbolt.Options{Timeout: boltLockTimeout},
	})
	if err != nil {
		return nil, boltOpenError(dbPath, err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, quieter(log.Named("snapshot")))
	if err != nil {
		_ = bolt.Close()
		return nil, fmt.Errorf("raft snapshot store in %s: %w", dir, err)
	}
	// The leader reads the entry before each AppendEntries it sends (its
	// term), which at the fast preset's commit timeout is over a hundred
	// bolt reads and msgpack decodes a second at idle; the recent entries
	// come from memory instead (write-through, as Consul and Nomad do).
	var under raft.LogStore = bolt
	var stable raft.StableStore = bolt
	if w != nil {
		under, stable = watchedLogs{bolt, w}, watchedStable{bolt, w}
	}
	logs, err := raft.NewLogCache(logCacheSize, under)
	if err != nil {
		_ = bolt.Close()
		return nil, fmt.Errorf("raft log cache: %w", err)
	}
	return &stores{logs: logs, stable: stable, snaps: snaps, close: bolt.Close}, nil
}

// logCacheSize is how many recent raft entries stay in memory.
const logCacheSize = 512

func boltOpenError(path string, err error) error {
	switch {
	case errors.Is(err, bbolt.ErrTimeout):
		return fmt.Errorf("raft log store %s is locked by another process (is another vigil agent using this data dir?): %w", path, err)
	case errors.Is(err, bbolt.ErrInvalid), errors.Is(err, bbolt.ErrChecksum), errors.Is(err, bbolt.ErrVersionMismatch):
		return corruptError(path, err)
	}
	return fmt.Errorf("open raft log store %s: %w", path, err)
}

// ErrCorruptStore marks a raft.db that cannot be read safely. The file is
// never removed automatically: an operator decides whether to move it aside
// (the node then rejoins empty and catches up from the leader) or restore it.
var ErrCorruptStore = errors.New("raft log store is corrupt")

func corruptError(path string, cause error) error {
	return fmt.Errorf("%w: %s: %v; the file was left in place: move it aside to let this node rejoin "+
		"empty and catch up from the leader, or restore it from a backup", ErrCorruptStore, path, cause)
}

// bbolt layout (go.etcd.io/bbolt v1.3.x, native byte order): a 16-byte page
// header, then the meta page body.
const (
	boltPageHeader = 16
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	boltMetaSize   = 64 // magic..checksum
	// Page flag and "no freelist stored" marker.
	boltFreelistFlag = 0x10
	boltNoFreelist   = ^uint64(0)
)

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64 // high-water mark: pages the file must hold
	txid     uint64
}

// checkBoltFile refuses a raft.db that bbolt would crash on instead of
// rejecting: bbolt maps the file and trusts its meta page, so a truncated file
// faults (SIGBUS) on the first read past its end, and a damaged page panics.
// It checks the meta pages against the file size, then opens the file and
// reads every key with faults turned into errors. A missing or empty file is
// fine: bbolt creates it.
func checkBoltFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open raft log store %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat raft log store %s: %w", path, err)
	}
	if fi.Size() == 0 {
		return nil
	}
	if err := checkBoltMeta(f, fi.Size()); err != nil {
		return corruptError(path, err)
	}
	return walkBolt(path)
}

func checkBoltMeta(f io.ReaderAt, size int64) error {
	m, err := activeBoltMeta(f)
	if err != nil {
		return err
	}
	if need := int64(m.pgid) * int64(m.pageSize); size < need {
		return fmt.Errorf("file is truncated: %d bytes, but its meta page says it spans %d bytes", size, need)
	}
	if m.root >= m.pgid || (m.freelist >= m.pgid && m.freelist != boltNoFreelist) {
		return fmt.Errorf("meta page points past the end of the data (root %d, freelist %d, pages %d)", m.root, m.freelist, m.pgid)
	}
	if m.freelist == boltNoFreelist {
		return nil
	}
	return checkBoltFreelist(f, m)
}

// activeBoltMeta returns the meta page bbolt will use: the valid one with
// the higher transaction id.
func activeBoltMeta(f io.ReaderAt) (boltMeta, error) {
	m0, err0 := readBoltMeta(f, 0)
	pageSize := int64(os.Getpagesize())
	if err0 == nil {
		pageSize = int64(m0.pageSize)
	}
	m1, err1 := readBoltMeta(f, pageSize)
	switch {
	case err0 != nil && err1 != nil:
		return boltMeta{}, fmt.Errorf("no valid bolt meta page (page 0: %v; page 1: %v)", err0, err1)
	case err0 != nil:
		return m1, nil
	case err1 != nil || m0.txid >= m1.txid:
		return m0, nil
	}
	return m1, nil
}

// checkBoltFreelist checks what bbolt's freelist.read trusts: it runs inside
// bbolt.Open, where a panic cannot be recovered cleanly (the file stays
// mapped and locked).
func checkBoltFreelist(f io.ReaderAt, m boltMeta) error {
	ps := int64(m.pageSize)
	off := int64(m.freelist) * ps
	hdr := make([]byte, boltPageHeader+8)
	if _, err := f.ReadAt(hdr, off); err != nil {
		return fmt.Errorf("read freelist page %d: %w", m.freelist, err)
	}
	ne := binary.NativeEndian
	flags, count, overflow := ne.Uint16(hdr[8:]), uint64(ne.Uint16(hdr[10:])), uint64(ne.Uint32(hdr[12:]))
	if flags&boltFreelistFlag == 0 {
		return fmt.Errorf("page %d is not a freelist page (flags %#x)", m.freelist, flags)
	}
	if m.freelist+overflow >= m.pgid {
		return fmt.Errorf("freelist page %d overflows past the end of the data", m.freelist)
	}
	first := uint64(0)
	if count == 0xFFFF {
		count, first = ne.Uint64(hdr[boltPageHeader:]), 1
	}
	if room := (uint64(ps)*(overflow+1) - boltPageHeader) / 8; count > room || first+count > room {
		return fmt.Errorf("freelist page %d claims %d entries, room for %d", m.freelist, count, room)
	}
	ids := make([]byte, count*8)
	if _, err := f.ReadAt(ids, off+boltPageHeader+int64(first)*8); err != nil {
		return fmt.Errorf("read freelist: %w", err)
	}
	for i := range count {
		if id := ne.Uint64(ids[i*8:]); id < 2 || id >= m.pgid {
			return fmt.Errorf("freelist lists page %d, outside 2..%d", id, m.pgid-1)
		}
	}
	return nil
}

func readBoltMeta(f io.ReaderAt, off int64) (boltMeta, error) {
	buf := make([]byte, boltPageHeader+boltMetaSize)
	if _, err := f.ReadAt(buf, off); err != nil {
		return boltMeta{}, fmt.Errorf("read meta page at %d: %w", off, err)
	}
	b := buf[boltPageHeader:]
	le := binary.NativeEndian
	if le.Uint32(b[0:]) != boltMagic {
		return boltMeta{}, errors.New("bad magic (not a bolt database)")
	}
	if le.Uint32(b[4:]) != boltVersion {
		return boltMeta{}, fmt.Errorf("unsupported bolt version %d", le.Uint32(b[4:]))
	}
	h := fnv.New64a()
	_, _ = h.Write(b[:56])
	if h.Sum64() != le.Uint64(b[56:]) {
		return boltMeta{}, errors.New("meta page checksum mismatch")
	}
	m := boltMeta{
		pageSize: le.Uint32(b[8:]),
		root:     le.Uint64(b[16:]),
		freelist: le.Uint64(b[32:]),
		pgid:     le.Uint64(b[40:]),
		txid:     le.Uint64(b[48:]),
	}
	if m.pageSize < 512 || m.pageSize&(m.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("implausible page size %d", m.pageSize)
	}
	return m, nil
}

// walkBolt opens the file and reads every key of every bucket, recovering a
// panic or memory fault from bbolt into an error. It runs on its own goroutine
// because SetPanicOnFault is per goroutine.
func walkBolt(path string) error {
	done := make(chan error, 1)
	go func() {
		debug.SetPanicOnFault(true)
		var db *bbolt.DB
		defer func() {
			if p := recover(); p != nil {
				// View rolled its transaction back while panicking, so Close
				// unmaps the file and drops its lock. A panic inside Open
				// would leave both (checkBoltMeta covers what Open reads).
				if db != nil {
					func() { defer func() { _ = recover() }(); _ = db.Close() }()
				}
				done <- corruptError(path, fmt.Errorf("reading it failed: %v", p))
			}
		}()
		// Read-only: a shared lock, and Open reads nothing but the meta pages.
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: boltLockTimeout, ReadOnly: true})
		if err != nil {
			done <- boltOpenError(path, err)
			return
		}
		err = db.View(func(tx *bbolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error { return nil })
			})
		})
		cerr := db.Close()
		switch {
		case err != nil:
			done <- corruptError(path, err)
		case cerr != nil:
			done <- fmt.Errorf("close raft log store %s after checking it: %w", path, cerr)
		default:
			done <- nil
		}
	}()
	return <-done
}
