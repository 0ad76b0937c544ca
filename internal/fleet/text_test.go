package fleet

import (
	"strings"
	"testing"
)

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" = accepted
	}{
		{"bj1-h800-1", ""},
		{"BI-ü-雪", ""},
		{"a/b?c#d%e", ""},
		{"", ""},
		{"a\x00b", "NUL byte"},
		{"a\xffb", "not valid UTF-8"},
		{"\xc3", "not valid UTF-8"},
		{"a\tb", "control character (U+0009)"},
		{"a\nb", "control character (U+000A)"},
		{"a\x7fb", "control character (U+007F)"},
		{"a\u0085b", "control character (U+0085)"},
		{strings.Repeat("x", 11), "longer than 10 bytes"},
	} {
		got := CheckText(tc.in, 10)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("CheckText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
