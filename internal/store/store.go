// Package store opens the ledger store that a --db value names: a SQLite
// file (the default) or a PostgreSQL database.
package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/store/postgres"
	"github.com/granaryhq/granary/internal/store/sqlite"
)

// DefaultDB is the --db value when none is given.
const DefaultDB = "granary.db"

// Store is an opened ledger store.
type Store interface {
	inventory.Store
	Ping(ctx context.Context) error // for readiness checks
	Close() error
	String() string // where it is, without secrets, for logs
}

// Kind says which backend a --db value selects.
type Kind string

// The backends.
const (
	SQLite   Kind = "sqlite"
	Postgres Kind = "postgres"
)

// Parse splits a --db value into its backend and the backend's address:
//
//	PATH                      SQLite file (created on first use)
//	sqlite:PATH               the same, explicitly
//	postgres://user@host/db   PostgreSQL (postgresql:// too); pgx URL syntax
//
// An empty value means DefaultDB. Another URL scheme wraps fleet.ErrInvalid.
func Parse(db string) (Kind, string, error) {
	switch {
	case db == "":
		return SQLite, DefaultDB, nil
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		return Postgres, db, nil
	case strings.HasPrefix(db, "sqlite:"):
		p := strings.TrimPrefix(db, "sqlite:")
		if p == "" {
			return "", "", fmt.Errorf("%w: --db sqlite: needs a path", fleet.ErrInvalid)
		}
		return SQLite, p, nil
	case strings.Contains(db, "://"):
		return "", "", fmt.Errorf("%w: --db %q: unknown scheme (want a path, sqlite:PATH or postgres://…)", fleet.ErrInvalid, redact(db))
	}
	return SQLite, db, nil
}

// redact drops a password from a URL-ish value for messages.
func redact(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if at := strings.Index(s[i+3:], "@"); at >= 0 {
			return s[:i+3] + "…@" + s[i+3+at+1:]
		}
	}
	return s
}

// Open opens (and migrates) the store a --db value names.
func Open(ctx context.Context, db string) (Store, error) {
	kind, addr, err := Parse(db)
	if err != nil {
		return nil, err
	}
	switch kind {
	case Postgres:
		return postgres.Open(ctx, addr)
	default:
		return sqlite.Open(ctx, addr)
	}
}
