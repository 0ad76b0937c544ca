package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/granaryhq/granary/internal/jobs"
)

// OldJobSpecs are the specs a store's migration test inserts, as raw rows,
// into a database migrated only to version 160 (before the jobs table had
// its folded name and class columns), as job-1 and job-2.
var OldJobSpecs = []string{
	`{"name":"ÉTÉ Run","team":"x","class":"BERT-Large","gang":1}`,
	`{"name":"plain","team":"x","class":"resnet","gang":1}`,
}

// OldJobsFound checks that the jobs of OldJobSpecs are found by text search
// after the store opened (and so migrated) that database: Go migration
// 00171 (store/gomigrate.JobSearch) folded them as Go does.
func OldJobsFound(t *testing.T, st jobs.Store) {
	t.Helper()
	for text, want := range map[string][]string{"été run": {"job-1"}, "bert": {"job-1"}, "RESNET": {"job-2"}, "job-": {"job-1", "job-2"}} {
		l, err := st.Jobs(context.Background(), jobs.Filter{Text: text})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, j := range l {
			got = append(got, j.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Text %q: %v; want %v", text, got, want)
		}
	}
}
