package apitest

import (
	"os"
	"testing"
)

// Postgres returns options for a server on a fresh PostgreSQL database when
// GRANARY_TEST_POSTGRES is set, and false otherwise.
func Postgres(t testing.TB) (Options, bool) {
	if os.Getenv("GRANARY_TEST_POSTGRES") == "" {
		return Options{}, false
	}
	t.Skip("the PostgreSQL store is not wired into apitest yet")
	return Options{}, false
}
