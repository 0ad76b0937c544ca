package apitest

import (
	"context"
	"testing"

	"github.com/granaryhq/granary/internal/store/postgres"
	"github.com/granaryhq/granary/internal/store/storetest"
)

// Postgres returns options for a server on a fresh PostgreSQL schema of the
// test server named by GRANARY_TEST_POSTGRES (see storetest.PostgresURL:
// the test is skipped when it is unset, and fails under CI=true).
func Postgres(t testing.TB) (Options, bool) {
	t.Helper()
	st, err := postgres.Open(context.Background(), storetest.PostgresURL(t))
	if err != nil {
		t.Fatalf("opening PostgreSQL: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return Options{Store: st}, true
}
