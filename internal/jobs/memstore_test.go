package jobs_test

import (
	"testing"

	"github.com/granaryhq/granary/internal/jobs"
	"github.com/granaryhq/granary/internal/jobs/jobstest"
)

func TestMemStoreContract(t *testing.T) {
	jobstest.Run(t, func(*testing.T) jobs.Store { return jobs.NewMemStore() })
}
