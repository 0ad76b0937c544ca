package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// pageSize is what the client asks for when it follows every page of a
// list: the server's maximum (api.MaxPage).
const pageSize = 1000

// listPage is one page of a list endpoint: its items and the next cursor.
type listPage[T any] interface {
	Items() []T
	NextCursor() string
}

// allPages GETs path page after page (query plus cursor and limit) until
// the server gives no next cursor, and returns every item.
func allPages[T any, P listPage[T]](ctx context.Context, c *Client, path string, query url.Values) ([]T, error) {
	if query == nil {
		query = url.Values{}
	}
	query.Set("limit", strconv.Itoa(pageSize))
	var all []T
	seen := map[string]bool{}
	for {
		var p P
		if err := c.do(ctx, http.MethodGet, path, query, "", nil, &p); err != nil {
			return all, err
		}
		all = append(all, p.Items()...)
		n := p.NextCursor()
		if n == "" {
			return all, nil
		}
		if seen[n] {
			return all, fmt.Errorf("GET %s: the server repeated cursor %q", path, n)
		}
		seen[n] = true
		query.Set("cursor", n)
	}
}
