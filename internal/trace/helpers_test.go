package trace

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/granaryhq/granary/internal/sharedtest"
)

func gavelAnchor(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(sharedtest.Dir(t), "anchors", "gavel", rel)
	if _, err := os.Stat(p); err != nil {
		sharedtest.Missing(t, "anchor %s absent", p)
	}
	return p
}
