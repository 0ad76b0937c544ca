package forecast

import (
	"fmt"
	"strconv"
)

// Month is a calendar month counted from year 0 (year*12 + month-1), so
// month arithmetic is integer addition. It prints as YYYY-MM.
type Month int

// NewMonth returns the month of year y, month m (1-12).
func NewMonth(y, m int) Month { return Month(y*12 + m - 1) }

// Year is the calendar year.
func (m Month) Year() int { return int(m) / 12 }

// Mon is the month of the year, 1-12.
func (m Month) Mon() int { return int(m)%12 + 1 }

func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year(), m.Mon()) }

// MarshalText writes YYYY-MM.
func (m Month) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// ParseMonth reads YYYY-MM (exactly: four digits, a dash, two digits).
func ParseMonth(s string) (Month, error) {
	if len(s) != 7 || s[4] != '-' {
		return 0, fmt.Errorf("date %q does not parse: want YYYY-MM, e.g. 2027-01", s)
	}
	y, err1 := strconv.Atoi(s[:4])
	mo, err2 := strconv.Atoi(s[5:])
	if err1 != nil || err2 != nil || s[5] == '+' || s[5] == '-' || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("date %q does not parse: want YYYY-MM, e.g. 2027-01", s)
	}
	if mo < 1 || mo > 12 {
		return 0, fmt.Errorf("date %q has month %d: want 01-12", s, mo)
	}
	if y < 1900 || y > 2200 {
		return 0, fmt.Errorf("date %q has year %d: want 1900-2200", s, y)
	}
	return NewMonth(y, mo), nil
}
