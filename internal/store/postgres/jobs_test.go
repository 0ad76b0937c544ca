package postgres_test

import (
	"context"
	"testing"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/jobs/jobstest"
	"github.com/granaryhq/granary/internal/store/postgres"
	"github.com/granaryhq/granary/internal/store/storetest"
)

func TestJobsContract(t *testing.T) {
	jobstest.Run(t, func(t *testing.T) jobs.Store {
		st, err := postgres.Open(context.Background(), storetest.PostgresURL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}
