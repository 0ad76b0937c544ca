package servecmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/granaryhq/granary/internal/cli/console"
	"github.com/granaryhq/granary/internal/inventory"
	"github.com/granaryhq/granary/internal/store/sqlite"
)

// Store is an open ledger store with what the server needs besides the
// inventory.Store interface.
type Store struct {
	inventory.Store
	Name  string                      // for logs, without secrets
	Ping  func(context.Context) error // readiness
	Close func() error
}

// OpenStore opens the store that --db names: a postgres:// or
// postgresql:// URL is PostgreSQL; sqlite:PATH or a plain PATH is a SQLite
// file, created if missing. Migrations run on open.
func OpenStore(ctx context.Context, spec string) (*Store, error) {
	switch {
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		return openPostgres(ctx, spec)
	case strings.Contains(spec, "://"):
		return nil, console.Usagef("--db %q: want a file path, sqlite:PATH or postgres://…", spec)
	}
	path := strings.TrimPrefix(spec, "sqlite:")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", spec, err)
	}
	return &Store{Store: s, Name: s.String(), Ping: s.Ping, Close: s.Close}, nil
}
