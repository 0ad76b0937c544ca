package api

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/granaryhq/granary/internal/fleet"
)

// Paging. Every list endpoint answers one page at a time: limit (1 to
// MaxPage, default DefaultPage) items, and next, an opaque cursor to pass
// as cursor for the following page, absent on the last page. There is no
// "everything" value of limit.
const (
	DefaultPage = 100
	MaxPage     = 1000
)

// PageQuery is the cursor and limit every list endpoint takes. (Exported
// so that huma sees the fields of the structs that embed it.)
type PageQuery struct {
	Cursor string `query:"cursor" maxLength:"512" doc:"The next value of the previous page; absent for the first page"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"Page size (at most 1000)"`
}

// encodeCursor makes an opaque cursor for the list named kind that resumes
// after key. The kind inside keeps a cursor from being used on another list.
func encodeCursor(kind, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + key))
}

// decodeCursor returns the key of a cursor made by encodeCursor(kind, …);
// "" for no cursor.
func decodeCursor(kind, c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	k, key, ok := strings.Cut(string(b), ":")
	if err != nil || !ok || k != kind {
		return "", &fleet.InputError{Pos: fleet.Position{Field: "cursor"},
			Msg: fmt.Sprintf("not a cursor of this list (%s): pass the next value of the previous page unchanged", kind)}
	}
	return key, nil
}

// pageOf pages a list held in memory, ordered by key: the items whose key
// sorts after the cursor's, at most in.Limit of them, and the next cursor.
// Lists that grow without bound (devices, jobs) page in the store instead.
func pageOf[T any](kind string, items []T, key func(T) string, in PageQuery) ([]T, string, error) {
	after, err := decodeCursor(kind, in.Cursor)
	if err != nil {
		return nil, "", err
	}
	items = slices.Clone(items)
	slices.SortStableFunc(items, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	start := 0
	if in.Cursor != "" {
		start, _ = slices.BinarySearchFunc(items, after, func(it T, k string) int {
			if key(it) <= k {
				return -1
			}
			return 1
		})
	}
	limit := in.Limit
	if limit <= 0 || limit > MaxPage {
		limit = DefaultPage
	}
	end := min(start+limit, len(items))
	page := items[start:end]
	if page == nil {
		page = []T{}
	}
	next := ""
	if end < len(items) {
		next = encodeCursor(kind, key(items[end-1]))
	}
	return page, next, nil
}
