package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/granaryhq/granary/internal/fleet"
	"github.com/granaryhq/granary/internal/store"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind store.Kind
		addr string
	}{
		{"", store.SQLite, "granary.db"},
		{"x.db", store.SQLite, "x.db"},
		{"/var/lib/granary/ledger.db", store.SQLite, "/var/lib/granary/ledger.db"},
		{"sqlite:x.db", store.SQLite, "x.db"},
		{"postgres://u@h:5432/db?sslmode=disable", store.Postgres, "postgres://u@h:5432/db?sslmode=disable"},
		{"postgresql://u@h/db", store.Postgres, "postgresql://u@h/db"},
	} {
		k, a, err := store.Parse(tc.in)
		if err != nil || k != tc.kind || a != tc.addr {
			t.Errorf("Parse(%q) = %s %q %v, want %s %q", tc.in, k, a, err, tc.kind, tc.addr)
		}
	}
	for _, bad := range []string{"sqlite:", "mysql://u:secret@h/db"} {
		_, _, err := store.Parse(bad)
		if !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func TestOpenSQLiteCreatesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	st, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.String() != "sqlite:"+path {
		t.Errorf("String() = %q", st.String())
	}
}
