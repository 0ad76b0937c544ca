package simcmd

import (
	"testing"

	"github.com/granaryhq/granary/internal/accel"
)

// FuzzFleetYAML: a fleet file never panics or stalls the parser, and an
// accepted fleet stays within MaxFleetDevices per model.
func FuzzFleetYAML(f *testing.F) {
	cat := accel.Default()
	for _, s := range []string{
		"models:\n  v100: 2\n  k80: 4\n",
		"nodes:\n  - {model: v100, devices: 8}\n  - {id: n2, model: k80, devices: 4}\n",
		"models: &m {v100: 1}\nnodes: [*m]\n",
		"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nmodels: {v100: *b}\n",
		"models:\n  v100: 999999999999\n",
		"nodes:\n  - {model: v100, devices: -1}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := parseFleetYAML("f.yaml", data, cat)
		if err != nil {
			return
		}
		for m, n := range spec.Devices {
			if n < 0 || n > MaxFleetDevices*MaxFleetDevices {
				t.Fatalf("accepted %q: %s × %d", data, m, n)
			}
		}
	})
}
