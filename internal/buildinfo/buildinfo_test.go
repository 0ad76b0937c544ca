package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestString(t *testing.T) {
	b := Info{Version: "v1.2.3", Revision: "0123456789abcdef", Time: "2026-12-06T04:00:00Z", Modified: true, Go: "go1.26.8", Platform: "linux/amd64"}
	if got, want := b.String(), "granary v1.2.3 (0123456789ab, modified, 2026-12-06T04:00:00Z) go1.26.8 linux/amd64"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFrom(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v0.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}}
	got := from(bi)
	if got.Version != "v0.4.0" || got.Revision != "abc" || got.Time != "2026-01-02T03:04:05Z" || !got.Modified || got.Go != "go1.99.1" {
		t.Errorf("%+v", got)
	}
	if got := from(nil); got.Version != "(devel)" || got.Go == "" || got.Platform == "" {
		t.Errorf("no build info: %+v", got)
	}
}
