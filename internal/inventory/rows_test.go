package inventory

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/granaryhq/granary/internal/fleet"
)

// TestDeviceRowsRoundTrip: every field of every device comes back from the
// compact rows as it went in, across text chunks and row blocks, with
// label sets shared and (past maxSharedLabels) kept inline, a labels' JSON
// longer than a chunk each way, before and after finish.
func TestDeviceRowsRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var in []Device
	var labels []string
	n := 3 * maxSharedLabels / 2
	for i := range n {
		d := Device{Serial: fmt.Sprintf("S-%06d", i), Model: []string{"h20-96gb", "ascend-910c"}[i%2],
			State: fleet.DeviceStates[i%len(fleet.DeviceStates)], UpdatedAt: at}
		if i%3 == 0 {
			c := float64(i) + 0.5
			d.CostUSD = &c
			d.Node, d.Site, d.Pool = fmt.Sprintf("n%d", i/8), "site-a", "pool"
			d.Acquired = time.Date(1960+i%90, 1+time.Month(i%12), 1+i%28, 0, 0, 0, 0, time.UTC)
		}
		if i%5 == 0 {
			d.WarrantyUntil = time.Date(2030, 12, 31, 0, 0, 0, 0, time.UTC)
		}
		js := ""
		switch {
		case i == 7 || i == n-3: // long: shared even past maxSharedLabels
			js = fmt.Sprintf(`{"big%d":"%s"}`, i, strings.Repeat("x", textChunk+10))
		case i%4 != 3:
			js = fmt.Sprintf(`{"rack":"r%d"}`, i)
		}
		in, labels = append(in, d), append(labels, js)
	}
	r := newDeviceRows()
	r.updated = at
	col := func(i int) int { return 1 + i%3*70_000 } // past 65,535 it is not kept
	for i := range in {
		r.add(&in[i], labels[i], i+2, col(i))
	}
	check := func(when string) {
		if r.Len() != n {
			t.Fatalf("%s: Len %d, want %d", when, r.Len(), n)
		}
		for i := range in {
			if diff := cmp.Diff(in[i], r.Device(i), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("%s: device %d (-in +out):\n%s", when, i, diff)
			}
			if r.Labels(i) != labels[i] {
				t.Fatalf("%s: labels %d = %.40q, want %.40q", when, i, r.Labels(i), labels[i])
			}
			want := col(i)
			if want > 65_535 {
				want = 0
			}
			if line, c := r.Pos(i); line != i+2 || c != want {
				t.Fatalf("%s: pos %d = %d:%d, want %d:%d", when, i, line, c, i+2, want)
			}
		}
	}
	check("before finish")
	r.finish()
	check("after finish")
	inline := 0
	for i := range n {
		if r.at(i).flags&inlineLabels != 0 {
			inline++
		}
	}
	// Rows with i%4 != 3 have labels of their own; n-3's (and 7's) are
	// long, shared without counting against maxSharedLabels.
	if want := n*3/4 - 1 - maxSharedLabels; inline != want {
		t.Errorf("%d devices with their labels inline, want %d", inline, want)
	}
	if long := slices.IndexFunc(r.chunks, func(c string) bool { return len(c) > textChunk }); long >= 0 {
		t.Errorf("text chunk %d is %d bytes, longer than %d", long, len(r.chunks[long]), textChunk)
	}
	if s := unsafe.Sizeof(packedDevice{}); s != 48 {
		t.Errorf("a packed device is %d bytes, want 48", s)
	}
	if got := r.tally(); len(got) != 10 || got[0].Devices+got[1].Devices == 0 {
		t.Errorf("tally %v", got)
	}
	if want := Tally(in); !cmp.Equal(want, r.tally()) {
		t.Errorf("tally %v, want %v", r.tally(), want)
	}
	if got := r.sites(); !cmp.Equal(got, []string{"site-a", ""}) {
		t.Errorf("sites %q", got)
	}
}
