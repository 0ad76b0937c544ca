package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/jobs/jobstest"
	"github.com/granaryhq/granary/internal/store/sqlite"
)

func TestJobsContract(t *testing.T) {
	jobstest.Run(t, func(t *testing.T) jobs.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
