package jobscmd_test

import (
	"errors"
	"testing"

	"github.com/granaryhq/granary/internal/cli/jobscmd"
	"github.com/granaryhq/granary/internal/fleet"
)

func FuzzParseJobs(f *testing.F) {
	for _, s := range []string{
		"name: a\nteam: b\nclass: c\ngang: 8\ntotal_steps: 10\n",
		"- name: a\n  team: b\n- name: c\n",
		`[{"name": "a", "gang": 2}]`,
		"! 0",
		"gang: lots\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		js, err := jobscmd.ParseJobs(data, "f.yaml")
		if err != nil && !errors.Is(err, fleet.ErrInvalid) {
			t.Fatalf("error %v is not ErrInvalid", err)
		}
		if err == nil && len(js) == 0 {
			t.Fatal("no error and no job")
		}
	})
}

func TestParseJobsErrors(t *testing.T) {
	_, err := jobscmd.ParseJobs([]byte("name: a\ngang: lots\n"), "job.yaml")
	if err == nil || !errors.Is(err, fleet.ErrInvalid) {
		t.Fatalf("got %v", err)
	}
	if got := err.Error(); got[:9] != "job.yaml:" {
		t.Errorf("error does not name the file: %q", got)
	}
	js, err := jobscmd.ParseJobs([]byte("- {name: a, team: t, class: c, gang: 2, total_steps: 5}\n- {name: b, team: t, class: c, gang: 1, duration_s: 60, reference_model: H800}\n"), "j.yaml")
	if err != nil || len(js) != 2 || js[1].ReferenceModel != "H800" || js[0].Gang != 2 {
		t.Errorf("list: %+v %v", js, err)
	}
}
