package exportctl

// Notice is a licence requirement imposed on named products by the US
// Government rather than by the 3A090 thresholds. It is reported beside the
// band, never as one.
type Notice struct {
	ID      string   `json:"id"`
	Chips   []string `json:"-"`    // catalog ids it names
	Date    string   `json:"date"` // ISO 8601; "2025-04" when only the month is known
	Kind    string   `json:"kind"`
	Summary string   `json:"summary"`
	Source  string   `json:"source"`
}

// The notices known, by catalog chip id. Facts per
// ../shared/data/export-rules.md §8 ([V] there: the company filings).
var notices = []Notice{
	{
		ID:    "usg-is-informed-2025-04-h20",
		Chips: []string{"h20-96gb"},
		Date:  "2025-04-09",
		Kind:  "is-informed letter",
		Summary: "licence required to export to China (incl. Hong Kong and Macau) and Country Group D:5, or to entities " +
			"headquartered there or with an ultimate parent there; also covers any circuit reaching the H20's memory " +
			"bandwidth, interconnect bandwidth or a combination; on 14 Apr 2025 stated to be in effect for the " +
			"indefinite future",
		Source: "NVIDIA Form 8-K filed 15 Apr 2025",
	},
	{
		ID:      "usg-is-informed-2025-04-mi308",
		Chips:   []string{"mi308x"},
		Date:    "2025-04",
		Kind:    "is-informed letter",
		Summary: "licence required to export MI308 to China and Country Group D:5, or to entities headquartered there",
		Source:  "AMD Form 8-K (Apr 2025) and Form 10-Q (May 2025)",
	},
}

// Notices returns every known notice.
func Notices() []Notice {
	out := make([]Notice, len(notices))
	for i, n := range notices {
		n.Chips = append([]string(nil), n.Chips...)
		out[i] = n
	}
	return out
}

// NoticesFor returns the notices that name the chip id, in date order; an
// empty, non-nil slice when none.
func NoticesFor(chipID string) []Notice {
	out := []Notice{}
	for _, n := range Notices() {
		for _, id := range n.Chips {
			if id == chipID {
				out = append(out, n)
				break
			}
		}
	}
	return out
}
