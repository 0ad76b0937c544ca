package fleet

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// CheckText returns why s cannot be stored as a name, label, site or
// reason, or "" when it can. Text is checked once, here, so that every
// store accepts and refuses the same strings (PostgreSQL refuses NUL bytes
// and invalid UTF-8 that SQLite would keep): it must be valid UTF-8, at
// most max bytes, and free of control characters (C0, DEL, C1 — a tab or
// newline in a label or a reason cannot be addressed on a command line or
// in a CSV cell either).
func CheckText(s string, max int) string {
	switch {
	case len(s) > max:
		return fmt.Sprintf("longer than %d bytes", max)
	case !utf8.ValidString(s):
		return fmt.Sprintf("%q is not valid UTF-8", s)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			if r == 0 {
				return fmt.Sprintf("%q has a NUL byte", s)
			}
			return fmt.Sprintf("%q has a control character (%U)", s, r)
		}
	}
	return ""
}
